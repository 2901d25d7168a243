/*
 * spec.autoscaling and spec.disruptionBudget: checked as the CRD checks
 * them, rendered as the HorizontalPodAutoscaler and PodDisruptionBudget the
 * operator owns. See scaling.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "render.h"
#include "json.h"
#include "scaling.h"

#define HPA "spec.autoscaling"
#define PDB "spec.disruptionBudget"

/* An optional integer member in [min, max]; *out keeps def when absent. */
static int get_int(const json_t *obj, const char *key, const char *field, json_int_t min,
		   json_int_t max, json_int_t *out, struct bw_error *err)
{
	const json_t *v = json_object_get(obj, key);

	if (!v)
		return 0;
	if (!json_is_integer(v))
		return bw_error_set(err, BW_EINVAL, "%s: must be an integer, got %s", field,
				    bw_json_type_name(v));
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return bw_error_set(err, BW_EINVAL,
				    "%s: must be between %" JSON_INTEGER_FORMAT
				    " and %" JSON_INTEGER_FORMAT ", got %" JSON_INTEGER_FORMAT,
				    field, min, max, json_integer_value(v));
	*out = json_integer_value(v);
	return 0;
}

/* The member of a MetricSpec each type carries (autoscaling/v2). */
static const char *const metric_types[][2] = {
    {"Resource", "resource"}, {"ContainerResource", "containerResource"},
    {"Pods", "pods"},	      {"Object", "object"},
    {"External", "external"},
};

/* A Resource or ContainerResource source: the resource and its target, the
 * shape an HPA on CPU or memory needs; the rest is the API server's to check. */
static int check_resource(const json_t *src, const char *field, int container, struct bw_error *err)
{
	const json_t *name = json_object_get(src, "name"), *target = json_object_get(src, "target");
	const char *type = json_string_value(json_object_get(target, "type"));
	json_int_t util = 0;
	int rc;

	if (!json_is_string(name) || !*json_string_value(name))
		return bw_error_set(err, BW_EINVAL, "%s.name: required (cpu, memory, ...)", field);
	if (container && (!json_is_string(json_object_get(src, "container")) ||
			  !*json_string_value(json_object_get(src, "container"))))
		return bw_error_set(err, BW_EINVAL, "%s.container: required", field);
	if (!json_is_object(target))
		return bw_error_set(err, BW_EINVAL, "%s.target: required, an object", field);
	if (!type)
		return bw_error_set(err, BW_EINVAL,
				    "%s.target.type: required (Utilization, AverageValue or Value)",
				    field);
	if (strcmp(type, "Utilization") == 0) {
		char f[160];

		snprintf(f, sizeof(f), "%s.target.averageUtilization", field);
		if (!json_object_get(target, "averageUtilization"))
			return bw_error_set(err, BW_EINVAL, "%s: required for type Utilization", f);
		if ((rc = get_int(target, "averageUtilization", f, 1, 100000, &util, err)))
			return rc;
		return 0;
	}
	if (strcmp(type, "AverageValue") == 0) {
		if (!json_object_get(target, "averageValue"))
			return bw_error_set(err, BW_EINVAL,
					    "%s.target.averageValue: required for type "
					    "AverageValue",
					    field);
		return 0;
	}
	if (strcmp(type, "Value") == 0) {
		if (!json_object_get(target, "value"))
			return bw_error_set(err, BW_EINVAL,
					    "%s.target.value: required for type Value", field);
		return 0;
	}
	return bw_error_set(err, BW_EINVAL,
			    "%s.target.type: must be Utilization, AverageValue or Value, got "
			    "\"%.40s\"",
			    field, type);
}

static int check_metric(const json_t *m, size_t i, struct bw_error *err)
{
	const char *type = json_string_value(json_object_get(m, "type"));
	char field[96];
	size_t t;

	if (!json_is_object(m))
		return bw_error_set(err, BW_EINVAL, HPA ".metrics[%zu]: must be an object, got %s",
				    i, bw_json_type_name(m));
	if (!type)
		return bw_error_set(err, BW_EINVAL,
				    HPA ".metrics[%zu].type: required (Resource, "
					"ContainerResource, Pods, Object or External)",
				    i);
	for (t = 0; t < sizeof(metric_types) / sizeof(metric_types[0]); t++)
		if (strcmp(type, metric_types[t][0]) == 0)
			break;
	if (t == sizeof(metric_types) / sizeof(metric_types[0]))
		return bw_error_set(err, BW_EINVAL,
				    HPA ".metrics[%zu].type: must be Resource, ContainerResource, "
					"Pods, Object or External, got \"%.40s\"",
				    i, type);
	snprintf(field, sizeof(field), HPA ".metrics[%zu].%s", i, metric_types[t][1]);
	if (!json_is_object(json_object_get(m, metric_types[t][1])))
		return bw_error_set(err, BW_EINVAL, "%s: required for type %s, an object", field,
				    type);
	if (t <= 1)
		return check_resource(json_object_get(m, metric_types[t][1]), field, t == 1, err);
	return 0; /* Pods, Object, External: passed through for the API server */
}

static int check_autoscaling(const json_t *a, struct bw_error *err)
{
	const json_t *metrics = json_object_get(a, "metrics"), *m;
	json_int_t min = 1, max = 0;
	size_t i;
	int rc;

	if (!json_is_object(a))
		return bw_error_set(err, BW_EINVAL, HPA ": must be an object, got %s",
				    bw_json_type_name(a));
	if (!json_object_get(a, "maxReplicas"))
		return bw_error_set(err, BW_EINVAL, HPA ".maxReplicas: required");
	if ((rc = get_int(a, "minReplicas", HPA ".minReplicas", 1, BW_SCALING_REPLICAS_MAX, &min,
			  err)) ||
	    (rc = get_int(a, "maxReplicas", HPA ".maxReplicas", 1, BW_SCALING_REPLICAS_MAX, &max,
			  err)))
		return rc;
	if (min > max)
		return bw_error_set(err, BW_EINVAL,
				    HPA
				    ".minReplicas: must be <= maxReplicas (%" JSON_INTEGER_FORMAT
				    "), got %" JSON_INTEGER_FORMAT,
				    max, min);
	if (metrics && !json_is_array(metrics))
		return bw_error_set(err, BW_EINVAL, HPA ".metrics: must be an array, got %s",
				    bw_json_type_name(metrics));
	json_array_foreach(metrics, i, m)
	{
		if ((rc = check_metric(m, i, err)))
			return rc;
	}
	if (json_object_get(a, "behavior") && !json_is_object(json_object_get(a, "behavior")))
		return bw_error_set(err, BW_EINVAL, HPA ".behavior: must be an object, got %s",
				    bw_json_type_name(json_object_get(a, "behavior")));
	return 0;
}

/* An int-or-percent of a PDB: an integer >= 0, or "N%" with 0 <= N <= 100. */
static int check_int_or_percent(const json_t *v, const char *field, struct bw_error *err)
{
	const char *s = json_string_value(v);
	char *end;
	long n;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0 || json_integer_value(v) > BW_SCALING_REPLICAS_MAX)
			return bw_error_set(
			    err, BW_EINVAL,
			    "%s: must be between 0 and %d, got %" JSON_INTEGER_FORMAT, field,
			    BW_SCALING_REPLICAS_MAX, json_integer_value(v));
		return 0;
	}
	if (!s)
		return bw_error_set(err, BW_EINVAL,
				    "%s: must be an integer or a percentage (\"50%%\"), got %s",
				    field, bw_json_type_name(v));
	n = (*s >= '0' && *s <= '9') ? strtol(s, &end, 10) : -1;
	if (n < 0 || strcmp(end, "%") != 0 || n > 100 || end - s > 3)
		return bw_error_set(err, BW_EINVAL,
				    "%s: must be an integer or a percentage from \"0%%\" to "
				    "\"100%%\", got \"%.40s\"",
				    field, s);
	return 0;
}

static int check_budget(const json_t *b, struct bw_error *err)
{
	const json_t *min = json_object_get(b, "minAvailable");
	const json_t *max = json_object_get(b, "maxUnavailable");

	if (!json_is_object(b))
		return bw_error_set(err, BW_EINVAL, PDB ": must be an object, got %s",
				    bw_json_type_name(b));
	if (!min == !max)
		return bw_error_set(err, BW_EINVAL,
				    PDB ": exactly one of minAvailable and maxUnavailable, got %s",
				    min ? "both" : "neither");
	return min ? check_int_or_percent(min, PDB ".minAvailable", err)
		   : check_int_or_percent(max, PDB ".maxUnavailable", err);
}

int bw_scaling_check(const json_t *spec, struct bw_error *err)
{
	const json_t *a = json_object_get(spec, "autoscaling");
	const json_t *b = json_object_get(spec, "disruptionBudget");
	int rc;

	if (a && (rc = check_autoscaling(a, err)))
		return rc;
	if (b && (rc = check_budget(b, err)))
		return rc;
	return 0;
}

/* ---- rendering ---- */

/* The Service is checked whole (as every renderer does), and the owned
 * object's metadata needs its namespace and uid. */
static int start(const json_t *svc, json_t **out, const char **name, const char **ns,
		 const char **uid, struct bw_error *err)
{
	const json_t *md = json_object_get(svc, "metadata");
	int rc;

	if (out)
		*out = NULL;
	if (!svc || !out)
		return bw_error_set(err, BW_EINVAL, "scaling: svc and out are required");
	if ((rc = bw_render_validate(svc, err)))
		return rc;
	*name = json_string_value(json_object_get(md, "name"));
	*ns = json_string_value(json_object_get(md, "namespace"));
	*uid = json_string_value(json_object_get(md, "uid"));
	if (!*ns || !**ns)
		return bw_error_set(err, BW_EINVAL, "metadata.namespace: required");
	if (!*uid || !**uid)
		return bw_error_set(err, BW_EINVAL, "metadata.uid: required");
	return 0;
}

/* apiVersion, kind and the metadata every owned object has: name,
 * namespace, breakwater's labels, the controller owner reference. */
static json_t *owned(const char *api_version, const char *kind, const char *name, const char *ns,
		     const char *uid)
{
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s, s:s}, s:[{s:s, s:s, s:s, s:s, s:b, "
			 "s:b}]}}",
			 "apiVersion", api_version, "kind", kind, "metadata", "name", name,
			 "namespace", ns, "labels", BW_LABEL_NAME, name, BW_LABEL_MANAGED,
			 BW_MANAGER, BW_LABEL_SERVICE, name, "ownerReferences", "apiVersion",
			 BW_API_VERSION, "kind", BW_KIND_SERVICE, "name", name, "uid", uid,
			 "controller", 1, "blockOwnerDeletion", 1);
}

static int finish(json_t *obj, int bad, const char *kind, json_t **out, struct bw_error *err)
{
	if (bad || !obj) {
		json_decref(obj);
		return bw_error_set(err, BW_ENOMEM, "scaling: out of memory building the %s", kind);
	}
	*out = obj;
	return 0;
}

int bw_scaling_hpa(const json_t *svc, json_t **out, struct bw_error *err)
{
	const json_t *a = json_object_get(json_object_get(svc, "spec"), "autoscaling");
	const json_t *min, *metrics, *behavior;
	const char *name, *ns, *uid;
	json_t *obj, *sp;
	int rc, bad = 0;

	if ((rc = start(svc, out, &name, &ns, &uid, err)) || !a)
		return rc; /* no autoscaling: no HPA, *out stays NULL */
	min = json_object_get(a, "minReplicas");
	metrics = json_object_get(a, "metrics");
	behavior = json_object_get(a, "behavior");
	obj = owned("autoscaling/v2", "HorizontalPodAutoscaler", name, ns, uid);
	/* the breakwater Service's scale subresource, not the Deployment's:
	 * the operator stays the one writer of the Deployment's replicas */
	sp = json_pack("{s:{s:s, s:s, s:s}, s:I, s:I}", "scaleTargetRef", "apiVersion",
		       BW_API_VERSION, "kind", BW_KIND_SERVICE, "name", name, "minReplicas",
		       min ? json_integer_value(min) : (json_int_t)1, "maxReplicas",
		       json_integer_value(json_object_get(a, "maxReplicas")));
	if (sp && metrics && json_array_size(metrics))
		bad |= json_object_set_new(sp, "metrics", json_deep_copy(metrics));
	if (sp && behavior)
		bad |= json_object_set_new(sp, "behavior", json_deep_copy(behavior));
	bad |= !obj || json_object_set_new(obj, "spec", sp);
	return finish(obj, bad, "HorizontalPodAutoscaler", out, err);
}

int bw_scaling_pdb(const json_t *svc, json_t **out, struct bw_error *err)
{
	const json_t *b = json_object_get(json_object_get(svc, "spec"), "disruptionBudget");
	const json_t *min;
	const char *name, *ns, *uid;
	json_t *obj, *sp;
	int rc, bad = 0;

	if ((rc = start(svc, out, &name, &ns, &uid, err)) || !b)
		return rc; /* no budget: no PDB, *out stays NULL */
	min = json_object_get(b, "minAvailable");
	obj = owned("policy/v1", "PodDisruptionBudget", name, ns, uid);
	sp = json_pack("{s:{s:{s:s}}, s:o}", "selector", "matchLabels", BW_LABEL_SERVICE, name,
		       min ? "minAvailable" : "maxUnavailable",
		       json_deep_copy(min ? min : json_object_get(b, "maxUnavailable")));
	bad |= !obj || json_object_set_new(obj, "spec", sp);
	return finish(obj, bad, "PodDisruptionBudget", out, err);
}
