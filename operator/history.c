/* A Service's ControllerRevisions: written, pruned, read (history.h). */
#include <stdlib.h>
#include <string.h>

#include "history.h"
#include "log.h"
#include "revision.h"

static const char *str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* Whether obj's controller owner reference is uid's. */
static int controlled_by(const json_t *obj, const char *uid)
{
	const json_t *ref;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "ownerReferences"), i,
			   ref)
	{
		if (json_is_true(json_object_get(ref, "controller")))
			return uid && str(ref, "uid") && strcmp(str(ref, "uid"), uid) == 0;
	}
	return 0;
}

/* The ControllerRevision of template as revision number n, for apply. */
static json_t *revision_object(const json_t *svc, const char *name, const json_t *template, long n)
{
	const json_t *meta = json_object_get(svc, "metadata");

	return json_pack(
	    "{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}, s:[{s:s, s:s, s:s, s:s, s:b, "
	    "s:b}]}, s:{s:O}, s:I}",
	    "apiVersion", "apps/v1", "kind", "ControllerRevision", "metadata", "name", name,
	    "namespace", str(meta, "namespace"), "labels", BW_LABEL_SERVICE, str(meta, "name"),
	    BW_LABEL_MANAGED, BW_MANAGER, "ownerReferences", "apiVersion", BW_API_VERSION, "kind",
	    BW_KIND_SERVICE, "name", str(meta, "name"), "uid", str(meta, "uid"), "controller", 1,
	    "blockOwnerDeletion", 1, "data", "spec", template, "revision", (json_int_t)n);
}

/* The number update is listed with, or 0. */
static long number_of(const struct bw_revision_entry *entries, size_t n, const char *update)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(entries[i].name, update) == 0)
			return entries[i].revision;
	return 0;
}

/*
 * Writes update as revision number n (its template: svc's spec) by
 * server-side apply. create_only: by an apply that cannot update
 * (bw_create_by_apply(), as the service controller creates its objects),
 * so a revision of that name that exists is refused, 409.
 */
static int write_revision(struct bw_operator_context *ctx, const json_t *svc, const char *key,
			  const char *update, long n, int create_only, struct bw_error *err)
{
	const char *ns = str(json_object_get(svc, "metadata"), "namespace");
	json_t *template = bw_revision_template(json_object_get(svc, "spec"));
	json_t *obj = template ? revision_object(svc, update, template, n) : NULL;
	int ret;

	json_decref(template);
	if (!obj)
		return bw_error_set(err, BW_ENOMEM, "out of memory building revision %s", update);
	ret = create_only
		  ? bw_create_by_apply(ctx, &bw_res_controllerrevisions, ns, update, obj, NULL, err)
		  : bw_apply(ctx, &bw_res_controllerrevisions, ns, update, obj, NULL, err);
	json_decref(obj);
	if (ret != 0) {
		bw_error_prefix(err, "ControllerRevision %s/%s", ns, update);
		return ret;
	}
	bw_log_info("service", "%s: revision %s is number %ld", key, update, n);
	return 0;
}

/*
 * A new template's revision without listing the others, when the memo
 * knows them (bw_applied_history_next()): created by write_revision()'s
 * create that cannot update, so a revision of that name that exists (the
 * template came back) is refused, 409, and listed after all. 0 when made,
 * 1 when the caller is to list, else the error.
 */
static int create_next(struct bw_operator_context *ctx, const json_t *svc, const char *key,
		       const char *update, const char *current, long limit, struct bw_error *err)
{
	const char *uid = str(json_object_get(svc, "metadata"), "uid");
	long count = 0,
	     next = bw_applied_history_next(ctx->applied, key, uid, update, current, limit, &count);
	int ret;

	if (next <= 0 && !json_object_get(svc, "status") && !current) {
		/* never reconciled to a status: presumed to have no revisions
		 * (a Service made again has a new uid, and its predecessor's
		 * revisions are not its own); one that exists after all, from
		 * a reconcile whose status write was lost, is refused and the
		 * list decides */
		next = 1;
		count = 0;
	}
	if (next <= 0)
		return 1;
	ret = write_revision(ctx, svc, key, update, next, 1, err);
	if (ret == BW_ECONFLICT)
		return 1; /* it exists: an older template back, renumbered after a list */
	if (ret != 0)
		return ret;
	bw_applied_history_synced(ctx->applied, key, uid, update, next, count + 1);
	return 0;
}

int bw_history_sync(struct bw_operator_context *ctx, const json_t *svc, const char *update,
		    const char *current, struct bw_error *err)
{
	const json_t *meta = json_object_get(svc, "metadata"), *spec = json_object_get(svc, "spec");
	const char *ns = str(meta, "namespace"), *uid = str(meta, "uid");
	struct bw_list_options lo = {0};
	struct bw_revision_entry *entries = NULL;
	struct bw_revision_plan plan;
	const char **prune = NULL;
	json_t *items = NULL, *item;
	const json_t *limit = json_object_get(spec, "revisionHistoryLimit");
	long effective_limit =
	    json_is_integer(limit) ? (long)json_integer_value(limit) : BW_REVISION_DEFAULT_LIMIT;
	char selector[128], key[320];
	size_t i, n = 0, pruned = 0;
	int ret;

	snprintf(key, sizeof(key), "%s/%s", ns, str(meta, "name"));
	if (bw_applied_history_settled(ctx->applied, key, uid, update, current, effective_limit))
		return 0; /* as the last sync left it: nothing to write or prune */
	if ((ret = create_next(ctx, svc, key, update, current, effective_limit, err)) != 1)
		return ret; /* made without a list (0), or failed */
	snprintf(selector, sizeof(selector), "%s=%s", BW_LABEL_SERVICE, str(meta, "name"));
	lo.label_selector = selector;
	if ((ret = bw_client_list(ctx->client, &bw_res_controllerrevisions, ns, &lo, &items, NULL,
				  err)) != 0)
		goto out;
	entries = calloc(json_array_size(items) + 1, sizeof(*entries));
	prune = calloc(json_array_size(items) + 1, sizeof(*prune));
	if (!entries || !prune) {
		ret = bw_error_set(err, BW_ENOMEM, "out of memory listing revisions");
		goto out;
	}
	json_array_foreach(items, i, item)
	{
		if (controlled_by(item, uid)) /* a name alike is not ours to prune */
			entries[n++] = (struct bw_revision_entry){
			    str(json_object_get(item, "metadata"), "name"),
			    (long)json_integer_value(json_object_get(item, "revision"))};
	}
	bw_revision_plan(entries, n, update, current,
			 json_is_integer(limit) ? (long)json_integer_value(limit) : -1, prune,
			 &plan);
	if (plan.write_revision &&
	    (ret = write_revision(ctx, svc, key, update, plan.write_revision, 0, err)) != 0)
		goto out;
	for (i = 0; i < plan.n_prune; i++) {
		ret = bw_client_delete(ctx->client, &bw_res_controllerrevisions, ns, plan.prune[i],
				       NULL, err);
		if (ret == BW_ENOTFOUND)
			ret = 0;
		if (ret != 0) {
			bw_error_prefix(err, "ControllerRevision %s/%s", ns, plan.prune[i]);
			goto out;
		}
		pruned++;
	}
	/* update is now the newest (written, or it was already) */
	bw_applied_history_synced(ctx->applied, key, uid, update,
				  plan.write_revision ? plan.write_revision
						      : number_of(entries, n, update),
				  (long)n + (plan.create ? 1 : 0) - (long)pruned);
out:
	free(entries);
	free(prune);
	json_decref(items);
	return ret;
}

int bw_history_spec(struct bw_operator_context *ctx, const json_t *svc, const char *name,
		    json_t **spec, struct bw_error *err)
{
	const json_t *meta = json_object_get(svc, "metadata");
	json_t *obj = NULL;
	int ret;

	*spec = NULL;
	ret = bw_client_get(ctx->client, &bw_res_controllerrevisions, str(meta, "namespace"), name,
			    NULL, &obj, err);
	if (ret != 0) {
		bw_error_prefix(err, "ControllerRevision %s/%s", str(meta, "namespace"), name);
		return ret;
	}
	if (!controlled_by(obj, str(meta, "uid"))) {
		ret = bw_error_set(err, BW_EINVAL, "ControllerRevision %s/%s is not this Service's",
				   str(meta, "namespace"), name);
		goto out;
	}
	*spec = bw_revision_undo_spec(json_object_get(svc, "spec"),
				      json_object_get(json_object_get(obj, "data"), "spec"), err);
	ret = *spec ? 0 : err->code;
out:
	json_decref(obj);
	return ret;
}
