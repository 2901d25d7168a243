/* A Service's revisions: template, hash, undo (model/revision.h). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "revision.h"

const char *const bw_revision_kept_fields[] = {
    "replicas",	   "paused",	       "revisionHistoryLimit", "rollout",	"route",
    "autoscaling", "disruptionBudget", "minReadySeconds",      "configRollout", NULL,
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

int bw_revision_name(const char *service, const json_t *spec, char *out, size_t size)
{
	json_t *template = bw_revision_template(spec);
	char hash[BW_REVISION_HASH_LEN + 1];
	int ret = -1, len;

	if (!template || !service)
		goto out;
	if (bw_revision_hash(template, hash) != 0)
		goto out;
	len = snprintf(out, size, "%s-%s", service, hash);
	ret = len > 0 && (size_t)len < size ? 0 : -1;
out:
	json_decref(template);
	return ret;
}

static int named(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

void bw_revision_plan(const struct bw_revision_entry *entries, size_t n, const char *update,
		      const char *current, long limit, const char **prune,
		      struct bw_revision_plan *out)
{
	long max = 0, mine = -1, newer;
	size_t others = 0, i, j;

	memset(out, 0, sizeof(*out));
	out->prune = prune;
	if (limit < 0)
		limit = BW_REVISION_DEFAULT_LIMIT;
	for (i = 0; i < n; i++) {
		if (entries[i].revision > max)
			max = entries[i].revision;
		if (named(entries[i].name, update))
			mine = entries[i].revision;
	}
	out->create = mine < 0;
	newer = 0; /* another revision as new as or newer than the update one */
	for (i = 0; i < n; i++)
		if (!named(entries[i].name, update) && entries[i].revision >= mine)
			newer = 1;
	if (update && (out->create || newer))
		out->write_revision = max + 1;
	/* The others, not the update or current one: all but the limit newest
	 * go, oldest first. An entry is pruned when limit or more others are
	 * newer than it (ties: the later name is the newer). */
	for (i = 0; i < n; i++) {
		if (named(entries[i].name, update) || named(entries[i].name, current))
			continue;
		others = 0;
		for (j = 0; j < n; j++) {
			if (j == i || named(entries[j].name, update) ||
			    named(entries[j].name, current))
				continue;
			if (entries[j].revision > entries[i].revision ||
			    (entries[j].revision == entries[i].revision &&
			     strcmp(entries[j].name ? entries[j].name : "",
				    entries[i].name ? entries[i].name : "") > 0))
				others++;
		}
		if ((long)others >= limit)
			prune[out->n_prune++] = entries[i].name;
	}
	/* oldest first: by revision, then name */
	for (i = 1; i < out->n_prune; i++)
		for (j = i; j > 0; j--) {
			const char *a = prune[j - 1], *b = prune[j];
			long ra = 0, rb = 0;

			for (size_t k = 0; k < n; k++) {
				if (named(entries[k].name, a))
					ra = entries[k].revision;
				if (named(entries[k].name, b))
					rb = entries[k].revision;
			}
			if (ra < rb || (ra == rb && strcmp(a, b) <= 0))
				break;
			prune[j - 1] = b;
			prune[j] = a;
		}
}
