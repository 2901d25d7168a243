/* Rules about a Service that need other Services: see rules.h. */
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "render.h"
#include "rules.h"

static const char *field(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s && *s ? s : NULL;
}

static int cmp(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

int bw_service_view_read(const json_t *svc, struct bw_service_view *v)
{
	const json_t *meta = json_object_get(svc, "metadata"), *spec = json_object_get(svc, "spec");
	const json_t *route = json_object_get(spec, "route"), *deps, *d, *port;
	const char **names = NULL, *sidecar;
	size_t i;

	memset(v, 0, sizeof(*v));
	deps = json_object_get(spec, "dependsOn");
	if (json_array_size(deps) > 0) {
		names = calloc(json_array_size(deps), sizeof(*names));
		if (!names)
			return -1;
		json_array_foreach(deps, i, d) names[i] = json_string_value(d);
		v->depends_on = names;
		v->n_depends_on = json_array_size(deps);
	}
	v->ns = field(meta, "namespace");
	v->name = field(meta, "name");
	v->created = field(meta, "creationTimestamp");
	v->deleting = json_object_get(meta, "deletionTimestamp") != NULL;
	v->has_route = json_is_object(route);
	if (v->has_route) {
		v->route_host = field(route, "host");
		v->route_path = field(route, "pathPrefix");
	}
	port = json_object_get(spec, "port");
	v->port = json_is_integer(port) ? (long)json_integer_value(port) : BW_RENDER_DEFAULT_PORT;
	sidecar = field(spec, "breakerSidecar");
	v->breaker_sidecar = !sidecar				? 0
			     : strcmp(sidecar, "Enabled") == 0	? 1
			     : strcmp(sidecar, "Disabled") == 0 ? -1
								: 0;
	return 0;
}

void bw_service_view_release(struct bw_service_view *v)
{
	if (!v)
		return;
	free((void *)v->depends_on);
	memset(v, 0, sizeof(*v));
}

void bw_breaker_view_read(const json_t *brk, struct bw_breaker_view *v)
{
	const json_t *meta = json_object_get(brk, "metadata");
	json_t *policy = NULL;

	memset(v, 0, sizeof(*v));
	v->ns = field(meta, "namespace");
	v->name = field(meta, "name");
	v->created = field(meta, "creationTimestamp");
	v->deleting = json_object_get(meta, "deletionTimestamp") != NULL;
	v->target = field(json_object_get(brk, "spec"), "target");
	v->valid = bw_registry_breaker_policy(brk, &policy, NULL) == 0;
	json_decref(policy);
}

/* n pointers followed by the n views they point to, in one allocation. */
static void *views_alloc(size_t n, size_t size)
{
	char *mem = calloc(1, n * (sizeof(void *) + size) + 1);
	void **p = (void **)mem;

	for (size_t i = 0; mem && i < n; i++)
		p[i] = mem + n * sizeof(void *) + i * size;
	return mem;
}

int bw_service_views_read(const json_t *array, const struct bw_service_view ***views, size_t *n)
{
	size_t count = json_array_size(array), i;
	struct bw_service_view **p = views_alloc(count, sizeof(struct bw_service_view));

	*views = NULL;
	*n = 0;
	if (!p)
		return -1;
	for (i = 0; i < count; i++) {
		if (bw_service_view_read(json_array_get(array, i), p[i]) != 0) {
			bw_service_views_free((const struct bw_service_view **)p, i);
			return -1;
		}
	}
	*views = (const struct bw_service_view **)p;
	*n = count;
	return 0;
}

int bw_breaker_views_read(const json_t *array, const struct bw_breaker_view ***views, size_t *n)
{
	size_t count = json_array_size(array), i;
	struct bw_breaker_view **p = views_alloc(count, sizeof(struct bw_breaker_view));

	*views = NULL;
	*n = 0;
	if (!p)
		return -1;
	for (i = 0; i < count; i++)
		bw_breaker_view_read(json_array_get(array, i), p[i]);
	*views = (const struct bw_breaker_view **)p;
	*n = count;
	return 0;
}

void bw_service_views_free(const struct bw_service_view **views, size_t n)
{
	for (size_t i = 0; views && i < n; i++)
		bw_service_view_release((struct bw_service_view *)views[i]);
	free((void *)views);
}

void bw_breaker_views_free(const struct bw_breaker_view **views)
{
	free((void *)views);
}

static int counts(const char *name, int deleting)
{
	return name && !deleting;
}

int bw_rules_same_route(const struct bw_service_view *a, const struct bw_service_view *b)
{
	const char *ha = a->route_host, *hb = b->route_host;

	return a->has_route && b->has_route && a->route_path && b->route_path &&
	       strcmp(a->route_path, b->route_path) == 0 &&
	       ((!ha && !hb) || (ha && hb && !strcmp(ha, hb)));
}

int bw_rules_same_object(const char *ns_a, const char *name_a, const char *ns_b, const char *name_b)
{
	return cmp(ns_a, ns_b) == 0 && cmp(name_a, name_b) == 0;
}

int bw_rules_earlier(const char *ta, const char *ns_a, const char *name_a, const char *tb,
		     const char *ns_b, const char *name_b)
{
	/* RFC 3339 UTC times of one format compare as strings; an object not yet
	 * stored (no time: an admission request) comes last */
	int c;

	if (ta && !tb)
		return 1;
	if (!ta && tb)
		return 0;
	if ((c = cmp(ta, tb)) != 0)
		return c < 0;
	if ((c = cmp(ns_a, ns_b)) != 0)
		return c < 0;
	return cmp(name_a, name_b) < 0;
}

static int service_earlier(const struct bw_service_view *a, const struct bw_service_view *b)
{
	return bw_rules_earlier(a->created, a->ns, a->name, b->created, b->ns, b->name);
}

static int breaker_earlier(const struct bw_breaker_view *a, const struct bw_breaker_view *b)
{
	return bw_rules_earlier(a->created, a->ns, a->name, b->created, b->ns, b->name);
}

const struct bw_service_view *bw_rules_route_holder(const struct bw_service_view *svc,
						    const struct bw_service_view *const *services,
						    size_t n, int earlier_only)
{
	const struct bw_service_view *best = NULL;

	if (!svc->has_route)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const struct bw_service_view *other = services[i];

		if (!counts(other->name, other->deleting) ||
		    bw_rules_same_object(svc->ns, svc->name, other->ns, other->name) ||
		    !bw_rules_same_route(svc, other))
			continue;
		if (earlier_only && !service_earlier(other, svc))
			continue;
		if (!best || service_earlier(other, best))
			best = other;
	}
	return best;
}

int bw_rules_service_exists(const struct bw_service_view *const *services, size_t n, const char *ns,
			    const char *name)
{
	for (size_t i = 0; i < n; i++) {
		const struct bw_service_view *other = services[i];

		/* an unknown namespace (an object as admission sees it) matches */
		if (counts(other->name, other->deleting) &&
		    (!ns || !other->ns || strcmp(other->ns, ns) == 0) &&
		    strcmp(other->name, name) == 0)
			return 1;
	}
	return 0;
}

int bw_rules_missing_dependencies(const struct bw_service_view *svc,
				  const struct bw_service_view *const *services, size_t n,
				  json_t *missing)
{
	const json_t *seen;
	const char *name;
	size_t i, j;
	int dup;

	for (i = 0; i < svc->n_depends_on; i++) {
		name = svc->depends_on[i];
		if (!name || !*name || (svc->name && strcmp(name, svc->name) == 0) ||
		    bw_rules_service_exists(services, n, svc->ns, name))
			continue;
		dup = 0;
		json_array_foreach(missing, j, seen)
		{
			if (json_string_value(seen) && strcmp(json_string_value(seen), name) == 0)
				dup = 1;
		}
		if (!dup && json_array_append_new(missing, json_string(name)) != 0)
			return -1;
	}
	return 0;
}

const struct bw_breaker_view *bw_rules_breaker_holder(const struct bw_breaker_view *brk,
						      const struct bw_breaker_view *const *breakers,
						      size_t n)
{
	const struct bw_breaker_view *best = NULL;

	if (!brk->target)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const struct bw_breaker_view *other = breakers[i];

		if (!counts(other->name, other->deleting) ||
		    bw_rules_same_object(brk->ns, brk->name, other->ns, other->name) ||
		    (brk->ns && other->ns && strcmp(brk->ns, other->ns) != 0) ||
		    cmp(other->target, brk->target) != 0 || !breaker_earlier(other, brk) ||
		    (best && !breaker_earlier(other, best)) || !other->valid)
			continue;
		best = other;
	}
	return best;
}
