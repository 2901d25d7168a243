/*
 * The Service controller: a breakwater Service becomes a Deployment, a
 * ClusterIP Service and (with a route) an Ingress or a Gateway API
 * HTTPRoute (spec.route.kind; HTTPRoutes are not watched, so the operator
 * runs without their CRDs and only such a Service reports
 * GatewayAPIMissing), written with server-side apply; image rollouts are
 * followed to completion or rolled back; status and conditions say where
 * things stand. Level-triggered: everything is derived from the resource,
 * its status and the Deployment as cached, so a restart at any moment
 * converges to the same state.
 *
 * This file is the glue: it gathers the inputs from the caches, asks the
 * pure decisions of rollout.h (image bookkeeping, rollback, conditions,
 * events, stale pods and their restart back-off) what to do, and does the
 * I/O: ownership checks (ownership.h), the applies, the events and the
 * status write.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "history.h"
#include "log.h"
#include "operator.h"
#include "ownership.h"
#include "render.h"
#include "revision.h"
#include "rfc3339.h"
#include "confighash.h"
#include "rollout.h"
#include "rules.h"
#include "scaler.h"

#define MSG_MAX 512

static const char *str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static int same(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* Server-side apply of body (operator.h). */
int bw_apply(struct bw_operator_context *ctx, const struct bw_resource *res, const char *ns,
	     const char *name, const json_t *body, json_t **out, struct bw_error *err)
{
	struct bw_patch_options po = {.field_manager = BW_FIELD_MANAGER, .force = 1};

	return bw_client_patch(ctx->client, res, ns, name, NULL, BW_PATCH_APPLY, body, &po, out,
			       err);
}

/*
 * Creates ns/name by a server-side apply that cannot update: the body
 * carries metadata.resourceVersion "1", a precondition no namespaced object
 * meets (etcd's first revision went to an object written before any
 * namespace could hold one), so an object someone made since we looked is
 * refused with 409 instead of taken over, while an absent one is created
 * (the API server drops the precondition on a create). One request, where a
 * create (POST) followed by the apply and the hand-over of the create's
 * managed fields took three; the object is the apply's from the start.
 */
int bw_create_by_apply(struct bw_operator_context *ctx, const struct bw_resource *res,
		       const char *ns, const char *name, json_t *body, json_t **out,
		       struct bw_error *err)
{
	json_t *meta = json_object_get(body, "metadata");
	int ret;

	json_object_set_new(meta, "resourceVersion", json_string("1"));
	ret = bw_apply(ctx, res, ns, name, body, out, err);
	json_object_del(meta, "resourceVersion");
	return ret;
}

/* spec.route.kind HTTPRoute while the Gateway API is not installed: the
 * Ready condition's reason and message; the Service looks again this often
 * (the CRDs are not watched either). */
#define ROUTE_API_MISSING "GatewayAPIMissing"
#define ROUTE_API_MISSING_MSG                                                              \
	"spec.route.kind is HTTPRoute but the API server does not serve "                  \
	"gateway.networking.k8s.io/v1 httproutes: install the Gateway API CRD "            \
	"httproutes.gateway.networking.k8s.io (standard channel) or set spec.route.kind: " \
	"Ingress"
#define ROUTE_API_RECHECK_MS 30000

/* While a Service is in an ownership conflict it looks again this often:
 * the foreign object is not watched (see ownership_of()), so nothing else
 * tells us when it is gone. */
#define CONFLICT_RECHECK_MS 10000

/* One object the controller writes for a Service, and what is known of it. */
struct owned {
	const struct bw_resource *res;
	enum bw_ownership state;
	char uid[64];  /* the existing object's metadata.uid */
	json_t *live;  /* the object as read by ownership_of(), or NULL */
	int presumed;  /* absent by the caches, not read: see write_presumed() */
	int created;   /* made by this reconcile */
	int unchanged; /* as this process applied it moments ago: neither read
			  nor written (bw_applied_part_fresh()) */
};

/*
 * Reads ns/name of o->res and decides whether it is ours (ownership.h);
 * why gets the conflict's sentence. A GET, not a cache: the controller
 * watches only the Deployments and Ingresses it labels, and no core
 * Services at all, so an unrelated object of the same name is in no cache.
 * The GET comes only when something is to be written (apply_owned() is
 * skipped when nothing changed), so it costs one request per object in the
 * rare reconcile that writes.
 */
static int ownership_of(struct bw_operator_context *ctx, struct owned *o, const char *ns,
			const char *name, const char *owner_uid, char *why, size_t size,
			struct bw_error *err)
{
	json_t *obj = NULL;
	int ret = bw_client_get(ctx->client, o->res, ns, name, NULL, &obj, err);

	o->uid[0] = '\0';
	if (ret == BW_ENOTFOUND) {
		o->state = BW_OWNERSHIP_ABSENT;
		return 0;
	}
	if (ret != 0) {
		bw_error_prefix(err, "%s %s/%s", o->res->kind, ns, name);
		return ret;
	}
	o->state = bw_ownership_decide(obj, o->res->kind, owner_uid, why, size);
	snprintf(o->uid, sizeof(o->uid), "%s",
		 str(json_object_get(obj, "metadata"), "uid")
		     ? str(json_object_get(obj, "metadata"), "uid")
		     : "");
	json_decref(o->live);
	o->live = obj; /* for write_owned(): maybe nothing to write */
	return 0;
}

/* Our create left a managedFields entry (manager breakwater, operation
 * Update) owning every field we set; the apply that follows co-owns them.
 * Without this, a field we later stop setting (a removed env variable or
 * health check) would stay, still owned by that entry. The entry is removed
 * by a JSON patch that tests it is still the one at that index. */
static void hand_over(struct bw_operator_context *ctx, const struct bw_resource *res,
		      const char *ns, const char *name, const json_t *obj)
{
	const json_t *meta = json_object_get(obj, "metadata"), *e;
	struct bw_patch_options po = {.field_manager = BW_FIELD_MANAGER};
	struct bw_error err;
	json_t *patch;
	char path[64];
	size_t i;

	json_array_foreach(json_object_get(meta, "managedFields"), i, e)
	{
		if (!same(str(e, "manager"), BW_FIELD_MANAGER) ||
		    !same(str(e, "operation"), "Update") || json_object_get(e, "subresource"))
			continue;
		snprintf(path, sizeof(path), "/metadata/managedFields/%zu", i);
		patch = json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:O}, {s:s, s:s}]", "op", "test",
				  "path", "/metadata/uid", "value",
				  str(meta, "uid") ? str(meta, "uid") : "", "op", "test", "path",
				  path, "value", e, "op", "remove", "path", path);
		if (patch && bw_client_patch(ctx->client, res, ns, name, NULL, BW_PATCH_JSON, patch,
					     &po, NULL, &err) != 0)
			bw_log_debug("service",
				     "%s %s/%s: managed fields of the create not handed "
				     "over (%s); next apply tries again",
				     res->kind, ns, name, err.message);
		json_decref(patch);
		return;
	}
}

/*
 * Writes one object that is ours or absent. Absent: a server-side apply that
 * can only create (bw_create_by_apply()), refused instead of taking over an
 * object someone made since we looked. Ours: a server-side apply with force
 * that carries the object's metadata.uid, which the API server refuses
 * (metadata.uid is immutable) if the name now holds another object.
 */
static int write_owned(struct bw_operator_context *ctx, struct owned *o, const char *ns,
		       const char *name, json_t *body, json_t **out, struct bw_error *err)
{
	json_t *meta = json_object_get(body, "metadata"), *created = NULL, *applied = NULL;
	int ret = 0;

	if (o->unchanged)
		return 0;
	if (o->state == BW_OWNERSHIP_OWNED && o->live) {
		char at[256];

		if (bw_applied_covers_at(o->live, body, at, sizeof(at))) {
			/* read just now and already as it would be applied (its
			 * digest annotation included, applied.h): an apply would
			 * change nothing */
			hand_over(ctx, o->res, ns, name, o->live);
			if (out)
				*out = json_incref(o->live);
			return 0;
		}
		bw_log_debug("service", "%s %s/%s differs from what is applied at %s", o->res->kind,
			     ns, name, at);
	}
	if (o->state == BW_OWNERSHIP_ABSENT) {
		ret = bw_create_by_apply(ctx, o->res, ns, name, body, &created, err);
		if (ret == BW_ECONFLICT) {
			ret = bw_error_set(err, BW_ECONFLICT,
					   "%s %s/%s was created by someone else meanwhile; "
					   "looking again",
					   o->res->kind, ns, name);
			goto out;
		}
		if (ret != 0)
			goto out;
		snprintf(o->uid, sizeof(o->uid), "%s",
			 str(json_object_get(created, "metadata"), "uid")
			     ? str(json_object_get(created, "metadata"), "uid")
			     : "");
		o->state = BW_OWNERSHIP_OWNED;
		o->created = 1;
		if (out) {
			*out = created;
			created = NULL;
		}
		goto out; /* made by the apply: no create entry to hand over */
	}
	if (o->state != BW_OWNERSHIP_OWNED || !o->uid[0]) {
		ret = bw_error_set(err, BW_EINVAL, "%s %s/%s: not ours to write", o->res->kind, ns,
				   name);
		goto out;
	}
	json_object_set_new(meta, "uid", json_string(o->uid));
	ret = bw_apply(ctx, o->res, ns, name, body, &applied, err);
	json_object_del(meta, "uid");
	if (ret == BW_EHTTP && strstr(err->message, "metadata.uid")) {
		ret = bw_error_set(err, BW_ECONFLICT,
				   "%s %s/%s was replaced by another object; looking again",
				   o->res->kind, ns, name);
		goto out;
	}
	if (ret == 0) /* after our create, or once a failed hand-over is retried */
		hand_over(ctx, o->res, ns, name, applied);
	if (ret == 0 && out) {
		*out = applied;
		applied = NULL;
	}
out:
	json_decref(created);
	json_decref(applied);
	return ret;
}

/*
 * write_owned() of an object presumed absent without a GET: a Service none
 * of whose objects is cached (its Deployment, which the informer would
 * show, is not there) is almost always new, and its Deployment and core
 * Service are written by an apply that can only create. When one exists
 * after all (someone's, or ours while the cache missed it), that apply is
 * refused (409) and the object is read and decided as if it had been read
 * first: someone else's is left alone (*conflict holds the sentence, and 0
 * is returned), ours is written as usual. Two GETs (404) fewer per Service
 * created.
 */
static int write_presumed(struct bw_operator_context *ctx, struct owned *o, const char *ns,
			  const char *name, const char *owner_uid, json_t *body, json_t **out,
			  char *conflict, size_t size, struct bw_error *err)
{
	int ret = write_owned(ctx, o, ns, name, body, out, err);

	if (ret != BW_ECONFLICT || !o->presumed)
		return ret;
	o->presumed = 0;
	if ((ret = ownership_of(ctx, o, ns, name, owner_uid, conflict, size, err)) != 0)
		return ret;
	if (o->state == BW_OWNERSHIP_FOREIGN)
		return 0;
	conflict[0] = '\0';
	return write_owned(ctx, o, ns, name, body, out, err);
}

/* What the rules that need other Services say (rules.h). */
struct cross_view {
	char route_holder[600]; /* "namespace/name" of the Service holding our route, or "" */
	char missing[MSG_MAX];	/* the dependsOn names with no Service, "a, b", or "" */
	size_t dependencies;	/* how many dependsOn names there are */
};

/* What the rules need of the other Services: their views, projected in
 * the cache (items holds the references), of those of any namespace whose
 * route has svc's pathPrefix, and of those its dependsOn names (looked up
 * by name). Not every Service of the namespace: this runs on every
 * reconcile. */
struct peers {
	const struct bw_service_view **views;
	const void **items; /* what to put: the dependencies got by name */
	size_t n, n_items, cap;
	struct bw_store_items listed; /* the route candidates' references */
};

static int peers_add(struct peers *p, const struct bw_cached_service *o, int got)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 16;
		const struct bw_service_view **v = realloc(p->views, cap * sizeof(*v));
		const void **items;

		if (!v)
			return -1;
		p->views = v;
		items = realloc(p->items, cap * sizeof(*items));
		if (!items)
			return -1;
		p->items = items;
		p->cap = cap;
	}
	p->views[p->n++] = &o->view;
	if (got)
		p->items[p->n_items++] = o;
	return 0;
}

static void peers_release(struct peers *p)
{
	for (size_t i = 0; i < p->n_items; i++)
		bw_store_item_put(p->items[i]);
	bw_store_items_release(&p->listed);
	free(p->views);
	free(p->items);
}

static int peers_of(struct bw_operator_context *ctx, const struct bw_service_view *svc,
		    struct peers *p)
{
	int bad = 0;
	size_t i;

	if (svc->route_path && bw_store_list(ctx->caches.services, NULL, &p->listed, NULL) == 0) {
		for (i = 0; !bad && i < p->listed.count; i++)
			if (bw_service_may_hold_route(ctx->caches.namespaces, p->listed.v[i],
						      svc->route_path))
				bad = peers_add(p, p->listed.v[i], 0) != 0;
	}
	for (i = 0; !bad && i < svc->n_depends_on; i++) {
		const struct bw_cached_service *o =
		    svc->depends_on[i] ? bw_store_get(ctx->caches.services, svc->ns ? svc->ns : "",
						      svc->depends_on[i])
				       : NULL;

		if (o && (bad = peers_add(p, o, 1) != 0))
			bw_store_item_put(o);
	}
	return bad ? BW_ENOMEM : 0;
}

static int cross_checks(struct bw_operator_context *ctx, const json_t *svc, struct cross_view *x)
{
	struct bw_service_view view;
	struct peers peers = {0};
	json_t *missing = json_array(), *m;
	const struct bw_service_view *holder;
	size_t i, len = 0;
	int ret = 0;

	if (bw_service_view_read(svc, &view) != 0) {
		json_decref(missing);
		return BW_ENOMEM;
	}
	if (!missing || (ret = peers_of(ctx, &view, &peers)) != 0) {
		ret = BW_ENOMEM;
		goto out;
	}
	holder = bw_rules_route_holder(&view, peers.views, peers.n, 1);
	if (holder)
		snprintf(x->route_holder, sizeof(x->route_holder), "%.63s/%.253s",
			 holder->ns ? holder->ns : "", holder->name ? holder->name : "");
	x->dependencies =
	    json_array_size(json_object_get(json_object_get(svc, "spec"), "dependsOn"));
	if (bw_rules_missing_dependencies(&view, peers.views, peers.n, missing) != 0) {
		ret = BW_ENOMEM;
		goto out;
	}
	json_array_foreach(missing, i, m)
	{
		if (len + 1 < sizeof(x->missing))
			len += (size_t)snprintf(x->missing + len, sizeof(x->missing) - len, "%s%s",
						i ? ", " : "", json_string_value(m));
	}
out:
	peers_release(&peers);
	bw_service_view_release(&view);
	json_decref(missing);
	return ret;
}

static void event(struct bw_operator_context *ctx, const json_t *svc, const char *type,
		  const char *reason, const char *msg)
{
	const json_t *meta = json_object_get(svc, "metadata");
	struct bw_event_ref ref = {
	    .api_version = BW_API_VERSION,
	    .kind = BW_KIND_SERVICE,
	    .namespace = str(meta, "namespace"),
	    .name = str(meta, "name"),
	    .uid = str(meta, "uid"),
	};

	if (ctx->recorder)
		bw_recorder_event(ctx->recorder, &ref, type, reason, "%s", msg);
}

/* Seconds since the epoch of an RFC 3339 time ("2026-11-26T19:00:00Z"), or -1. */
static long long parse_utc(const char *s)
{
	long long sec;

	return s && bw_rfc3339_parse(s, &sec, NULL, NULL) == 0 ? sec : -1;
}

static void now_utc(char *buf, size_t size)
{
	bw_rfc3339_now(buf, size, 0);
}

/* SHA-256 of the objects to apply (Deployment, Service, Ingress, HTTPRoute;
 * NULL for one not wanted), each serialised with sorted keys (md: all
 * together, the Deployment's annotation and the memo's), and of each alone
 * (part: the annotation of the Service, the Ingress and the HTTPRoute, so
 * that one can be found unchanged while another changes). */
static int digest_owned(const json_t *const parts[BW_APPLIED_PARTS],
			unsigned char md[BW_APPLIED_DIGEST_LEN],
			unsigned char part[BW_APPLIED_PARTS][BW_APPLIED_DIGEST_LEN])
{
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	int ok = h && EVP_DigestInit_ex(h, EVP_sha256(), NULL);

	for (int i = 0; i < BW_APPLIED_PARTS && ok; i++) {
		char *text = parts[i] ? json_dumps(parts[i], JSON_SORT_KEYS | JSON_COMPACT) : NULL;
		size_t len = text ? strlen(text) : 0;

		ok = (!parts[i] || text) && EVP_DigestUpdate(h, text ? text : "", len) &&
		     EVP_DigestUpdate(h, "", 1) &&
		     EVP_Digest(text ? text : "", len, part[i], NULL, EVP_sha256(), NULL);
		free(text);
	}
	ok = ok && EVP_DigestFinal_ex(h, md, NULL);
	EVP_MD_CTX_free(h);
	return ok ? 0 : BW_ENOMEM;
}

/* Sets obj's annotation breakwater.io/applied to the digest as hex. */
static void annotate_applied(json_t *obj, const unsigned char digest[BW_APPLIED_DIGEST_LEN])
{
	json_t *meta = json_object_get(obj, "metadata");
	char hex[BW_APPLIED_HEX_LEN + 1];

	bw_applied_hex(digest, hex);
	if (!json_object_get(meta, "annotations"))
		json_object_set_new(meta, "annotations", json_object());
	json_object_set_new(json_object_get(meta, "annotations"), BW_ANNOTATION_APPLIED,
			    json_string(hex));
}

/* Whether the cached Deployment d has what the rendered one asks for in
 * the fields someone else is likely to change: the app image, replicas,
 * paused, the restart annotation of the template and the revision. */
static int cache_matches(const struct bw_cached_deployment *d, const json_t *deployment)
{
	const json_t *spec = json_object_get(deployment, "spec");
	const json_t *tmpl = json_object_get(spec, "template");
	const char *restarted =
	    str(json_object_get(json_object_get(tmpl, "metadata"), "annotations"),
		BW_ANNOTATION_RESTARTED_AT);
	const char *revision =
	    str(json_object_get(json_object_get(deployment, "metadata"), "annotations"),
		BW_ANNOTATION_REVISION);
	const json_t *c;
	const char *image = NULL;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(tmpl, "spec"), "containers"), i, c)
	{
		if (same(str(c, "name"), BW_APP_CONTAINER))
			image = str(c, "image");
	}
	return same(d->image, image) &&
	       d->spec_replicas == (long)json_integer_value(json_object_get(spec, "replicas")) &&
	       d->paused == json_is_true(json_object_get(spec, "paused")) &&
	       strcmp(d->restarted_at, restarted ? restarted : "") == 0 &&
	       strcmp(d->revision, revision ? revision : "") == 0;
}

/*
 * Reads whether our HTTPRoute ns/name exists. HTTPRoutes are not watched:
 * the Gateway API CRDs may be absent, and an informer on them would fail
 * and retry for as long as they are. So a GET, on the rare reconcile that
 * writes. When no HTTPRoute is wanted, a failed GET (the RBAC of an older
 * install) counts as "none": only a Service that asks for one is affected.
 */
static int httproute_of(struct bw_operator_context *ctx, struct owned *o, int wanted,
			const char *ns, const char *name, const char *owner_uid, char *why,
			size_t size, struct bw_error *err)
{
	int ret = ownership_of(ctx, o, ns, name, owner_uid, why, size, err);

	if (ret != 0 && !wanted) {
		bw_log_debug("service", "%s/%s: HTTPRoute not read (%s); none wanted", ns, name,
			     err->message);
		o->state = BW_OWNERSHIP_ABSENT;
		ret = 0;
	}
	return ret;
}

/*
 * Whether our HTTPRoute may exist, so that httproute_of() must read it: one
 * is wanted, or the spec asked for one once. It cannot have when the spec
 * never changed (generation 1) and asks for none, nor when the memo holds
 * what is applied now (BW_APPLIED_DUE: applied, and any old HTTPRoute
 * deleted, with no HTTPRoute in the digest). So a Service with an Ingress
 * or no route costs no GET on httproutes when created or resynced.
 */
static int httproute_maybe(const json_t *svc, int wanted, enum bw_applied_state memo)
{
	const json_t *route = json_object_get(json_object_get(svc, "spec"), "route");
	const char *kind = str(route, "kind");
	json_int_t generation =
	    json_integer_value(json_object_get(json_object_get(svc, "metadata"), "generation"));

	if (wanted || (kind && strcmp(kind, "HTTPRoute") == 0))
		return 1;
	return !(memo == BW_APPLIED_DUE || generation == 1);
}

/*
 * Writes the Deployment, Service and the route's object, an Ingress or an
 * HTTPRoute (and deletes our Ingress or HTTPRoute when no longer wanted:
 * the route was removed, its kind switched, or another Service holds it),
 * unless exactly these were applied last time and nothing has changed them
 * since (applied.h). Nothing is written when any of them exists and is not
 * ours: conflict (size bytes) then names it and 0 is returned. When the
 * HTTPRoute API is not served (the Gateway API CRDs are not installed),
 * *route_api_missing is set and 0 returned, the rest written.
 */
static int apply_owned(struct bw_operator_context *ctx, const json_t *svc, const char *key,
		       const struct bw_cached_deployment *d, const char *image,
		       const char *restarted_at, const char *revision, int withhold_ingress,
		       char *conflict, size_t size, int *route_api_missing, struct bw_error *err)
{
	json_t *deployment = NULL, *service = NULL, *ingress = NULL, *applied = NULL;
	json_t *httproute = NULL;
	const json_t *meta = json_object_get(svc, "metadata");
	const char *ns = str(meta, "namespace"), *name = str(meta, "name"), *uid = str(meta, "uid");
	struct owned objs[4] = {{.res = &bw_res_deployments},
				{.res = &bw_res_services},
				{.res = &bw_res_ingresses},
				{.res = &bw_res_httproutes}};
	const void *had_ingress = NULL;
	const json_t *wanted[BW_APPLIED_PARTS]; /* what to apply of each; NULL: none */
	unsigned char md[BW_APPLIED_DIGEST_LEN], part[BW_APPLIED_PARTS][BW_APPLIED_DIGEST_LEN];
	char hex[BW_APPLIED_HEX_LEN + 1];
	enum bw_applied_state memo = BW_APPLIED_NEW;
	int have_digest, ret, i;

	conflict[0] = '\0';
	*route_api_missing = 0;
	if ((ret = bw_render_deployment(svc, image, &deployment, err)) != 0 ||
	    (ret = bw_render_service(svc, &service, err)) != 0 ||
	    (ret = bw_render_ingress(svc, &ingress, err)) != 0 ||
	    (ret = bw_render_httproute(svc, &httproute, err)) != 0)
		goto out;
	if (withhold_ingress) { /* another Service holds the route, of either kind */
		json_decref(ingress);
		ingress = NULL;
		json_decref(httproute);
		httproute = NULL;
	}
	if (restarted_at) {
		/* as `kubectl rollout restart` does: a template change makes new pods */
		json_t *tmeta = json_object_get(
		    json_object_get(json_object_get(deployment, "spec"), "template"), "metadata");

		if (!json_object_get(tmeta, "annotations"))
			json_object_set_new(tmeta, "annotations", json_object());
		json_object_set_new(json_object_get(tmeta, "annotations"),
				    BW_ANNOTATION_RESTARTED_AT, json_string(restarted_at));
	}
	if (revision) {
		/* on the Deployment, not its template: what it runs, for the
		 * decisions; a new revision changes the template anyway */
		json_t *dmeta = json_object_get(deployment, "metadata");

		if (!json_object_get(dmeta, "annotations"))
			json_object_set_new(dmeta, "annotations", json_object());
		json_object_set_new(json_object_get(dmeta, "annotations"), BW_ANNOTATION_REVISION,
				    json_string(revision));
	}
	had_ingress = bw_store_get(ctx->caches.ingresses, ns, name);
	wanted[0] = deployment;
	wanted[1] = service;
	wanted[2] = ingress;
	wanted[3] = httproute;
	have_digest = digest_owned(wanted, md, part) == 0;
	/* the memo speaks of a Deployment we control only (applied.h): one
	 * someone else made since starts at generation 1 again */
	if (have_digest && d && uid && same(d->owner_uid, uid) && !ingress == !had_ingress) {
		bw_applied_hex(md, hex);
		memo = bw_applied_state(ctx->applied, key, md, d->generation, time(NULL),
					ctx->resync_s);
		if (memo == BW_APPLIED_FRESH)
			goto out; /* applied already, and the Deployment's spec untouched since */
		if (!bw_applied_known(ctx->applied, key) && same(d->applied, hex) &&
		    cache_matches(d, deployment) && !httproute) {
			/* applied by an earlier process (applied.h): a restart writes nothing;
			 * but for an HTTPRoute, which no cache shows (it may never have been
			 * made: the Gateway API was missing), it applies once. The digest
			 * covers every object, so each was applied as it is rendered now:
			 * recorded as such, an image edit after the restart writes the
			 * Deployment without reading the others first (two GETs before
			 * the write), trusting them until the resync age as the restart
			 * itself does */
			(void)bw_applied_record(ctx->applied, key, md,
						(const unsigned char(*)[BW_APPLIED_DIGEST_LEN])part,
						d->generation, time(NULL));
			goto out;
		}
	}
	if (have_digest) { /* after the digest, which it must not be part of */
		annotate_applied(deployment, md);
		annotate_applied(service, part[1]);
		if (ingress)
			annotate_applied(ingress, part[2]);
		if (httproute)
			annotate_applied(httproute, part[3]);
	}

	/* Whose are they? All three are known before anything is written, so a
	 * conflict on one leaves the others as they were too. Each one read
	 * here is written only if it differs from what would be applied
	 * (write_owned()): a resync (BW_APPLIED_DUE, the same as applied last,
	 * but long ago) reads the Deployment too, and writes only what drifted. */
	if (!d && !json_object_get(svc, "status")) {
		/* never reconciled to a status, nothing cached: presumed new, not
		 * read (write_presumed()); once in a conflict, the status says so
		 * and each look reads first */
		objs[0].state = objs[1].state = BW_OWNERSHIP_ABSENT;
		objs[0].presumed = objs[1].presumed = 1;
	} else if (d && memo != BW_APPLIED_DUE && uid && same(d->owner_uid, uid) && *d->uid) {
		objs[0].state = BW_OWNERSHIP_OWNED; /* the cache says so: no GET */
		snprintf(objs[0].uid, sizeof(objs[0].uid), "%s", d->uid);
	} else if ((ret = ownership_of(ctx, &objs[0], ns, name, uid, conflict, size, err)) != 0) {
		goto out;
	}
	/* what an image edit leaves as it was: the objects besides the
	 * Deployment, applied as they would be now by this process moments
	 * ago, are neither read nor written (applied.h); at the resync age
	 * (BW_APPLIED_DUE) they are read like the rest */
	for (i = 1;
	     i < BW_APPLIED_PARTS && have_digest && !objs[0].presumed && memo != BW_APPLIED_DUE;
	     i++)
		if (bw_applied_part_fresh(ctx->applied, key, i, part[i], time(NULL),
					  ctx->resync_s)) {
			/* absent then and now (made sure then): nothing to delete */
			objs[i].unchanged = 1;
			objs[i].state = wanted[i] ? BW_OWNERSHIP_OWNED : BW_OWNERSHIP_ABSENT;
		}
	if (objs[0].state != BW_OWNERSHIP_FOREIGN && !objs[1].presumed && !objs[1].unchanged &&
	    (ret = ownership_of(ctx, &objs[1], ns, name, uid, conflict, size, err)) != 0)
		goto out;
	if (objs[0].state != BW_OWNERSHIP_FOREIGN && objs[1].state != BW_OWNERSHIP_FOREIGN &&
	    (ingress || had_ingress) && !objs[2].unchanged &&
	    (ret = ownership_of(ctx, &objs[2], ns, name, uid, conflict, size, err)) != 0)
		goto out;
	if (objs[0].state != BW_OWNERSHIP_FOREIGN && objs[1].state != BW_OWNERSHIP_FOREIGN &&
	    !(ingress && objs[2].state == BW_OWNERSHIP_FOREIGN) && !objs[3].unchanged &&
	    httproute_maybe(svc, httproute != NULL, memo) &&
	    (ret = httproute_of(ctx, &objs[3], httproute != NULL, ns, name, uid, conflict, size,
				err)) != 0)
		goto out;
	if (objs[0].state == BW_OWNERSHIP_FOREIGN || objs[1].state == BW_OWNERSHIP_FOREIGN ||
	    (ingress && objs[2].state == BW_OWNERSHIP_FOREIGN) ||
	    (httproute && objs[3].state == BW_OWNERSHIP_FOREIGN))
		goto out;   /* conflict holds the sentence */
	conflict[0] = '\0'; /* a foreign Ingress or HTTPRoute we do not want is no conflict */

	if (objs[0].presumed) {
		/* the core Service first: made in vain (the Deployment's name is
		 * taken after all), it is deleted again, and it made no pods */
		if ((ret = write_presumed(ctx, &objs[1], ns, name, uid, service, NULL, conflict,
					  size, err)) != 0) {
			bw_error_prefix(err, "Service %s/%s", ns, name);
			goto out;
		}
		if (objs[1].state == BW_OWNERSHIP_FOREIGN)
			goto out; /* conflict holds the sentence */
		if ((ret = write_presumed(ctx, &objs[0], ns, name, uid, deployment, &applied,
					  conflict, size, err)) != 0) {
			bw_error_prefix(err, "Deployment %s/%s", ns, name);
			goto out;
		}
		if (objs[0].state == BW_OWNERSHIP_FOREIGN) {
			if (objs[1].created) {
				struct bw_delete_options dopt = {.precondition_uid = objs[1].uid};
				struct bw_error derr;

				if (bw_client_delete(ctx->client, &bw_res_services, ns, name, &dopt,
						     &derr) != 0)
					bw_log_warn("service",
						    "%s: Service %s/%s made before the conflict "
						    "was found stays: %s",
						    key, ns, name, derr.message);
			}
			goto out; /* conflict holds the sentence */
		}
	} else {
		if ((ret = write_owned(ctx, &objs[0], ns, name, deployment, &applied, err)) != 0) {
			bw_error_prefix(err, "Deployment %s/%s", ns, name);
			goto out;
		}
		if ((ret = write_owned(ctx, &objs[1], ns, name, service, NULL, err)) != 0) {
			bw_error_prefix(err, "Service %s/%s", ns, name);
			goto out;
		}
	}
	if (ingress) {
		ret = write_owned(ctx, &objs[2], ns, name, ingress, NULL, err);
		if (ret != 0)
			bw_error_prefix(err, "Ingress %s/%s", ns, name);
	} else if (objs[2].state == BW_OWNERSHIP_OWNED) {
		/* the route was removed or is held by another Service; only our
		 * own Ingress goes, and only that very object (its uid) */
		struct bw_delete_options dopt = {.precondition_uid = objs[2].uid};

		ret = bw_client_delete(ctx->client, &bw_res_ingresses, ns, name, &dopt, err);
		if (ret == BW_ENOTFOUND || ret == BW_ECONFLICT)
			ret = 0; /* gone, or replaced by an object that is not ours */
	}
	if (ret == 0 && httproute) {
		ret = write_owned(ctx, &objs[3], ns, name, httproute, NULL, err);
		if (ret == BW_ENOTFOUND) {
			/* the create's 404: no such resource, the CRD is not installed */
			*route_api_missing = 1;
			ret = 0;
			goto out; /* not recorded: tried again on the next look */
		}
		if (ret != 0)
			bw_error_prefix(err, "HTTPRoute %s/%s", ns, name);
	} else if (ret == 0 && objs[3].state == BW_OWNERSHIP_OWNED) {
		/* the kind switched to Ingress, or the route is gone or held */
		struct bw_delete_options dopt = {.precondition_uid = objs[3].uid};

		ret = bw_client_delete(ctx->client, &bw_res_httproutes, ns, name, &dopt, err);
		if (ret == BW_ENOTFOUND || ret == BW_ECONFLICT)
			ret = 0;
	}
	if (ret == 0 && have_digest) /* a failed record only costs an apply next time */
		(void)bw_applied_record(ctx->applied, key, md,
					(const unsigned char(*)[BW_APPLIED_DIGEST_LEN])part,
					(long)json_integer_value(json_object_get(
					    json_object_get(applied, "metadata"), "generation")),
					time(NULL));
out:
	for (i = 0; i < 4; i++)
		json_decref(objs[i].live);
	bw_store_item_put(had_ingress);
	json_decref(applied);
	json_decref(deployment);
	json_decref(service);
	json_decref(ingress);
	json_decref(httproute);
	return ret;
}

/* The reason of the Ready condition in status, or NULL. */
static const char *ready_reason(const json_t *status)
{
	const json_t *c;
	size_t i;

	json_array_foreach(json_object_get(status, "conditions"), i, c)
	{
		if (same(str(c, "type"), "Ready"))
			return str(c, "reason");
	}
	return NULL;
}

/* Writes a status that keeps the last one but for the conditions of
 * bw_rollout_blocked (Ready False and Stalled True with reason and msg): the
 * controller could not do its work (nothing about the rollout is known anew)
 * and will not until someone changes something. */
static int status_not_ready(struct bw_operator_context *ctx, const json_t *svc, const char *reason,
			    const char *msg, long generation)
{
	const json_t *old_status = json_object_get(svc, "status");
	json_t *status = old_status ? json_deep_copy(old_status) : json_object();
	json_t *conds = json_deep_copy(json_object_get(status, "conditions"));
	struct bw_rollout_condition *c; /* 18 KiB of messages: not on the stack */
	size_t n;
	int ret;

	if (!json_is_array(conds)) {
		json_decref(conds);
		conds = json_array();
	}
	c = malloc(3 * sizeof(*c));
	if (!c) {
		json_decref(conds);
		json_decref(status);
		return BW_ENOMEM;
	}
	n = bw_rollout_blocked(reason, msg, c);
	for (size_t i = 0; i < n; i++)
		bw_condition_set(conds, json_object_get(old_status, "conditions"), c[i].type,
				 c[i].status, c[i].reason, c[i].message, generation);
	free(c);
	json_object_set_new(status, "conditions", conds);
	json_object_set_new(status, "observedGeneration", json_integer(generation));
	ret = bw_status_update(ctx, &bw_res_bw_services, svc, status, NULL);
	json_decref(status);
	return ret;
}

/* A time of an object: its text and seconds (parse_utc). */
static struct bw_rollout_time time_of(const char *text)
{
	struct bw_rollout_time t = {.text = text && *text ? text : NULL, .secs = -1};

	if (t.text)
		t.secs = parse_utc(t.text);
	return t;
}

/* The decisions' view of the Service svc (rollout.h). */
static void service_input(const json_t *svc, struct bw_rollout_service *in)
{
	const json_t *meta = json_object_get(svc, "metadata"), *spec = json_object_get(svc, "spec");
	const json_t *status = json_object_get(svc, "status");
	const json_t *rollout = json_object_get(spec, "rollout"), *route;
	const json_t *mu = json_object_get(rollout, "maxUnavailable");

	in->generation = (long)json_integer_value(json_object_get(meta, "generation"));
	in->image = str(spec, "image");
	in->replicas = json_object_get(spec, "replicas")
			   ? (long)json_integer_value(json_object_get(spec, "replicas"))
			   : 1;
	in->paused = json_is_true(json_object_get(spec, "paused"));
	in->progress_deadline_s =
	    (long)json_integer_value(json_object_get(rollout, "progressDeadlineSeconds"));
	in->auto_rollback = !json_is_false(json_object_get(rollout, "autoRollback"));
	if (json_is_integer(mu))
		in->max_unavailable.value = (long)json_integer_value(mu);
	else if (json_string_value(mu) && strchr(json_string_value(mu), '%'))
		in->max_unavailable = (struct bw_rollout_amount){atol(json_string_value(mu)), 1};
	route = json_object_get(spec, "route");
	in->route_prefix = str(route, "pathPrefix");
	in->route_host = str(route, "host");
	in->status_image = str(status, "image");
	in->status_revision = str(status, "currentRevision");
	in->failed_revision = str(status, "failedRevision");
	in->last_good = str(status, "lastGoodImage");
	in->failed = str(status, "failedImage");
	in->ready_reason = ready_reason(status);
}

static void deployment_input(const struct bw_cached_deployment *d, struct bw_rollout_deployment *in)
{
	*in = (struct bw_rollout_deployment){
	    .generation = d->generation,
	    .observed_generation = d->observed_generation,
	    .spec_replicas = d->spec_replicas,
	    .replicas = d->replicas,
	    .updated = d->updated,
	    .ready = d->ready,
	    .available = d->available,
	    .image = d->image,
	    .progressing = d->progressing,
	    .restarted_at = time_of(d->restarted_at),
	    .revision = d->revision && *d->revision ? d->revision : NULL,
	};
}

static void emit(struct bw_operator_context *ctx, const json_t *svc,
		 const struct bw_rollout_event *events, size_t n)
{
	for (size_t i = 0; i < n; i++)
		event(ctx, svc, events[i].type, events[i].reason, events[i].message);
}

/* The status the decisions ask for, with svc's selector, url and routeURL
 * (none while another Service holds the route; lb_address is our cached
 * Ingress's address), and the conditions' transition times kept from
 * old_conditions where unchanged. */
static json_t *status_of(const json_t *svc, const struct bw_rollout_decision *r,
			 const struct bw_repair_decision *p, const json_t *old_conditions,
			 const char *lb_address)
{
	json_t *status = bw_rollout_status_json(r, p), *conds = json_array();
	char buf[BW_RENDER_ROUTE_URL_MAX];

	if (bw_render_selector(svc, buf, sizeof(buf), NULL) == 0)
		json_object_set_new(status, "selector", json_string(buf));
	if (bw_render_url(svc, buf, sizeof(buf), NULL) == 0)
		json_object_set_new(status, "url", json_string(buf));
	if (!r->withhold_ingress &&
	    bw_render_route_url(svc, lb_address, buf, sizeof(buf), NULL) == 0 && buf[0])
		json_object_set_new(status, "routeURL", json_string(buf));
	for (size_t i = 0; i < r->n_conditions; i++)
		bw_condition_set(conds, old_conditions, r->conditions[i].type,
				 r->conditions[i].status, r->conditions[i].reason,
				 r->conditions[i].message, r->observed_generation);
	json_object_set_new(status, "conditions", conds);
	return status;
}

/* --- config rollouts (model/confighash.h) --- */

struct config_lookup {
	struct bw_operator_context *ctx;
	const char *ns;
	char digest[BW_CONFIG_DIGEST_LEN + 1];
};

static const char *config_digest(enum bw_config_kind kind, const char *name, void *arg)
{
	struct config_lookup *l = arg;
	struct bw_store *store =
	    kind == BW_CONFIG_SECRET ? l->ctx->caches.secrets : l->ctx->caches.configmaps;
	const struct bw_cached_config *c;

	if (kind != BW_CONFIG_SECRET && strcmp(name, BW_REGISTRY_NAME) == 0) {
		/* the registry's ConfigMap is cached by its own informer only
		 * (operator.c): its digest, as hex, the first half */
		const struct bw_cached_registry *r =
		    l->ctx->caches.registries ? bw_store_get(l->ctx->caches.registries, l->ns, name)
					      : NULL;

		if (!r)
			return NULL;
		for (size_t i = 0; i < BW_CONFIG_DIGEST_LEN / 2; i++)
			snprintf(l->digest + 2 * i, 3, "%02x", r->digest[i]);
		bw_store_item_put(r);
		return l->digest;
	}
	c = store ? bw_store_get(store, l->ns, name) : NULL;
	if (!c)
		return NULL;
	memcpy(l->digest, c->digest, sizeof(l->digest));
	bw_store_item_put(c);
	return l->digest;
}

/* Puts the hash of what svc's pods reference into svc's spec (this
 * in-memory copy only: BW_CONFIG_HASH_FIELD), so the revision and the
 * rendered template follow the objects' content. The required objects that
 * do not exist are said in missing (size bytes; "" when none). */
static int add_config_hash(struct bw_operator_context *ctx, json_t *svc, const char *ns,
			   char *missing, size_t size)
{
	json_t *spec = json_object_get(svc, "spec");
	struct config_lookup l = {ctx, ns, {0}};
	struct bw_config_hash h;

	missing[0] = '\0';
	if (!json_is_object(spec))
		return 0;
	json_object_del(spec, BW_CONFIG_HASH_FIELD); /* never the stored object's */
	if (bw_config_hash(spec, config_digest, &l, &h) != 0)
		return BW_ENOMEM;
	if (h.n_missing)
		snprintf(missing, size,
			 "%s not found in namespace %s: the pods cannot start until %s created",
			 h.missing, ns, h.n_missing > 1 ? "they are" : "it is");
	if (h.hash[0] && json_object_set_new(spec, BW_CONFIG_HASH_FIELD, json_string(h.hash)) != 0)
		return BW_ENOMEM;
	return 0;
}

/* Looks at key again after the resync period, spread over a tenth of it by
 * the key so that Services created together do not resync together: a
 * Service nobody changes is still read now and then (apply_owned()), and
 * drift in the objects no informer watches (its ClusterIP Service) is put
 * back. A key already waiting keeps its earlier time (workqueue.h), so this
 * is one timer per Service, however often it is reconciled. */
static void schedule_resync(struct bw_operator_context *ctx, const char *key)
{
	unsigned long h = 5381, period_ms = (unsigned long)ctx->resync_s * 1000;
	struct bw_error err;

	for (const char *c = key; *c; c++)
		h = h * 33 + (unsigned char)*c;
	if (bw_workqueue_add_after(ctx->service_queue, key,
				   (long)(period_ms + h % (period_ms / 10 + 1)), &err) != 0 &&
	    err.code != BW_ESTOPPED)
		bw_log_debug("service", "%s: resync not scheduled: %s", key, err.message);
}

/*
 * The glue: gathers what the decisions need from the caches (rollout.h),
 * records their events, writes the owned objects and the status.
 */
int bw_reconcile_service(struct bw_operator_context *ctx, const char *key, long *requeue_after_ms)
{
	const struct bw_cached_object *item = bw_store_get_key(ctx->caches.services, key);
	const struct bw_cached_deployment *d = NULL;
	json_t *svc = NULL, *meta, *old_status, *status = NULL, *back = NULL, *back_spec = NULL;
	const json_t *render_svc;
	const char *render_image = NULL;
	char want[BW_REVISION_NAME_MAX];
	struct bw_rollout_service in = {0};
	struct bw_rollout_deployment din, *dp = NULL;
	struct bw_rollout_peers peers;
	struct bw_rollout_decision *r = NULL;
	struct bw_repair_input rin = {0};
	struct bw_repair_decision rep;
	struct bw_store_items pods = {0};
	const char **injected = NULL;
	char expected[64], now[32];
	struct bw_error err = {0};
	const char *ns, *name, *uid;
	struct cross_view x = {0};
	char conflict[MSG_MAX * 2];
	char msg[MSG_MAX], config_missing[MSG_MAX + 128];
	int route_api_missing = 0, ret = 0, wrote, spec_new;

	svc = bw_cached_object_parse(item);
	if (!svc) {
		/* deleted: owner references take the children with it */
		bw_applied_forget(ctx->applied, key);
		bw_scaler_forget(ctx, key);
		goto out;
	}
	meta = json_object_get(svc, "metadata");
	old_status = json_object_get(svc, "status");
	ns = str(meta, "namespace");
	name = str(meta, "name");
	uid = str(meta, "uid");
	if (!ns || !name || json_object_get(meta, "deletionTimestamp"))
		goto out;
	if (bw_applied_status_behind(ctx->applied, key, str(meta, "resourceVersion"), time(NULL))) {
		/* the cache has not seen our last status write yet: deciding from
		 * it would say the same events again and write a status the API
		 * server refuses (409); that write's watch event brings it back,
		 * and a look in a second in case it never comes (applied.h) */
		bw_log_debug("service", "%s: the cache is behind our status write; waiting for it",
			     key);
		*requeue_after_ms = 1000;
		goto out;
	}

	d = bw_store_get(ctx->caches.deployments, ns, name);
	if (d && !(uid && same(d->owner_uid, uid))) {
		/* a Deployment of this name (with our label) that this Service does
		 * not control: nothing of it counts; apply_owned() reports it */
		bw_store_item_put(d);
		d = NULL;
	}
	if (d) {
		deployment_input(d, &din);
		dp = &din;
	}

	if ((ret = add_config_hash(ctx, svc, ns, config_missing, sizeof(config_missing))) != 0)
		goto out;

	/* the rollout: what to apply, what to say */
	service_input(svc, &in);
	if (in.image &&
	    bw_revision_name(name, json_object_get(svc, "spec"), want, sizeof(want)) != 0) {
		ret = BW_ENOMEM;
		goto out;
	}
	in.revision = want;
	if ((r = malloc(sizeof(*r))) == NULL) {
		ret = BW_ENOMEM;
		goto out;
	}
	if (in.image && (ret = cross_checks(ctx, svc, &x)) != 0)
		goto out;
	peers = (struct bw_rollout_peers){x.route_holder, x.missing, x.dependencies};
	bw_rollout_decide(&in, dp, &peers, r);
	emit(ctx, svc, r->events, r->n_events);
	if (r->invalid) { /* nothing to do until the spec is fixed; kstatus: Failed */
		ret = status_not_ready(ctx, svc, "InvalidSpec",
				       r->n_events ? r->events[0].message : "invalid spec",
				       in.generation);
		goto out;
	}

	/* the pods: stale ones, and whether to restart them */
	rin.expected =
	    ctx->expected_injection && ctx->expected_injection(ns, name, expected, sizeof(expected),
							       ctx->expected_injection_arg) == 0
		? expected
		: NULL;
	snprintf(msg, sizeof(msg), "%s/%s", ns, name);
	if (bw_store_by_index(ctx->caches.pods, BW_INDEX_BY_SERVICE, msg, &pods, NULL) == 0 &&
	    pods.count > 0) {
		if ((injected = calloc(pods.count, sizeof(*injected))) == NULL) {
			ret = BW_ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < pods.count; i++)
			injected[i] = ((const struct bw_cached_pod *)pods.v[i])->injected;
		rin.injected = injected;
		rin.n_pods = pods.count;
	}
	rin.repair_pods = ctx->repair_pods;
	rin.status_restarted_at = time_of(str(old_status, "podsRestartedAt"));
	rin.status_restarts = json_integer_value(json_object_get(old_status, "podsRestarts"));
	now_utc(now, sizeof(now));
	rin.now = time_of(now);
	bw_repair_decide(&rin, dp, &rep);

	emit(ctx, svc, rep.events, rep.n_events);
	if (rep.requeue_after_ms)
		*requeue_after_ms = rep.requeue_after_ms;

	/* the spec changed since the last status (or that status was lost) */
	spec_new =
	    !same(str(old_status, "updateRevision"), want) ||
	    json_integer_value(json_object_get(old_status, "observedGeneration")) != in.generation;
	/* once per template: a missing object is part of the hash */
	if (config_missing[0] && spec_new) {
		event(ctx, svc, "Warning", "ConfigMissing", config_missing);
		bw_log_info("service", "%s: %s", key, config_missing);
	}

	/* the template: the spec's, or while a rollback is in effect the whole
	 * template of the current revision (with the spec's replicas, rollout
	 * settings and route) */
	render_svc = svc;
	render_image = NULL;
	if (r->deploy_revision && !same(r->deploy_revision, want)) {
		if (bw_history_spec(ctx, svc, r->deploy_revision, &back_spec, &err) == 0 &&
		    (back = json_copy(svc)) != NULL) {
			json_object_set(back, "spec", back_spec);
			render_svc = back;
		} else {
			/* the revision is gone: the image alone goes back */
			bw_log_warn("service", "%s: rolling back the image only: %s", key,
				    err.message);
			render_image = r->deploy_image;
		}
	}
	ret =
	    apply_owned(ctx, render_svc, key, d, render_image, rep.restarted_at, r->deploy_revision,
			r->withhold_ingress, conflict, sizeof(conflict), &route_api_missing, &err);
	/* the history: the template rolled out is a revision, written right
	 * after the Deployment took it (an edit reaches the Deployment one round
	 * trip sooner) and before any status names it, so updateRevision always
	 * names a revision that exists; a reconcile whose revision write fails
	 * writes no status and is retried. Only when the spec changed, or a
	 * rollout completed (the revision it replaced may be pruned now): a list
	 * per change at most */
	if (ret == 0 && !conflict[0] &&
	    (spec_new || !same(str(old_status, "currentRevision"), r->current_revision))) {
		ret = bw_history_sync(ctx, svc, want, r->current_revision, &err);
		if (ret != 0) { /* retried with back-off; the event says why nothing moves */
			snprintf(msg, sizeof(msg), "writing the revision history: %.400s",
				 err.message);
			event(ctx, svc, "Warning", "HistoryFailed", msg);
			bw_log_warn("service", "%s: %s", key, msg);
			goto out;
		}
	}
	/* the HPA and PDB (scaler.h): from the spec itself, also during a rollback */
	if (ret == 0 && !conflict[0])
		ret = bw_scaler_sync(ctx, svc, key, conflict, sizeof(conflict), &err);
	if (ret == 0 && route_api_missing) {
		/* only this Service's route waits; the rest is applied */
		if (!same(in.ready_reason, ROUTE_API_MISSING))
			event(ctx, svc, "Warning", ROUTE_API_MISSING, ROUTE_API_MISSING_MSG);
		bw_log_warn("service", "%s: %s", key, ROUTE_API_MISSING_MSG);
		status_not_ready(ctx, svc, ROUTE_API_MISSING, ROUTE_API_MISSING_MSG, in.generation);
		*requeue_after_ms = ROUTE_API_RECHECK_MS;
		goto out;
	}
	if (ret == 0 && conflict[0]) {
		/* once per conflict, not on every look (CONFLICT_RECHECK_MS) */
		if (!same(in.ready_reason, "OwnershipConflict"))
			event(ctx, svc, "Warning", "OwnershipConflict", conflict);
		bw_log_warn("service", "%s: %s", key, conflict);
		status_not_ready(ctx, svc, "OwnershipConflict", conflict, in.generation);
		*requeue_after_ms = CONFLICT_RECHECK_MS;
		goto out;
	}
	if (ret != 0) {
		snprintf(msg, sizeof(msg), "%s", err.message);
		event(ctx, svc, "Warning", "ApplyFailed", msg);
		bw_log_warn("service", "%s: %s", key, err.message);
		if (ret == BW_EHTTP || ret == BW_EINVAL) {
			/* refused as invalid: retrying will not help until the spec
			 * changes, but the status must say so */
			status_not_ready(ctx, svc, "ReconcileFailed", msg, in.generation);
			ret = 0;
		}
		goto out;
	}
	emit(ctx, svc, r->done_events, r->n_done_events);

	schedule_resync(ctx, key);
	{
		const struct bw_cached_ingress *ing = bw_store_get(ctx->caches.ingresses, ns, name);

		status = status_of(svc, r, &rep, json_object_get(old_status, "conditions"),
				   ing ? ing->address : NULL);
		bw_store_item_put(ing);
	}
	wrote = !old_status || !json_equal(old_status, status); /* bw_status_update's test */
	if (wrote && bw_applied_status_progress_only(old_status, status)) {
		long hold = bw_applied_status_hold_ms(ctx->applied, key, time(NULL));

		if (hold > 0) {
			/* counts alone moved since a write moments ago: they go
			 * with the next write, at the latest in hold ms (applied.h) */
			if (*requeue_after_ms <= 0 || hold < *requeue_after_ms)
				*requeue_after_ms = hold;
			goto out;
		}
	}
	ret = bw_status_update(ctx, &bw_res_bw_services, svc, status, &err);
	if (ret == 0 && wrote)
		bw_applied_status_written(ctx->applied, key, str(meta, "resourceVersion"),
					  time(NULL));
	if (ret == BW_ECONFLICT) /* computed from a stale cache: again, from a fresh one */
		bw_log_debug("service", "%s: status: %s", key, err.message);
	else if (ret != 0)
		bw_log_warn("service", "%s: status: %s", key, err.message);
out:
	free(injected);
	free(r);
	json_decref(back);
	json_decref(back_spec);
	bw_store_items_release(&pods);
	bw_store_item_put(d);
	bw_store_item_put(item);
	json_decref(svc);
	json_decref(status);
	return ret;
}

/* ---- for the other objects a Service owns (scaler.c: HPA, PDB) ---- */

int bw_owned_write(struct bw_operator_context *ctx, const struct bw_resource *res,
		   const json_t *svc, json_t *body, char *conflict, size_t size,
		   struct bw_error *err)
{
	const json_t *meta = json_object_get(svc, "metadata");
	const char *ns = str(meta, "namespace"), *name = str(meta, "name");
	struct owned o = {.res = res};
	int ret;

	conflict[0] = '\0';
	if ((ret = ownership_of(ctx, &o, ns, name, str(meta, "uid"), conflict, size, err)) != 0)
		goto out;
	if (o.state == BW_OWNERSHIP_FOREIGN)
		goto out; /* conflict holds the sentence */
	conflict[0] = '\0';
	if ((ret = write_owned(ctx, &o, ns, name, body, NULL, err)) != 0)
		bw_error_prefix(err, "%s %s/%s", res->kind, ns, name);
out:
	json_decref(o.live); /* read by ownership_of() */
	return ret;
}

int bw_owned_delete(struct bw_operator_context *ctx, const struct bw_resource *res,
		    const json_t *svc, struct bw_error *err)
{
	const json_t *meta = json_object_get(svc, "metadata");
	const char *ns = str(meta, "namespace"), *name = str(meta, "name");
	struct owned o = {.res = res};
	struct bw_delete_options dopt = {0};
	char why[8];
	int ret;

	ret = ownership_of(ctx, &o, ns, name, str(meta, "uid"), why, sizeof(why), err);
	json_decref(o.live); /* only its uid is needed */
	if (ret != 0 || o.state != BW_OWNERSHIP_OWNED)
		return ret;	       /* absent, or someone else's: not ours to delete */
	dopt.precondition_uid = o.uid; /* only that very object */
	ret = bw_client_delete(ctx->client, res, ns, name, &dopt, err);
	if (ret == BW_ENOTFOUND || ret == BW_ECONFLICT)
		ret = 0; /* gone, or replaced by an object that is not ours */
	if (ret != 0)
		bw_error_prefix(err, "%s %s/%s", res->kind, ns, name);
	return ret;
}
