/* Conditions and status writes, shared by the controllers. */
#include <string.h>

#include "log.h"
#include "operator.h"
#include "rfc3339.h"

static const json_t *find_condition(const json_t *conditions, const char *type)
{
	size_t i;
	json_t *c;

	json_array_foreach(conditions, i, c)
	{
		const char *t = json_string_value(json_object_get(c, "type"));

		if (t && strcmp(t, type) == 0)
			return c;
	}
	return NULL;
}

static void set_str(json_t *obj, const char *key, const char *value)
{
	if (value)
		json_object_set_new(obj, key, json_string(value));
}

json_t *bw_rollout_status_json(const struct bw_rollout_decision *r,
			       const struct bw_repair_decision *p)
{
	json_t *status = json_object();

	json_object_set_new(status, "observedGeneration", json_integer(r->observed_generation));
	set_str(status, "image", r->image);
	set_str(status, "lastGoodImage", r->last_good);
	set_str(status, "failedImage", r->failed);
	set_str(status, "currentRevision", r->current_revision);
	set_str(status, "updateRevision", r->update_revision);
	set_str(status, "failedRevision", r->failed_revision);
	json_object_set_new(status, "replicas", json_integer(r->replicas));
	json_object_set_new(status, "updatedReplicas", json_integer(r->updated));
	json_object_set_new(status, "readyReplicas", json_integer(r->ready));
	json_object_set_new(status, "availableReplicas", json_integer(r->available));
	json_object_set_new(status, "pods",
			    json_pack("{s:I, s:I}", "configured", (json_int_t)p->configured,
				      "stale", (json_int_t)p->stale));
	set_str(status, "podsRestartedAt", p->restarted_at);
	if (p->restarts > 0)
		json_object_set_new(status, "podsRestarts", json_integer(p->restarts));
	return status;
}

void bw_condition_set(json_t *conditions, const json_t *old_conditions, const char *type,
		      const char *status, const char *reason, const char *message,
		      long observed_generation)
{
	const json_t *old = find_condition(old_conditions, type);
	const char *old_status = json_string_value(json_object_get(old, "status"));
	const char *since = json_string_value(json_object_get(old, "lastTransitionTime"));
	char now[32];
	size_t i;

	if (!old_status || strcmp(old_status, status) != 0 || !since) {
		bw_rfc3339_now(now, sizeof(now), 0);
		since = now;
	}
	for (i = 0; i < json_array_size(conditions); i++) {
		const char *t =
		    json_string_value(json_object_get(json_array_get(conditions, i), "type"));

		if (t && strcmp(t, type) == 0) {
			json_array_remove(conditions, i);
			break;
		}
	}
	json_array_append_new(conditions,
			      json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "type", type, "status",
					status, "observedGeneration",
					(json_int_t)observed_generation, "lastTransitionTime",
					since, "reason", reason, "message", message));
}

int bw_status_update(struct bw_operator_context *ctx, const struct bw_resource *res,
		     const json_t *obj, const json_t *new_status, struct bw_error *err)
{
	const json_t *meta = json_object_get(obj, "metadata");
	const json_t *old_status = json_object_get(obj, "status");
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *name = json_string_value(json_object_get(meta, "name"));
	const char *rv = json_string_value(json_object_get(meta, "resourceVersion"));
	json_t *patch;
	int ret;

	if (old_status && json_equal((json_t *)old_status, (json_t *)new_status))
		return 0;
	/* A merge patch replaces lists whole, so the conditions are exactly ours;
	 * fields we no longer set are removed with null. */
	patch = json_pack("{s:O}", "status", (json_t *)new_status);
	if (rv) /* the precondition: the object as we read it */
		json_object_set_new(patch, "metadata", json_pack("{s:s}", "resourceVersion", rv));
	if (old_status) {
		const char *key;
		json_t *value, *status = json_object_get(patch, "status");

		json_object_foreach((json_t *)old_status, key, value)
		{
			if (!json_object_get(status, key))
				json_object_set_new(status, key, json_null());
		}
	}
	ret = bw_client_patch(ctx->client, res, ns, name, "status", BW_PATCH_MERGE, patch, NULL,
			      NULL, err);
	json_decref(patch);
	if (ret == BW_ENOTFOUND)
		return 0; /* deleted meanwhile */
	return ret;
}
