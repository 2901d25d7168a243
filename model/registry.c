/*
 * The registry ConfigMap: see registry.h. Building follows the same pattern
 * as render.c: jansson's stealing setters in a chain (`bad |=
 * json_object_set_new(...)`), which release the value on every failure, and
 * one check at the end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "json.h"
#include "error.h"
#include "breaker_policy.h"
#include "registry.h"
#include "rules.h"
#include "render.h"

#define DUMP_FLAGS (JSON_SORT_KEYS | JSON_COMPACT)

/* An integer field of a Breaker's spec, with its default and range. */
struct int_field {
	const char *parent; /* "slidingWindow", "slowCall", or NULL for spec itself */
	const char *key;
	json_int_t def, min, max;
};

#define INT_FIELD(parent, key, def, min, max, member) {parent, key, def, min, max},
static const struct int_field breaker_ints[] = {BW_BREAKER_INT_FIELDS(INT_FIELD)};
#undef INT_FIELD

static const char *const breaker_modes[] = {BW_BREAKER_MODE_NAMES};
static const char *const window_types[] = {BW_BREAKER_WINDOW_NAMES};

#define DEFAULT_MAX_OPEN_SECONDS BW_BREAKER_DEFAULT_MAX_OPEN_SECONDS

/* An optional integer in min..max, def when absent. */
static int get_int(const json_t *v, const char *path, json_int_t def, json_int_t min,
		   json_int_t max, json_int_t *out, struct bw_error *err)
{
	*out = def;
	return bw_json_int_in_range(v, path, min, max, out, err);
}

/* An optional string among allowed[n], allowed[0] when absent. */
static int get_enum(const json_t *v, const char *path, const char *const *allowed, size_t n,
		    const char **out, struct bw_error *err)
{
	char list[160] = "";
	size_t i, len = 0;

	*out = allowed[0];
	if (!v)
		return 0;
	if (json_is_string(v))
		for (i = 0; i < n; i++)
			if (strcmp(json_string_value(v), allowed[i]) == 0) {
				*out = allowed[i];
				return 0;
			}
	for (i = 0; i < n && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "",
					allowed[i]);
	if (json_is_string(v))
		return bw_error_set(err, BW_EINVAL, "%s: \"%s\" is not one of %s", path,
				    json_string_value(v), list);
	return bw_error_set(err, BW_EINVAL, "%s: must be a string (one of %s), got %s", path, list,
			    bw_json_type_name(v));
}

/* An optional object: spec.slidingWindow, spec.slowCall. */
static int get_object(const json_t *obj, const char *key, const char *path, const json_t **out,
		      struct bw_error *err)
{
	const json_t *v = bw_json_get(obj, key);

	*out = v;
	if (v && !json_is_object(v))
		return bw_error_set(err, BW_EINVAL, "%s: must be an object, got %s", path,
				    bw_json_type_name(v));
	return 0;
}

/* Reads the Breaker's fields and fills the policy object p (its sub-objects exist). */
static int fill_policy(const json_t *breaker, json_t *p, struct bw_error *err)
{
	const json_t *md = bw_json_get(breaker, "metadata"), *spec = bw_json_get(breaker, "spec");
	const json_t *window, *slow, *parent, *target;
	const char *mode, *wtype;
	json_int_t generation, n, open_seconds = 0, max_open;
	char path[96];
	size_t i;
	int rc, bad = 0;

	if (!json_is_object(md) || !json_is_string(bw_json_get(md, "name")) ||
	    !json_string_length(bw_json_get(md, "name")))
		return bw_error_set(err, BW_EINVAL, "metadata.name: required");
	if (!json_is_object(spec))
		return bw_error_set(err, BW_EINVAL, "spec.target: required");
	if ((rc = get_int(bw_json_get(md, "generation"), "metadata.generation", 0, 0, INT64_MAX,
			  &generation, err)))
		return rc;
	target = bw_json_get(spec, "target");
	if (target && !json_is_string(target))
		return bw_error_set(err, BW_EINVAL, "spec.target: must be a string, got %s",
				    bw_json_type_name(target));
	if (!target || !json_string_length(target))
		return bw_error_set(err, BW_EINVAL, "spec.target: required");
	if ((rc = get_object(spec, "slidingWindow", "spec.slidingWindow", &window, err)) ||
	    (rc = get_object(spec, "slowCall", "spec.slowCall", &slow, err)))
		return rc;

	for (i = 0; i < sizeof(breaker_ints) / sizeof(breaker_ints[0]); i++) {
		const struct int_field *f = &breaker_ints[i];

		parent = !f->parent ? spec : strcmp(f->parent, "slowCall") == 0 ? slow : window;
		snprintf(path, sizeof(path), "spec.%s%s%s", f->parent ? f->parent : "",
			 f->parent ? "." : "", f->key);
		if ((rc = get_int(bw_json_get(parent, f->key), path, f->def, f->min, f->max, &n,
				  err)))
			return rc;
		if (strcmp(f->key, "openSeconds") == 0)
			open_seconds = n;
		bad |= json_object_set_new(f->parent ? json_object_get(p, f->parent) : p, f->key,
					   json_integer(n));
	}
	/* maxOpenSeconds is at least openSeconds, also when defaulted */
	if ((rc = get_int(bw_json_get(spec, "maxOpenSeconds"), "spec.maxOpenSeconds",
			  open_seconds > DEFAULT_MAX_OPEN_SECONDS ? open_seconds
								  : DEFAULT_MAX_OPEN_SECONDS,
			  1, INT32_MAX, &max_open, err)))
		return rc;
	if (max_open < open_seconds)
		return bw_error_set(err, BW_EINVAL,
				    "spec.maxOpenSeconds: %" JSON_INTEGER_FORMAT
				    " is less than spec.openSeconds (%" JSON_INTEGER_FORMAT ")",
				    max_open, open_seconds);
	if ((rc = get_enum(bw_json_get(window, "type"), "spec.slidingWindow.type", window_types,
			   sizeof(window_types) / sizeof(window_types[0]), &wtype, err)) ||
	    (rc = get_enum(bw_json_get(spec, "mode"), "spec.mode", breaker_modes,
			   sizeof(breaker_modes) / sizeof(breaker_modes[0]), &mode, err)))
		return rc;

	bad |= json_object_set_new(p, "target", json_string(json_string_value(target)));
	bad |= json_object_set_new(p, "generation", json_integer(generation));
	bad |= json_object_set_new(p, "maxOpenSeconds", json_integer(max_open));
	bad |= json_object_set_new(json_object_get(p, "slidingWindow"), "type", json_string(wtype));
	bad |= json_object_set_new(p, "mode", json_string(mode));
	if (bad)
		return bw_error_set(err, BW_ENOMEM, "registry: out of memory");
	return 0;
}

int bw_registry_breaker_policy(const json_t *breaker, json_t **out, struct bw_error *err)
{
	json_t *p = NULL;
	int rc;

	if (out)
		*out = NULL;
	if (!breaker || !out) {
		rc = bw_error_set(err, BW_EINVAL, "registry: breaker and out are required");
		goto out;
	}
	p = json_object();
	if (!p || json_object_set_new(p, "slidingWindow", json_object()) ||
	    json_object_set_new(p, "slowCall", json_object())) {
		rc = bw_error_set(err, BW_ENOMEM, "registry: out of memory");
		goto out;
	}
	if ((rc = fill_policy(breaker, p, err)))
		goto out;
	*out = p;
	p = NULL;
out:
	json_decref(p);
	return rc;
}

long bw_registry_gather_ms(size_t registry_bytes)
{
	const long span = BW_REGISTRY_GATHER_MAX_MS - BW_REGISTRY_GATHER_MIN_MS;

	if (registry_bytes >= BW_REGISTRY_MAX_BYTES)
		return BW_REGISTRY_GATHER_MAX_MS;
	return BW_REGISTRY_GATHER_MIN_MS +
	       (long)((double)span * (double)registry_bytes / BW_REGISTRY_MAX_BYTES);
}

/* A namespace name: a DNS label. */
static int is_namespace(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 63)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/* Whether obj belongs in the namespace's registry at all. */
static int listed(const json_t *obj, const char *namespace)
{
	const json_t *md = bw_json_get(obj, "metadata");
	const json_t *ns = bw_json_get(md, "namespace");

	/* a missing namespace is taken as the one built for (the caller lists by namespace) */
	if (ns && (!json_is_string(ns) || strcmp(json_string_value(ns), namespace) != 0))
		return 0;
	return !bw_json_get(md, "deletionTimestamp");
}

/* The registry.json entry of a valid Service, without readyReplicas; NULL
 * on allocation failure. */
static json_t *service_entry(const json_t *svc, const char *namespace)
{
	const json_t *spec = bw_json_get(svc, "spec"), *hc = bw_json_get(spec, "healthCheck");
	const json_t *deps = bw_json_get(spec, "dependsOn");
	const char *name = json_string_value(bw_json_get(bw_json_get(svc, "metadata"), "name"));
	json_int_t port = bw_json_get(spec, "port") ? json_integer_value(bw_json_get(spec, "port"))
						    : BW_RENDER_DEFAULT_PORT;
	json_t *e = json_object();
	int bad = 0;

	/* the URL bw_render_url() gives status.url, with the namespace built for */
	bad |= json_object_set_new(e, "url",
				   json_sprintf("http://%s.%s.svc.%s:%" JSON_INTEGER_FORMAT, name,
						namespace, BW_RENDER_CLUSTER_DOMAIN, port));
	bad |= json_object_set_new(e, "port", json_integer(port));
	if (hc)
		bad |=
		    json_object_set_new(e, "healthPath", json_deep_copy(bw_json_get(hc, "path")));
	bad |= json_object_set_new(e, "image", json_deep_copy(bw_json_get(spec, "image")));
	bad |= json_object_set_new(e, "dependsOn", deps ? json_deep_copy(deps) : json_array());
	if (bad) {
		json_decref(e);
		return NULL;
	}
	return e;
}

int bw_registry_service_entry(const json_t *svc, const char *namespace, json_t **out,
			      struct bw_error *err)
{
	if (out)
		*out = NULL;
	if (!svc || !namespace || !out)
		return bw_error_set(err, BW_EINVAL,
				    "registry: service, namespace and out are required");
	/* an invalid Service is reported by its own reconciler, not here */
	if (!listed(svc, namespace) || bw_render_validate(svc, NULL))
		return 0;
	*out = service_entry(svc, namespace);
	return *out ? 0 : bw_error_set(err, BW_ENOMEM, "registry: out of memory");
}

/* Fills the "services" map from the entries and the ready replicas; compact
 * keeps only url and readyReplicas. */
static int add_services(json_t *map, const json_t *entries, const json_t *ready_replicas,
			int compact, struct bw_error *err)
{
	const json_t *entry, *ready;
	const char *name;
	json_int_t n;
	json_t *e;

	json_object_foreach((json_t *)entries, name, entry)
	{
		if (!json_is_object(entry))
			return bw_error_set(err, BW_EINVAL,
					    "registry: the entry of %s is not an object", name);
		ready = bw_json_get(ready_replicas, name);
		n = json_is_integer(ready) ? json_integer_value(ready) : 0;
		e = compact ? json_pack("{s:O*}", "url", bw_json_get(entry, "url"))
			    : json_copy((json_t *)entry);
		if (!e || json_object_set_new(e, "readyReplicas", json_integer(n > 0 ? n : 0)) ||
		    json_object_set_new(map, name, e))
			return bw_error_set(err, BW_ENOMEM, "registry: out of memory");
	}
	return 0;
}

/* Fills the "breakers" map from the Breaker objects. */
static int add_breakers(json_t *map, const char *namespace, const json_t *breakers,
			struct bw_error *err)
{
	const struct bw_breaker_view **views = NULL;
	const json_t *brk;
	json_t *policy;
	size_t i, n;
	int rc = 0;

	if (bw_breaker_views_read(breakers, &views, &n) != 0)
		return bw_error_set(err, BW_ENOMEM, "registry: out of memory");
	json_array_foreach(breakers, i, brk)
	{
		if (!listed(brk, namespace))
			continue;
		/* two policies for one target: only the earliest is applied (rules.h) */
		if (bw_rules_breaker_holder(views[i], views, n))
			continue; /* reported by the later Breaker's reconciler */
		rc = bw_registry_breaker_policy(brk, &policy, NULL);
		if (rc == BW_EINVAL) {
			rc = 0;
			continue; /* reported by the Breaker's reconciler */
		}
		if (rc ||
		    json_object_set_new(
			map, json_string_value(bw_json_get(bw_json_get(brk, "metadata"), "name")),
			policy)) {
			rc = bw_error_set(err, BW_ENOMEM, "registry: out of memory");
			break;
		}
	}
	bw_breaker_views_free(views);
	return rc;
}

/* {"namespace": NS, KEY: map} serialised, with "compact": true when it
 * is; stores the text in *text (free()). */
static int dump(const char *namespace, const char *key, json_t *map, int compact, char **text,
		struct bw_error *err)
{
	json_t *doc = json_object();
	int bad = 0;

	bad |= json_object_set_new(doc, "namespace", json_string(namespace));
	bad |= json_object_set(doc, key, map);
	if (compact)
		bad |= json_object_set_new(doc, "compact", json_true());
	*text = bad ? NULL : json_dumps(doc, DUMP_FLAGS);
	json_decref(doc);
	if (!*text)
		return bw_error_set(err, BW_ENOMEM, "registry: out of memory serialising %s", key);
	return 0;
}

/* Checks the arguments both builds share. */
static int check_args(const char *namespace, const json_t *breakers, const json_t *ready_replicas,
		      json_t **configmap, struct bw_error *err)
{
	if (configmap)
		*configmap = NULL;
	if (!configmap || !namespace)
		return bw_error_set(err, BW_EINVAL,
				    "registry: namespace and configmap are required");
	if (!is_namespace(namespace))
		return bw_error_set(err, BW_EINVAL, "registry: \"%.80s\" is not a namespace name",
				    namespace);
	if ((breakers && !json_is_array(breakers)) ||
	    (ready_replicas && !json_is_object(ready_replicas)))
		return bw_error_set(err, BW_EINVAL,
				    "registry: services and breakers must be arrays, "
				    "ready_replicas an object");
	return 0;
}

/* registry.json's text, in the full form or the compact one. */
static int registry_text(const char *namespace, const json_t *entries, const json_t *ready_replicas,
			 int compact, char **text, struct bw_error *err)
{
	json_t *map = json_object();
	int rc;

	*text = NULL;
	if (!map)
		return bw_error_set(err, BW_ENOMEM, "registry: out of memory");
	if ((rc = add_services(map, entries, ready_replicas, compact, err)) == 0)
		rc = dump(namespace, "services", map, compact, text, err);
	json_decref(map);
	return rc;
}

/* Makes registry.json's text in the full form or the compact one. */
typedef int registry_text_fn(const void *arg, int compact, char **text, struct bw_error *err);

/* The ConfigMap around the registry.json that text() makes, in the full
 * form when it fits and the compact one else (registry.h). */
static int build_configmap(const char *namespace, const json_t *breakers, registry_text_fn *text,
			   const void *arg, json_t **configmap, struct bw_error *err)
{
	json_t *brk_map = json_object(), *cm = NULL;
	char *registry = NULL, *breakers_text = NULL;
	size_t size = 0, fixed;
	int rc, compact;

	if (!brk_map) {
		rc = bw_error_set(err, BW_ENOMEM, "registry: out of memory");
		goto out;
	}
	if ((rc = add_breakers(brk_map, namespace, breakers, err)) ||
	    (rc = dump(namespace, "breakers", brk_map, 0, &breakers_text, err)))
		goto out;
	fixed = strlen(BW_REGISTRY_KEY) + strlen(BW_REGISTRY_BREAKERS_KEY) + strlen(breakers_text);
	/* the full form, else the compact one (registry.h) */
	for (compact = 0; compact < 2; compact++) {
		free(registry);
		if ((rc = text(arg, compact, &registry, err)))
			goto out;
		size = fixed + strlen(registry);
		if (size <= BW_REGISTRY_MAX_BYTES)
			break;
	}
	if (size > BW_REGISTRY_MAX_BYTES) {
		rc = bw_error_set(
		    err, BW_ETOOBIG,
		    "registry: ConfigMap %s/%s would hold %zu bytes even in the compact "
		    "form, more than %d",
		    namespace, BW_REGISTRY_NAME, size, BW_REGISTRY_MAX_BYTES);
		goto out;
	}

	cm = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:s, s:s}}", "apiVersion", "v1",
		       "kind", "ConfigMap", "metadata", "name", BW_REGISTRY_NAME, "namespace",
		       namespace, "labels", BW_LABEL_MANAGED, BW_MANAGER, "data", BW_REGISTRY_KEY,
		       registry, BW_REGISTRY_BREAKERS_KEY, breakers_text);
	if (!cm) {
		rc = bw_error_set(err, BW_ENOMEM, "registry: cannot build ConfigMap %s/%s",
				  namespace, BW_REGISTRY_NAME);
		goto out;
	}
	*configmap = cm;
	rc = 0;
out:
	free(registry);
	free(breakers_text);
	json_decref(brk_map);
	return rc;
}

/* registry_text() for build_configmap(). */
struct json_args {
	const char *namespace;
	const json_t *entries, *ready_replicas;
};

static int json_text(const void *arg, int compact, char **text, struct bw_error *err)
{
	const struct json_args *a = arg;

	return registry_text(a->namespace, a->entries, a->ready_replicas, compact, text, err);
}

int bw_registry_build_entries(const char *namespace, const json_t *entries, const json_t *breakers,
			      const json_t *ready_replicas, json_t **configmap,
			      struct bw_error *err)
{
	struct json_args a = {namespace, entries, ready_replicas};
	int rc;

	if ((rc = check_args(namespace, breakers, ready_replicas, configmap, err)))
		return rc;
	if (entries && !json_is_object(entries))
		return bw_error_set(err, BW_EINVAL, "registry: entries must be an object");
	return build_configmap(namespace, breakers, json_text, &a, configmap, err);
}

/* ---- registry.json from the entries' texts ---- */

/* The texts of a build and where each entry's "url" key starts. */
struct text_args {
	const char *namespace;
	const struct bw_registry_text_entry *e;
	const size_t *url_at;
	size_t n;
};

/* A name the text is written with as it is: what jansson would write
 * unescaped, and more than any Service name holds (DNS names). */
static int plain_name(const char *s)
{
	if (!s || !*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '.'))
			return 0;
	return 1;
}

/* Where the "url" key of a compact, sorted entry text starts: the last key,
 * a string with no quote in it, so the text ends `,"url":"...."}`. 0 when
 * the text is not of that shape. */
static size_t url_key_at(const char *entry)
{
	static const char key[] = ",\"url\":\"";
	size_t n = entry ? strlen(entry) : 0, i;

	if (n < sizeof(key) + 2 || entry[0] != '{' || entry[n - 1] != '}' || entry[n - 2] != '"')
		return 0;
	for (i = n - 3; i > 0 && entry[i] != '"'; i--)
		;
	/* entry[i] is the url value's opening quote */
	if (i < sizeof(key) - 2 || memcmp(entry + i + 2 - sizeof(key), key, sizeof(key) - 1) != 0)
		return 0;
	return i + 2 - sizeof(key) + 1; /* after the comma */
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct bw_registry_text_entry *)a)->name,
		      ((const struct bw_registry_text_entry *)b)->name);
}

/* Appends n bytes of s at *p. */
static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

static int texts_text(const void *arg, int compact, char **text, struct bw_error *err)
{
	const struct text_args *a = arg;
	char head[160], ready[48];
	size_t len, i, hl;
	int rl;
	char *p;

	hl = (size_t)snprintf(head, sizeof(head), "{%s\"namespace\":\"%s\",\"services\":{",
			      compact ? "\"compact\":true," : "", a->namespace);
	len = hl + 2;
	for (i = 0; i < a->n; i++)
		/* "name":{ ... "readyReplicas":N, ...}, with a ready count of 20 digits at most */
		len += strlen(a->e[i].name) + 4 + sizeof(ready) +
		       (compact ? strlen(a->e[i].entry) - a->url_at[i] + 1 : strlen(a->e[i].entry));
	if (!(p = *text = malloc(len + 1)))
		return bw_error_set(err, BW_ENOMEM, "registry: out of memory");
	p = put(p, head, hl);
	for (i = 0; i < a->n; i++) {
		const char *e = a->e[i].entry;

		rl = snprintf(ready, sizeof(ready), "\"readyReplicas\":%ld,",
			      a->e[i].ready > 0 ? a->e[i].ready : 0);
		if (i)
			*p++ = ',';
		*p++ = '"';
		p = put(p, a->e[i].name, strlen(a->e[i].name));
		p = put(p, "\":", 2);
		if (compact) {
			*p++ = '{';
		} else {
			p = put(p, e, a->url_at[i]);
		}
		p = put(p, ready, (size_t)rl);
		p = put(p, e + a->url_at[i], strlen(e + a->url_at[i]));
	}
	p = put(p, "}}", 2);
	*p = '\0';
	return 0;
}

/* The jansson path, for a build the splice cannot take. */
static int texts_as_json(const char *namespace, const struct bw_registry_text_entry *e, size_t n,
			 const json_t *breakers, json_t **configmap, struct bw_error *err)
{
	json_t *entries = json_object(), *ready = json_object(), *entry;
	int rc = 0;

	for (size_t i = 0; entries && ready && !rc && i < n; i++) {
		/* a string may hold "\u0000" (the fuzz target found an image that
		 * does): the text reads back as the object it came from */
		entry = e[i].entry ? json_loads(e[i].entry, JSON_ALLOW_NUL, NULL) : NULL;
		if (!entry)
			rc = bw_error_set(err, BW_EINVAL, "registry: the entry of %s is not JSON",
					  e[i].name ? e[i].name : "(no name)");
		else if (!e[i].name || json_object_set_new(entries, e[i].name, entry) ||
			 json_object_set_new(ready, e[i].name, json_integer(e[i].ready)))
			rc = bw_error_set(err, BW_ENOMEM, "registry: out of memory");
	}
	if (!entries || !ready)
		rc = bw_error_set(err, BW_ENOMEM, "registry: out of memory");
	if (!rc)
		rc = bw_registry_build_entries(namespace, entries, breakers, ready, configmap, err);
	json_decref(entries);
	json_decref(ready);
	return rc;
}

int bw_registry_build_texts(const char *namespace, struct bw_registry_text_entry *entries, size_t n,
			    const json_t *breakers, json_t **configmap, struct bw_error *err)
{
	struct text_args a = {namespace, entries, NULL, n};
	size_t *url_at = NULL, i;
	int rc, plain = 1;

	if ((rc = check_args(namespace, breakers, NULL, configmap, err)))
		return rc;
	if (n && !entries)
		return bw_error_set(err, BW_EINVAL, "registry: entries are required");
	if (n && !(url_at = malloc(n * sizeof(*url_at))))
		return bw_error_set(err, BW_ENOMEM, "registry: out of memory");
	if (n)
		qsort(entries, n, sizeof(*entries), by_name);
	for (i = 0; plain && i < n; i++) {
		plain = plain_name(entries[i].name) && (url_at[i] = url_key_at(entries[i].entry)) &&
			(i == 0 || strcmp(entries[i - 1].name, entries[i].name) != 0);
	}
	a.url_at = url_at;
	rc = plain ? build_configmap(namespace, breakers, texts_text, &a, configmap, err)
		   : texts_as_json(namespace, entries, n, breakers, configmap, err);
	free(url_at);
	return rc;
}

int bw_registry_build(const char *namespace, const json_t *services, const json_t *breakers,
		      const json_t *ready_replicas, json_t **configmap, struct bw_error *err)
{
	json_t *entries = json_object(), *entry;
	const json_t *svc;
	size_t i;
	int rc;

	if ((rc = check_args(namespace, breakers, ready_replicas, configmap, err)))
		goto out;
	if (services && !json_is_array(services)) {
		rc = bw_error_set(err, BW_EINVAL,
				  "registry: services and breakers must be arrays, "
				  "ready_replicas an object");
		goto out;
	}
	if (!entries) {
		rc = bw_error_set(err, BW_ENOMEM, "registry: out of memory");
		goto out;
	}
	json_array_foreach(services, i, svc)
	{
		if ((rc = bw_registry_service_entry(svc, namespace, &entry, err)))
			goto out;
		if (entry && json_object_set_new(entries,
						 json_string_value(bw_json_get(
						     bw_json_get(svc, "metadata"), "name")),
						 entry)) {
			rc = bw_error_set(err, BW_ENOMEM, "registry: out of memory");
			goto out;
		}
	}
	rc =
	    bw_registry_build_entries(namespace, entries, breakers, ready_replicas, configmap, err);
out:
	json_decref(entries);
	return rc;
}

static int parse_error(struct bw_error *err, const char *name, const char *key, const char *what,
		       const json_t *v)
{
	return bw_error_set(err, BW_EPARSE, "registry.json: services.%s.%s: must be %s, got %s",
			    name, key, what, v ? bw_json_type_name(v) : "nothing");
}

/* Checks one services.NAME entry of a registry.json. */
static int check_entry(const char *name, const json_t *e, struct bw_error *err)
{
	static const char *const strings[] = {"healthPath", "image"};
	static const char *const integers[] = {"port", "readyReplicas"};
	const json_t *v, *d;
	size_t i;

	if (!json_is_object(e))
		return bw_error_set(err, BW_EPARSE,
				    "registry.json: services.%s: must be an object, "
				    "got %s",
				    name, bw_json_type_name(e));
	if (!json_is_string(v = json_object_get(e, "url")))
		return parse_error(err, name, "url", "a string", v);
	for (i = 0; i < 2; i++) {
		if ((v = json_object_get(e, strings[i])) && !json_is_string(v))
			return parse_error(err, name, strings[i], "a string", v);
		if ((v = json_object_get(e, integers[i])) && !json_is_integer(v))
			return parse_error(err, name, integers[i], "an integer", v);
	}
	if ((v = json_object_get(e, "dependsOn")) && !json_is_array(v))
		return parse_error(err, name, "dependsOn", "an array", v);
	json_array_foreach(v, i, d)
	{
		if (!json_is_string(d))
			return bw_error_set(err, BW_EPARSE,
					    "registry.json: services.%s.dependsOn[%zu]: must be a "
					    "string, got %s",
					    name, i, bw_json_type_name(d));
	}
	return 0;
}

int bw_registry_parse(const char *registry_json, json_t **out, struct bw_error *err)
{
	json_t *doc = NULL, *services, *e;
	const char *name;
	json_error_t jerr;
	size_t len;
	int rc = 0;

	if (out)
		*out = NULL;
	if (!registry_json || !out) {
		rc = bw_error_set(err, BW_EINVAL, "registry: text and out are required");
		goto out;
	}
	len = strnlen(registry_json, BW_REGISTRY_MAX_BYTES + 1);
	if (len > BW_REGISTRY_MAX_BYTES) {
		rc = bw_error_set(err, BW_ETOOBIG, "registry.json: more than %d bytes",
				  BW_REGISTRY_MAX_BYTES);
		goto out;
	}
	doc = json_loadb(registry_json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		rc = bw_error_set(err, BW_EPARSE, "registry.json: line %d, column %d: %s",
				  jerr.line, jerr.column, jerr.text);
		goto out;
	}
	if (!json_is_object(doc)) {
		rc = bw_error_set(err, BW_EPARSE, "registry.json: must be an object, got %s",
				  bw_json_type_name(doc));
		goto out;
	}
	if (!json_is_string(json_object_get(doc, "namespace"))) {
		rc = bw_error_set(err, BW_EPARSE, "registry.json: namespace: must be a string");
		goto out;
	}
	services = json_object_get(doc, "services");
	if (!json_is_object(services)) {
		rc = bw_error_set(err, BW_EPARSE, "registry.json: services: must be an object");
		goto out;
	}
	json_object_foreach(services, name, e)
	{
		if ((rc = check_entry(name, e, err)))
			goto out;
	}
	*out = doc;
	doc = NULL;
out:
	json_decref(doc);
	return rc;
}
