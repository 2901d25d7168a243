/*
 * Service and Breaker validation: see validate.h. The field checks are the
 * operator's own (bw_render_validate(), bw_registry_breaker_policy()), so
 * the webhook refuses exactly what the controllers could not act on; this
 * file adds what needs the rest of the namespace.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dnsname.h"
#include "json.h"
#include "error.h"
#include "registry.h"
#include "render.h"
#include "rules.h"
#include "utf8.h"
#include "admission.h"
#include "validate.h"

#define CYCLE_MAX 400 /* bytes of a cycle's description */
#define ECHO_MAX  101 /* bytes of a user's value quoted in a message, with its NUL */

/* What one call needs: the object's names and the result being filled. */
struct ctx {
	const char *name, *ns;
	struct bw_validate_result *out;
	int bad; /* an allocation failed */
};

static const char *str_field(const json_t *obj, const char *key)
{
	const char *s = json_string_value(bw_json_get(obj, key));

	return s && *s ? s : NULL;
}

/* s quoted in a message: at most ECHO_MAX - 1 bytes, cut at a character
 * boundary and then ending in "...". Returns buf. */
static const char *echo(char buf[ECHO_MAX], const char *s)
{
	size_t n = strlen(s), cut;

	if (n < ECHO_MAX) {
		memcpy(buf, s, n + 1);
		return buf;
	}
	cut = bw_utf8_cut(s, n, ECHO_MAX - 4);
	memcpy(buf, s, cut);
	memcpy(buf + cut, "...", 4);
	return buf;
}

static void warn(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void deny(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	c->bad |= bw_json_append_vprintf(c->out->warnings, fmt, ap);
	va_end(ap);
}

/* The first denial wins. */
static void deny(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->out->allowed)
		return;
	c->out->allowed = 0;
	c->out->code = BW_ADMISSION_CODE_DENIED;
	va_start(ap, fmt);
	vsnprintf(c->out->message, sizeof(c->out->message), fmt, ap);
	va_end(ap);
	bw_utf8_repair(c->out->message);
}

/* A denial with the message of a rule of the renderer or the registry. */
static void deny_as(struct bw_validate_result *out, const char *message)
{
	out->allowed = 0;
	out->code = BW_ADMISSION_CODE_DENIED;
	snprintf(out->message, sizeof(out->message), "%s", message);
	bw_utf8_repair(out->message);
}

static int being_deleted(const json_t *obj)
{
	return bw_json_get(bw_json_get(obj, "metadata"), "deletionTimestamp") != NULL;
}

/* The name of a sibling that counts (an object of the namespace, not being
 * deleted, and when same_kind is set not the object itself), or NULL. */
static const char *other(const struct ctx *c, const char *name, const char *ns, int deleting,
			 int same_kind)
{
	if (!name || (same_kind && strcmp(name, c->name) == 0) || deleting)
		return NULL;
	if (ns && c->ns && strcmp(ns, c->ns) != 0)
		return NULL;
	return name;
}

static const char *other_service(const struct ctx *c, const struct bw_service_view *sib,
				 int same_kind)
{
	return other(c, sib->name, sib->ns, sib->deleting, same_kind);
}

/* Whether a Service of the namespace named name counts. */
static int find(const struct ctx *c, const struct bw_service_view *const *services, size_t n,
		const char *name)
{
	const char *o;

	for (size_t i = 0; i < n; i++)
		if ((o = other_service(c, services[i], 0)) && strcmp(o, name) == 0)
			return 1;
	return 0;
}

/* The common start: the operations that need no check. Returns 1 when the
 * decision is already made (allowed), 0 to go on, or an error. */
static int start(const char *what, enum bw_admission_op op, const json_t *object,
		 struct bw_validate_result *out, struct bw_error *err)
{
	if (out)
		memset(out, 0, sizeof(*out));
	if (!out)
		return bw_error_set(err, BW_EINVAL, "validate: out is required");
	out->allowed = 1;
	out->warnings = json_array();
	if (!out->warnings)
		return bw_error_set(err, BW_ENOMEM, "validate: out of memory");
	if (op == BW_ADMISSION_DELETE || op == BW_ADMISSION_CONNECT)
		return 1;
	if (op != BW_ADMISSION_CREATE && op != BW_ADMISSION_UPDATE) {
		bw_validate_result_release(out);
		return bw_error_set(err, BW_EINVAL, "validate: unknown operation %d", (int)op);
	}
	if (!json_is_object(object)) {
		bw_validate_result_release(out);
		return bw_error_set(err, BW_EINVAL, "request.object: the %s is required for %s",
				    what, bw_admission_op_name(op));
	}
	return being_deleted(object) ? 1 : 0;
}

static const char *ns_or_this(const struct ctx *c)
{
	return c->ns ? c->ns : "this namespace";
}

/* ---- Service ---- */

/*
 * A route (host + pathPrefix) leads to one Service in the whole cluster:
 * Ingress controllers merge the Ingresses of every namespace. siblings may
 * hold Services of other namespaces for this check; the object itself (its
 * name in its namespace) is skipped.
 */
static void check_route(struct ctx *c, enum bw_admission_op op, const struct bw_service_view *obj,
			const struct bw_service_view *old,
			const struct bw_service_view *const *siblings, size_t n)
{
	const struct bw_service_view *sib;
	const char *ns;
	char where[160], prefix[ECHO_MAX], buf[ECHO_MAX];
	size_t i;

	if (!obj->has_route)
		return;
	if (obj->route_host)
		snprintf(where, sizeof(where), "on host %s", echo(buf, obj->route_host));
	else
		snprintf(where, sizeof(where), "with no host");
	echo(prefix, obj->route_path ? obj->route_path : "");
	for (i = 0; i < n; i++) {
		sib = siblings[i];
		ns = sib->ns;
		if (!sib->name || sib->deleting ||
		    (strcmp(sib->name, c->name) == 0 &&
		     (!ns || !c->ns || strcmp(ns, c->ns) == 0)) ||
		    !bw_rules_same_route(obj, sib))
			continue;
		if (!ns)
			ns = ns_or_this(c);
		if (op == BW_ADMISSION_UPDATE && old && bw_rules_same_route(obj, old))
			warn(c,
			     "spec.route: pathPrefix %s %s is also the route of Service %s/%s; one "
			     "of them should move",
			     prefix, where, ns, sib->name);
		else
			deny(c,
			     "spec.route: pathPrefix %s %s is already the route of Service %s in "
			     "namespace %s; a route must lead to one Service in the cluster",
			     prefix, where, sib->name, ns);
		return;
	}
}

/* The dependsOn names of obj, as strings (the rest is skipped). */
static const json_t *depends_on(const json_t *obj)
{
	return bw_json_get(bw_json_get(obj, "spec"), "dependsOn");
}

static void check_depends_on(struct ctx *c, const json_t *object,
			     const struct bw_service_view *const *siblings, size_t n)
{
	const json_t *d;
	const char *name;
	size_t i;

	char var[BW_DNS_LABEL_MAX + 16];
	size_t j;

	json_array_foreach(depends_on(object), i, d)
	{
		name = json_string_value(d);
		if (!name || strcmp(name, c->name) == 0 ||
		    bw_rules_service_exists(siblings, n, c->ns, name))
			continue;
		/* the variable the webhook would inject (names are DNS labels here) */
		for (j = 0; name[j] && j < BW_DNS_LABEL_MAX; j++)
			var[j] = name[j] == '-'			    ? '_'
				 : name[j] >= 'a' && name[j] <= 'z' ? (char)(name[j] - 'a' + 'A')
								    : name[j];
		snprintf(var + j, sizeof(var) - j, "_SERVICE_URL");
		warn(c,
		     "spec.dependsOn[%zu]: no Service named %s in namespace %s; %s is not "
		     "injected into this Service's pods until it exists",
		     i, name, ns_or_this(c), var);
	}
}

/* Appends " -> name" to buf (len bytes so far), or " -> ..." when full. */
static size_t append_hop(char *buf, size_t len, const char *name)
{
	size_t n = strlen(name);

	if (len + n + 4 + 8 >= CYCLE_MAX) {
		if (len + 8 < CYCLE_MAX && (len < 3 || strcmp(buf + len - 3, "...") != 0))
			len += (size_t)snprintf(buf + len, CYCLE_MAX - len, " -> ...");
		return len;
	}
	return len + (size_t)snprintf(buf + len, CYCLE_MAX - len, " -> %s", name);
}

/*
 * A breadth-first search from the object through the siblings' dependsOn:
 * the shortest path that comes back to the object is reported.
 */
static int check_cycle(struct ctx *c, const struct bw_service_view *obj,
		       const struct bw_service_view *const *siblings, size_t n,
		       struct bw_error *err)
{
	size_t head = 0, tail = 0, i, u, hops = 0;
	long *parent = NULL, *queue = NULL, *path = NULL, v;
	json_t *index = json_object(); /* name -> sibling index */
	const struct bw_service_view *from;
	const char *name;
	char buf[CYCLE_MAX];
	size_t len;
	long found = -2; /* -2: no cycle; -1: the object depends on itself; else the last hop */
	int rc = 0;

	parent = calloc(n + 1, sizeof(*parent));
	queue = calloc(n + 1, sizeof(*queue));
	path = calloc(n + 1, sizeof(*path));
	if (!index || !parent || !queue || !path) {
		rc = bw_error_set(err, BW_ENOMEM, "validate: out of memory");
		goto done;
	}
	for (i = 0; i < n; i++) {
		parent[i] = -2; /* unvisited */
		if ((name = other_service(c, siblings[i], 1)) && !json_object_get(index, name))
			c->bad |= json_object_set_new(index, name, json_integer((json_int_t)i));
	}
	/* u == n stands for the object itself */
	for (u = n; found == -2;) {
		from = u == n ? obj : siblings[u];
		for (i = 0; i < from->n_depends_on; i++) {
			if (!(name = from->depends_on[i]))
				continue;
			if (strcmp(name, c->name) == 0) {
				found = u == n ? -1 : (long)u;
				break;
			}
			if (!json_object_get(index, name))
				continue;
			v = (long)json_integer_value(json_object_get(index, name));
			if (parent[v] != -2)
				continue;
			parent[v] = u == n ? -1 : (long)u;
			queue[tail++] = v;
		}
		if (found != -2 || head == tail)
			break;
		u = (size_t)queue[head++];
	}
	if (found == -2)
		goto done;
	for (v = found; v >= 0 && hops <= n; v = parent[v])
		path[hops++] = v;
	len = (size_t)snprintf(buf, sizeof(buf), "%s", c->name);
	while (hops > 0)
		len = append_hop(buf, len, siblings[path[--hops]]->name);
	append_hop(buf, len, c->name);
	warn(c,
	     "spec.dependsOn: dependency cycle %s; pods that wait for their dependencies "
	     "at start will wait for ever",
	     buf);
done:
	json_decref(index);
	free(parent);
	free(queue);
	free(path);
	return rc;
}

static void check_image(struct ctx *c, const json_t *object)
{
	const char *image = str_field(bw_json_get(object, "spec"), "image"), *slash, *colon;

	if (!image || strchr(image, '@'))
		return; /* pinned by digest */
	slash = strrchr(image, '/');
	colon = strrchr(slash ? slash : image, ':');
	if (!colon)
		warn(c,
		     "spec.image: %.200s has no tag, which means :latest; pin a version so "
		     "a rollout knows what it rolls out and can roll back",
		     image);
	else if (strcmp(colon + 1, "latest") == 0)
		warn(c,
		     "spec.image: %.200s uses the :latest tag; pin a version so a rollout "
		     "knows what it rolls out and can roll back",
		     image);
}

static void check_health(struct ctx *c, const json_t *object)
{
	const json_t *spec = bw_json_get(object, "spec");
	json_int_t replicas = json_integer_value(bw_json_get(spec, "replicas"));

	if (replicas > 1 && !bw_json_get(spec, "healthCheck"))
		warn(c,
		     "spec.healthCheck: not set with %" JSON_INTEGER_FORMAT
		     " replicas; rollouts cannot tell ready pods from broken ones",
		     replicas);
}

int bw_validate_service_views(enum bw_admission_op op, const json_t *object,
			      const json_t *old_object,
			      const struct bw_service_view *const *siblings, size_t n,
			      struct bw_validate_result *out, struct bw_error *err)
{
	struct bw_service_view obj = {0}, old = {0};
	struct bw_error verr;
	struct ctx c = {0};
	int rc;

	if ((rc = start("Service", op, object, out, err)))
		return rc < 0 ? rc : 0;
	bw_error_clear(&verr);
	if (bw_render_validate(object, &verr)) {
		deny_as(out, verr.message);
		return 0;
	}
	c.out = out;
	c.name = str_field(bw_json_get(object, "metadata"), "name");
	c.ns = str_field(bw_json_get(object, "metadata"), "namespace");
	if (bw_service_view_read(object, &obj) != 0 ||
	    (old_object && bw_service_view_read(old_object, &old) != 0)) {
		rc = bw_error_set(err, BW_ENOMEM, "validate: out of memory");
		goto fail;
	}

	check_route(&c, op, &obj, old_object ? &old : NULL, siblings, n);
	check_depends_on(&c, object, siblings, n);
	if ((rc = check_cycle(&c, &obj, siblings, n, err)))
		goto fail;
	check_image(&c, object);
	check_health(&c, object);
	if (c.bad) {
		rc = bw_error_set(err, BW_ENOMEM, "validate: out of memory");
		goto fail;
	}
	bw_service_view_release(&obj);
	bw_service_view_release(&old);
	return 0;
fail:
	bw_service_view_release(&obj);
	bw_service_view_release(&old);
	bw_validate_result_release(out);
	return rc;
}

/* Grows a list of pointers by one slot. */
static int grow(const void ***v, size_t n, size_t *cap)
{
	const void **bigger;

	if (n < *cap)
		return 0;
	bigger = realloc(*v, (*cap ? 2 * *cap : 16) * sizeof(**v));
	if (!bigger)
		return -1;
	*v = bigger;
	*cap = *cap ? 2 * *cap : 16;
	return 0;
}

int bw_validate_dependency_siblings(const json_t *object, bw_validate_lookup_fn *lookup, void *arg,
				    const struct bw_service_view ***out, size_t *n,
				    struct bw_error *err)
{
	const char *self = str_field(bw_json_get(object, "metadata"), "name");
	const json_t *deps = depends_on(object);
	const void **found = NULL, **tried = NULL; /* views; names looked up */
	size_t n_found = 0, cap_found = 0, n_tried = 0, cap_tried = 0, head = 0, i, j, k;
	const struct bw_service_view *v;
	const char *name;

	*out = NULL;
	*n = 0;
	/* breadth first: the object's names, then those of each view found */
	for (k = 0;; k++) {
		size_t count = k == 0 ? json_array_size(deps) : 0;

		if (k > 0) {
			if (head == n_found)
				break;
			v = found[head++];
			count = v->n_depends_on;
		}
		for (i = 0; i < count; i++) {
			name =
			    k == 0
				? json_string_value(json_array_get(deps, i))
				: ((const struct bw_service_view *)found[head - 1])->depends_on[i];
			if (!name || (self && strcmp(name, self) == 0))
				continue;
			for (j = 0; j < n_tried && strcmp(tried[j], name) != 0; j++)
				;
			if (j < n_tried)
				continue; /* looked up already */
			if (grow(&tried, n_tried, &cap_tried) != 0)
				goto nomem;
			tried[n_tried++] = name;
			if (!(v = lookup(arg, name)))
				continue;
			if (grow(&found, n_found, &cap_found) != 0)
				goto nomem;
			found[n_found++] = v;
		}
	}
	free(tried);
	*out = (const struct bw_service_view **)found;
	*n = n_found;
	return 0;
nomem:
	free(tried);
	free(found);
	return bw_error_set(err, BW_ENOMEM, "validate: out of memory");
}

/* The JSON arrays of the callers that hold JSON, checked. */
static int arrays_ok(const json_t *a, const json_t *b, struct bw_validate_result *out,
		     struct bw_error *err)
{
	if (out)
		memset(out, 0, sizeof(*out));
	if ((a && !json_is_array(a)) || (b && !json_is_array(b)))
		return bw_error_set(err, BW_EINVAL,
				    "validate: the namespace's objects must be JSON arrays");
	return 0;
}

int bw_validate_service(enum bw_admission_op op, const json_t *object, const json_t *old_object,
			const json_t *siblings, struct bw_validate_result *out,
			struct bw_error *err)
{
	const struct bw_service_view **views = NULL;
	size_t n = 0;
	int rc;

	if (out && (rc = arrays_ok(siblings, NULL, out, err)))
		return rc;
	if (bw_service_views_read(siblings, &views, &n) != 0)
		return bw_error_set(err, BW_ENOMEM, "validate: out of memory");
	rc = bw_validate_service_views(op, object, old_object, views, n, out, err);
	bw_service_views_free(views, n);
	return rc;
}

/* ---- Breaker ---- */

int bw_validate_breaker_views(enum bw_admission_op op, const json_t *object,
			      const json_t *old_object,
			      const struct bw_service_view *const *services, size_t n_services,
			      const struct bw_breaker_view *const *breakers, size_t n_breakers,
			      struct bw_validate_result *out, struct bw_error *err)
{
	struct bw_error verr;
	struct ctx c = {0};
	json_t *policy = NULL;
	const struct bw_breaker_view *brk;
	const char *target, *name, *old_target;
	json_int_t minimum, size;
	size_t i;
	int rc;

	if ((rc = start("Breaker", op, object, out, err)))
		return rc < 0 ? rc : 0;
	bw_error_clear(&verr);
	if (bw_registry_breaker_policy(object, &policy, &verr)) {
		if (verr.code == BW_ENOMEM) {
			rc = bw_error_set(err, BW_ENOMEM, "%s", verr.message);
			goto fail;
		}
		deny_as(out, verr.message);
		return 0;
	}
	c.out = out;
	c.name = str_field(bw_json_get(object, "metadata"), "name");
	c.ns = str_field(bw_json_get(object, "metadata"), "namespace");
	target = str_field(policy, "target");
	if (!target || !bw_is_dns1035_label(target)) {
		char buf[ECHO_MAX];

		deny(&c,
		     "spec.target: \"%s\" is not a Service name (a DNS label: lowercase "
		     "letters, digits and '-', starting with a letter)",
		     echo(buf, target ? target : ""));
		goto done;
	}

	old_target = str_field(bw_json_get(old_object, "spec"), "target");
	for (i = 0; i < n_breakers; i++) {
		brk = breakers[i];
		if (!(name = other(&c, brk->name, brk->ns, brk->deleting, 1)))
			continue;
		if (!brk->target || strcmp(brk->target, target) != 0)
			continue;
		if (op == BW_ADMISSION_UPDATE && old_target && strcmp(old_target, target) == 0)
			warn(
			    &c,
			    "spec.target: %s is also protected by Breaker %s; which policy applies "
			    "is ambiguous",
			    target, name);
		else
			deny(&c,
			     "spec.target: %s is already protected by Breaker %s in namespace %s; "
			     "two policies for one target would be ambiguous (edit %s instead)",
			     target, name, ns_or_this(&c), name);
		break;
	}
	if (!find(&c, services, n_services, target))
		warn(&c,
		     "spec.target: no Service named %s in namespace %s; the policy protects no "
		     "one until it exists",
		     target, ns_or_this(&c));
	minimum = json_integer_value(bw_json_get(policy, "minimumCalls"));
	size = json_integer_value(bw_json_get(bw_json_get(policy, "slidingWindow"), "size"));
	if (minimum > size &&
	    strcmp(str_field(bw_json_get(policy, "slidingWindow"), "type"), "Count") == 0)
		warn(&c,
		     "spec.minimumCalls: %" JSON_INTEGER_FORMAT
		     " is more than spec.slidingWindow.size (%" JSON_INTEGER_FORMAT
		     ") of a Count window; the failure rate rule can never trigger",
		     minimum, size);
	if (strcmp(str_field(policy, "mode"), "ForcedOpen") == 0)
		warn(&c,
		     "spec.mode: ForcedOpen: every call to %s will fail fast until the mode "
		     "changes",
		     target);
done:
	json_decref(policy);
	if (c.bad) {
		rc = bw_error_set(err, BW_ENOMEM, "validate: out of memory");
		goto fail;
	}
	return 0;
fail:
	bw_validate_result_release(out);
	return rc;
}

int bw_validate_breaker(enum bw_admission_op op, const json_t *object, const json_t *old_object,
			const json_t *services, const json_t *breakers,
			struct bw_validate_result *out, struct bw_error *err)
{
	const struct bw_service_view **sv = NULL;
	const struct bw_breaker_view **bv = NULL;
	size_t ns = 0, nb = 0;
	int rc;

	if (out && (rc = arrays_ok(services, breakers, out, err)))
		return rc;
	if (bw_service_views_read(services, &sv, &ns) != 0 ||
	    bw_breaker_views_read(breakers, &bv, &nb) != 0)
		rc = bw_error_set(err, BW_ENOMEM, "validate: out of memory");
	else
		rc = bw_validate_breaker_views(op, object, old_object, sv, ns, bv, nb, out, err);
	bw_service_views_free(sv, ns);
	bw_breaker_views_free(bv);
	return rc;
}

void bw_validate_result_release(struct bw_validate_result *r)
{
	if (!r)
		return;
	json_decref(r->warnings);
	memset(r, 0, sizeof(*r));
}
