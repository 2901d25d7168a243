/* Rules about a Service that need other Services: see rules.h. */
#include <string.h>

#include "registry.h"
#include "rules.h"

static const char *field(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s && *s ? s : NULL;
}

static const json_t *meta(const json_t *obj)
{
	return json_object_get(obj, "metadata");
}

static const json_t *route_of(const json_t *svc)
{
	const json_t *r = json_object_get(json_object_get(svc, "spec"), "route");

	return json_is_object(r) ? r : NULL;
}

static int cmp(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

static int counts(const json_t *obj)
{
	return json_is_object(obj) && field(meta(obj), "name") &&
	       !json_object_get(meta(obj), "deletionTimestamp");
}

int bw_rules_same_route(const json_t *a, const json_t *b)
{
	const char *ha = field(a, "host"), *hb = field(b, "host");
	const char *pa = field(a, "pathPrefix"), *pb = field(b, "pathPrefix");

	return pa && pb && strcmp(pa, pb) == 0 && ((!ha && !hb) || (ha && hb && !strcmp(ha, hb)));
}

int bw_rules_same_object(const json_t *a, const json_t *b)
{
	return cmp(field(meta(a), "namespace"), field(meta(b), "namespace")) == 0 &&
	       cmp(field(meta(a), "name"), field(meta(b), "name")) == 0;
}

int bw_rules_earlier(const json_t *a, const json_t *b)
{
	/* RFC 3339 UTC times of one format compare as strings; an object not yet
	 * stored (no time: an admission request) comes last */
	const char *ta = field(meta(a), "creationTimestamp"),
		   *tb = field(meta(b), "creationTimestamp");
	int c;

	if (ta && !tb)
		return 1;
	if (!ta && tb)
		return 0;
	if ((c = cmp(ta, tb)) != 0)
		return c < 0;
	if ((c = cmp(field(meta(a), "namespace"), field(meta(b), "namespace"))) != 0)
		return c < 0;
	return cmp(field(meta(a), "name"), field(meta(b), "name")) < 0;
}

const json_t *bw_rules_route_holder(const json_t *svc, const json_t *services, int earlier_only)
{
	const json_t *route = route_of(svc), *other, *best = NULL;
	size_t i;

	if (!route)
		return NULL;
	json_array_foreach(services, i, other)
	{
		if (!counts(other) || bw_rules_same_object(svc, other) ||
		    !bw_rules_same_route(route, route_of(other)))
			continue;
		if (earlier_only && !bw_rules_earlier(other, svc))
			continue;
		if (!best || bw_rules_earlier(other, best))
			best = other;
	}
	return best;
}

int bw_rules_service_exists(const json_t *services, const char *ns, const char *name)
{
	const json_t *other;
	size_t i;

	json_array_foreach(services, i, other)
	{
		const char *ons = field(meta(other), "namespace");

		/* an unknown namespace (an object as admission sees it) matches */
		if (counts(other) && (!ns || !ons || strcmp(ons, ns) == 0) &&
		    strcmp(field(meta(other), "name"), name) == 0)
			return 1;
	}
	return 0;
}

int bw_rules_missing_dependencies(const json_t *svc, const json_t *services, json_t *missing)
{
	const char *ns = field(meta(svc), "namespace"), *self = field(meta(svc), "name"), *name;
	const json_t *d, *seen;
	size_t i, j;
	int dup;

	json_array_foreach(json_object_get(json_object_get(svc, "spec"), "dependsOn"), i, d)
	{
		name = json_string_value(d);
		if (!name || !*name || (self && strcmp(name, self) == 0) ||
		    bw_rules_service_exists(services, ns, name))
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

static int valid_breaker(const json_t *brk)
{
	json_t *policy = NULL;
	int ok = bw_registry_breaker_policy(brk, &policy, NULL) == 0;

	json_decref(policy);
	return ok;
}

const json_t *bw_rules_breaker_holder(const json_t *brk, const json_t *breakers)
{
	const char *target = field(json_object_get(brk, "spec"), "target"),
		   *ns = field(meta(brk), "namespace");
	const json_t *other, *best = NULL;
	size_t i;

	if (!target)
		return NULL;
	json_array_foreach(breakers, i, other)
	{
		const char *ons = field(meta(other), "namespace");

		if (!counts(other) || bw_rules_same_object(brk, other) ||
		    (ns && ons && strcmp(ns, ons) != 0) ||
		    cmp(field(json_object_get(other, "spec"), "target"), target) != 0 ||
		    !bw_rules_earlier(other, brk) || (best && !bw_rules_earlier(other, best)) ||
		    !valid_breaker(other))
			continue;
		best = other;
	}
	return best;
}
