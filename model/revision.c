/* A Service's revisions: template, hash, undo (model/revision.h). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "revision.h"

const char *const bw_revision_kept_fields[] = {
    "replicas", "paused",      "revisionHistoryLimit", "rollout",
    "route",	"autoscaling", "disruptionBudget",     NULL,
};

static int is_kept(const char *field)
{
	for (const char *const *k = bw_revision_kept_fields; *k; k++)
		if (strcmp(*k, field) == 0)
			return 1;
	return 0;
}

json_t *bw_revision_template(const json_t *spec)
{
	json_t *out, *copy;
	const char *key;
	json_t *value;

	if (!json_is_object(spec) || !(out = json_object()))
		return NULL;
	json_object_foreach((json_t *)spec, key, value)
	{
		if (is_kept(key))
			continue;
		if (!(copy = json_deep_copy(value)) || json_object_set_new(out, key, copy) != 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

int bw_revision_hash(const json_t *template, char out[BW_REVISION_HASH_LEN + 1])
{
	char *text = json_dumps(template, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	uint64_t h = 0xcbf29ce484222325ULL;
	char hex[17];

	if (!text)
		return -1;
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	free(text);
	snprintf(hex, sizeof(hex), "%016" PRIx64, h);
	memcpy(out, hex, BW_REVISION_HASH_LEN);
	out[BW_REVISION_HASH_LEN] = '\0';
	return 0;
}

json_t *bw_revision_undo_spec(const json_t *current_spec, const json_t *template,
			      struct bw_error *err)
{
	json_t *out, *value;

	if (!json_is_object(current_spec)) {
		bw_error_set(err, BW_EINVAL, "the Service has no spec object");
		return NULL;
	}
	if (!json_is_object(template)) {
		bw_error_set(err, BW_EINVAL, "the revision's data.spec is not an object");
		return NULL;
	}
	if (!(out = bw_revision_template(template)))
		goto nomem;
	for (const char *const *k = bw_revision_kept_fields; *k; k++) {
		value = json_object_get(current_spec, *k);
		if (value && json_object_set_new(out, *k, json_deep_copy(value)) != 0)
			goto nomem;
	}
	return out;
nomem:
	json_decref(out);
	bw_error_set(err, BW_ENOMEM, "out of memory building the spec to undo to");
	return NULL;
}
