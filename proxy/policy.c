/*
 * breakers.json into struct bw_breaker_policy. The defaults and ranges are
 * the CRD's (crds/breakers.breakwater.io.yaml); tests/unit/test_policy.c
 * checks that whatever model/registry.c writes reads back here.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "breaker_policy.h"
#include "json.h"
#include "names.h"
#include "policy.h"

/* An integer field: where it sits, its range and where it goes. */
struct int_field {
	const char *parent; /* "slidingWindow", "slowCall", or NULL for the entry itself */
	const char *key;
	int min, max;
	size_t offset; /* of the int in struct bw_breaker_policy */
};

#define INT_FIELD(parent, key, def, min, max, member) \
	{parent, key, min, max, offsetof(struct bw_breaker_policy, member)},
static const struct int_field int_fields[] = {BW_BREAKER_INT_FIELDS(INT_FIELD)};
#undef INT_FIELD

static const char *const mode_names[] = {BW_BREAKER_MODE_NAMES};
static const char *const window_names[] = {BW_BREAKER_WINDOW_NAMES};

#define DEFAULT_MAX_OPEN_SECONDS BW_BREAKER_DEFAULT_MAX_OPEN_SECONDS

void bw_policy_defaults(struct bw_breaker_policy *p)
{
	memset(p, 0, sizeof(*p));
#define SET_DEFAULT(parent, key, def, min, max, member) p->member = def;
	BW_BREAKER_INT_FIELDS(SET_DEFAULT)
#undef SET_DEFAULT
	p->window_type = BW_WINDOW_COUNT;
	p->max_open_seconds = DEFAULT_MAX_OPEN_SECONDS;
	p->mode = BW_MODE_ENFORCE;
}

const char *bw_policy_mode_name(enum bw_breaker_mode mode)
{
	return (unsigned)mode < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[mode] : "?";
}

const char *bw_policy_window_name(enum bw_window_type type)
{
	return (unsigned)type < 2 ? window_names[type] : "?";
}

/* An optional integer in min..max; *out untouched when absent. */
static int get_int(const json_t *v, const char *name, const char *path, json_int_t min,
		   json_int_t max, json_int_t *out, struct bw_error *err)
{
	char at[320];

	snprintf(at, sizeof(at), "breakers.%s.%s", name, path);
	return bw_json_int_in_range(v, at, min, max, out, err);
}

/* An optional string among names[n]; *out untouched when absent. */
static int get_enum(const json_t *v, const char *name, const char *path, const char *const *names,
		    size_t n, int *out, struct bw_error *err)
{
	size_t i;

	if (!v)
		return 0;
	if (!json_is_string(v))
		return bw_error_set(err, BW_EINVAL, "breakers.%s.%s: must be a string, got %s",
				    name, path, bw_json_type_name(v));
	for (i = 0; i < n; i++)
		if (strcmp(json_string_value(v), names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	return bw_error_set(err, BW_EINVAL, "breakers.%s.%s: unknown value \"%.64s\"", name, path,
			    json_string_value(v));
}

/* An optional object; NULL when absent. */
static int get_object(const json_t *entry, const char *key, const char *name, const json_t **out,
		      struct bw_error *err)
{
	const json_t *v = bw_json_get(entry, key);

	*out = NULL;
	if (v && !json_is_object(v))
		return bw_error_set(err, BW_EINVAL, "breakers.%s.%s: must be an object, got %s",
				    name, key, bw_json_type_name(v));
	*out = v;
	return 0;
}

int bw_policy_parse_entry(const char *name, const json_t *entry, struct bw_breaker_policy *out,
			  struct bw_error *err)
{
	struct bw_breaker_policy p;
	const json_t *window, *slow, *target, *parent;
	json_int_t n, max_open = -1;
	char path[64];
	int rc, e;
	size_t i;

	if (!name || !out)
		return bw_error_set(err, BW_EINVAL, "policy: name and out are required");
	if (!*name || strlen(name) >= sizeof(p.name))
		return bw_error_set(err, BW_EINVAL, "breakers: a name must be 1..253 bytes");
	if (!json_is_object(entry))
		return bw_error_set(err, BW_EINVAL, "breakers.%s: must be an object, got %s", name,
				    bw_json_type_name(entry));
	bw_policy_defaults(&p);
	snprintf(p.name, sizeof(p.name), "%s", name);

	target = bw_json_get(entry, "target");
	if (!json_is_string(target) || !json_string_length(target))
		return bw_error_set(err, BW_EINVAL, "breakers.%s.target: required, a string", name);
	if (json_string_length(target) >= sizeof(p.target))
		return bw_error_set(err, BW_EINVAL, "breakers.%s.target: longer than 63 bytes",
				    name);
	snprintf(p.target, sizeof(p.target), "%s", json_string_value(target));
	n = 0;
	if ((rc = get_int(bw_json_get(entry, "generation"), name, "generation", 0, INT64_MAX, &n,
			  err)))
		return rc;
	p.generation = n;

	if ((rc = get_object(entry, "slidingWindow", name, &window, err)) ||
	    (rc = get_object(entry, "slowCall", name, &slow, err)))
		return rc;
	for (i = 0; i < sizeof(int_fields) / sizeof(int_fields[0]); i++) {
		const struct int_field *f = &int_fields[i];
		int *dst = (int *)((char *)&p + f->offset);

		parent = !f->parent ? entry : strcmp(f->parent, "slowCall") == 0 ? slow : window;
		snprintf(path, sizeof(path), "%s%s%s", f->parent ? f->parent : "",
			 f->parent ? "." : "", f->key);
		n = *dst;
		if ((rc =
			 get_int(bw_json_get(parent, f->key), name, path, f->min, f->max, &n, err)))
			return rc;
		*dst = (int)n;
	}
	/* maxOpenSeconds defaults to 600, or to openSeconds when that is larger */
	if ((rc = get_int(bw_json_get(entry, "maxOpenSeconds"), name, "maxOpenSeconds", 1,
			  INT32_MAX, &max_open, err)))
		return rc;
	if (max_open < 0)
		max_open = p.open_seconds > DEFAULT_MAX_OPEN_SECONDS ? p.open_seconds
								     : DEFAULT_MAX_OPEN_SECONDS;
	if (max_open < p.open_seconds)
		return bw_error_set(err, BW_EINVAL,
				    "breakers.%s.maxOpenSeconds: %" JSON_INTEGER_FORMAT
				    " is less than openSeconds (%d)",
				    name, max_open, p.open_seconds);
	p.max_open_seconds = (int)max_open;

	e = (int)p.window_type;
	if ((rc = get_enum(bw_json_get(window, "type"), name, "slidingWindow.type", window_names, 2,
			   &e, err)))
		return rc;
	p.window_type = (enum bw_window_type)e;
	e = (int)p.mode;
	if ((rc = get_enum(bw_json_get(entry, "mode"), name, "mode", mode_names,
			   sizeof(mode_names) / sizeof(mode_names[0]), &e, err)))
		return rc;
	p.mode = (enum bw_breaker_mode)e;
	*out = p;
	return 0;
}

void bw_policy_set_release(struct bw_policy_set *set)
{
	if (!set)
		return;
	free(set->items);
	memset(set, 0, sizeof(*set));
}

/* Generous for a file of at most 1 MiB of policies: each is ~20 values, 3 levels. */
#define MAX_VALUES 200000
#define MAX_DEPTH  16

int bw_policy_parse(const char *text, size_t len, struct bw_policy_set *set, struct bw_error *err)
{
	struct bw_policy_set out = {0};
	const json_t *ns, *map, *entry;
	json_t *root = NULL;
	json_error_t jerr;
	const char *name;
	size_t i;
	int rc = 0;

	if (set)
		memset(set, 0, sizeof(*set));
	if (!text || !set)
		return bw_error_set(err, BW_EINVAL, "policy: text and set are required");
	if (len > BW_POLICY_MAX_BYTES)
		return bw_error_set(err, BW_ETOOBIG,
				    "breakers.json: %zu bytes, more than the limit of %d", len,
				    BW_POLICY_MAX_BYTES);
	if ((rc = bw_json_check_shape(text, len, MAX_VALUES, MAX_DEPTH, err))) {
		bw_error_prefix(err, BW_REGISTRY_BREAKERS_KEY);
		return rc;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return bw_error_set(err, BW_EPARSE, "breakers.json: line %d, column %d: %s",
				    jerr.line, jerr.column, jerr.text);
	ns = bw_json_get(root, "namespace");
	map = bw_json_get(root, "breakers");
	if (!json_is_object(root)) {
		rc = bw_error_set(err, BW_EINVAL, "breakers.json: must be an object, got %s",
				  bw_json_type_name(root));
		goto out;
	}
	if (ns && (!json_is_string(ns) || json_string_length(ns) >= sizeof(out.namespace))) {
		rc =
		    bw_error_set(err, BW_EINVAL, "namespace: must be a string of at most 63 bytes");
		goto out;
	}
	if (ns)
		snprintf(out.namespace, sizeof(out.namespace), "%s", json_string_value(ns));
	if (map && !json_is_object(map)) {
		rc = bw_error_set(err, BW_EINVAL, "breakers: must be an object, got %s",
				  bw_json_type_name(map));
		goto out;
	}
	if (map && json_object_size(map)) {
		out.items = calloc(json_object_size(map), sizeof(*out.items));
		if (!out.items) {
			rc = bw_error_set(err, BW_ENOMEM, "breakers.json: out of memory");
			goto out;
		}
	}
	json_object_foreach((json_t *)map, name, entry)
	{
		if ((rc = bw_policy_parse_entry(name, entry, &out.items[out.n], err)))
			goto out;
		for (i = 0; i < out.n; i++)
			if (strcmp(out.items[i].target, out.items[out.n].target) == 0) {
				rc = bw_error_set(err, BW_EINVAL,
						  "breakers.%s.target: \"%s\" is also the target "
						  "of breakers.%s",
						  name, out.items[i].target, out.items[i].name);
				goto out;
			}
		out.n++;
	}
	*set = out;
	out.items = NULL;
out:
	free(out.items);
	json_decref(root);
	return rc;
}

const struct bw_breaker_policy *bw_policy_find_target(const struct bw_policy_set *set,
						      const char *target)
{
	size_t i;

	for (i = 0; set && target && i < set->n; i++)
		if (strcmp(set->items[i].target, target) == 0)
			return &set->items[i];
	return NULL;
}

int bw_policy_same_behaviour(const struct bw_breaker_policy *a, const struct bw_breaker_policy *b)
{
	return strcmp(a->target, b->target) == 0 && a->failure_threshold == b->failure_threshold &&
	       a->failure_rate_threshold == b->failure_rate_threshold &&
	       a->minimum_calls == b->minimum_calls && a->window_type == b->window_type &&
	       a->window_size == b->window_size &&
	       a->slow_call_duration_ms == b->slow_call_duration_ms &&
	       a->slow_call_rate_threshold == b->slow_call_rate_threshold &&
	       a->open_seconds == b->open_seconds && a->max_open_seconds == b->max_open_seconds &&
	       a->backoff_multiplier == b->backoff_multiplier &&
	       a->half_open_calls == b->half_open_calls && a->mode == b->mode;
}
