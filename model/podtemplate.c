/*
 * The pod-template fields of a Service (model/podtemplate.h). Each check
 * mirrors a rule of crds/services.breakwater.io.yaml; the shapes passed
 * through (affinity, tolerations, securityContext, probe handlers...) are
 * checked as far as the CRD checks them, and the API server's Deployment
 * validation is the backstop for the rest (docs/resources.md).
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "dnsname.h"
#include "json.h"
#include "names.h"
#include "podtemplate.h"

#define PATH_LEN 96

static int wrong_type(struct bw_error *err, const char *path, const char *want, const json_t *v)
{
	return bw_error_set(err, BW_EINVAL, "%s: must be %s, got %s", path, want,
			    bw_json_type_name(v));
}

/* An optional value of type want (JSON_OBJECT, JSON_ARRAY, JSON_STRING). */
static int get(const json_t *obj, const char *key, const char *path, json_type want,
	       const json_t **out, struct bw_error *err)
{
	static const char *const names[] = {
	    [JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array", [JSON_STRING] = "a string"};
	const json_t *v = bw_json_get(obj, key);

	*out = NULL;
	if (v && json_typeof(v) != want)
		return wrong_type(err, path, names[want], v);
	*out = v;
	return 0;
}

/* An optional integer in min..max. */
static int check_int(const json_t *obj, const char *key, const char *path, json_int_t min,
		     json_int_t max, struct bw_error *err)
{
	json_int_t n;

	return bw_json_int_in_range(bw_json_get(obj, key), path, min, max, &n, err);
}

/* An optional array of at most max items, each of type want. */
static int check_list(const json_t *obj, const char *key, const char *path, size_t max,
		      json_type want, const json_t **out, struct bw_error *err)
{
	const json_t *item;
	size_t i;
	int rc;

	if ((rc = get(obj, key, path, JSON_ARRAY, out, err)) || !*out)
		return rc;
	if (json_array_size(*out) > max)
		return bw_error_set(err, BW_EINVAL, "%s: at most %zu items, got %zu", path, max,
				    json_array_size(*out));
	json_array_foreach(*out, i, item)
	{
		if (json_typeof(item) != want)
			return bw_error_set(err, BW_EINVAL, "%s[%zu]: must be %s, got %s", path, i,
					    want == JSON_STRING ? "a string" : "an object",
					    bw_json_type_name(item));
	}
	return 0;
}

/* An optional object whose values are all strings, at most max keys. */
static int check_string_map(const json_t *obj, const char *key, const char *path, size_t max,
			    const json_t **out, struct bw_error *err)
{
	const char *k;
	const json_t *v;
	int rc;

	if ((rc = get(obj, key, path, JSON_OBJECT, out, err)) || !*out)
		return rc;
	if (json_object_size(*out) > max)
		return bw_error_set(err, BW_EINVAL, "%s: at most %zu entries, got %zu", path, max,
				    json_object_size(*out));
	json_object_foreach((json_t *)*out, k, v)
	{
		if (!json_is_string(v))
			return bw_error_set(err, BW_EINVAL, "%s.%.100s: must be a string, got %s",
					    path, k, bw_json_type_name(v));
	}
	return 0;
}

/* How many of keys (NULL-terminated) obj has; every one present must be an object. */
static int count_objects(const json_t *obj, const char *const *keys, const char *path, int *n,
			 struct bw_error *err)
{
	char at[PATH_LEN + 32];
	const json_t *v;
	int rc;

	*n = 0;
	for (; *keys; keys++) {
		snprintf(at, sizeof(at), "%s.%s", path, *keys);
		if ((rc = get(obj, *keys, at, JSON_OBJECT, &v, err)))
			return rc;
		*n += v != NULL;
	}
	return 0;
}

static int has_port(const json_t *handler, const char *path, struct bw_error *err)
{
	const json_t *port = bw_json_get(handler, "port");

	if (!port)
		return bw_error_set(err, BW_EINVAL, "%s.port: required", path);
	if (!json_is_integer(port) && !json_is_string(port))
		return wrong_type(err, path, "an integer or a port name", port);
	return 0;
}

/* readinessProbe, livenessProbe, startupProbe: a core/v1 Probe. */
static int check_probe(const json_t *sp, const char *key, struct bw_error *err)
{
	static const char *const handlers[] = {"httpGet", "tcpSocket", "exec", "grpc", NULL};
	const json_t *p, *h;
	char path[PATH_LEN], at[PATH_LEN + 32];
	int rc, n;

	snprintf(path, sizeof(path), "spec.%s", key);
	if ((rc = get(sp, key, path, JSON_OBJECT, &p, err)) || !p)
		return rc;
	if ((rc = count_objects(p, handlers, path, &n, err)))
		return rc;
	if (n != 1)
		return bw_error_set(err, BW_EINVAL,
				    "%s: exactly one of httpGet, tcpSocket, exec or grpc, got %d",
				    path, n);
	if ((h = bw_json_get(p, "httpGet")) || (h = bw_json_get(p, "tcpSocket")) ||
	    (h = bw_json_get(p, "grpc"))) {
		snprintf(at, sizeof(at), "%s.%s", path,
			 bw_json_get(p, "httpGet")     ? "httpGet"
			 : bw_json_get(p, "tcpSocket") ? "tcpSocket"
						       : "grpc");
		if ((rc = has_port(h, at, err)))
			return rc;
	} else {
		snprintf(at, sizeof(at), "%s.exec.command", path);
		if ((rc = check_list(bw_json_get(p, "exec"), "command", at, BW_PODTEMPLATE_ARGS_MAX,
				     JSON_STRING, &h, err)))
			return rc;
		if (!h || json_array_size(h) == 0)
			return bw_error_set(err, BW_EINVAL, "%s: required", at);
	}
#define PROBE_INT(field, min, max) \
	(snprintf(at, sizeof(at), "%s." field, path), check_int(p, field, at, min, max, err))
	if ((rc = PROBE_INT("initialDelaySeconds", 0, 3600)) ||
	    (rc = PROBE_INT("periodSeconds", 1, 3600)) ||
	    (rc = PROBE_INT("timeoutSeconds", 1, 3600)) ||
	    (rc = PROBE_INT("failureThreshold", 1, 1000)) ||
	    (rc = PROBE_INT("successThreshold", 1, 1000)))
		return rc;
#undef PROBE_INT
	if (strcmp(key, "readinessProbe") != 0 && bw_json_get(p, "successThreshold") &&
	    json_integer_value(bw_json_get(p, "successThreshold")) != 1)
		return bw_error_set(err, BW_EINVAL, "%s.successThreshold: must be 1 for %s", path,
				    key);
	return 0;
}

/* The registry mount path without its trailing '/'. */
static int under_registry_mount(const char *p)
{
	const size_t n = strlen(BW_REGISTRY_MOUNT_PATH) - 1;

	return strncmp(p, BW_REGISTRY_MOUNT_PATH, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

static int check_volumes(const json_t *sp, struct bw_error *err)
{
	static const char *const sources[] = {"configMap", "secret", "emptyDir", "projected", NULL};
	const json_t *vols, *mounts, *v, *m, *w;
	const char *key, *name, *mpath;
	char path[PATH_LEN];
	size_t i, j;
	int rc, n;

	if ((rc = check_list(sp, "volumes", "spec.volumes", BW_PODTEMPLATE_LIST_MAX, JSON_OBJECT,
			     &vols, err)))
		return rc;
	json_array_foreach(vols, i, v)
	{
		snprintf(path, sizeof(path), "spec.volumes[%zu]", i);
		json_object_foreach((json_t *)v, key, w)
		{
			int known = strcmp(key, "name") == 0;

			for (const char *const *s = sources; *s; s++)
				known |= strcmp(key, *s) == 0;
			if (!known)
				return bw_error_set(
				    err, BW_EINVAL,
				    "%s: %.64s volumes are not supported: use configMap, secret, "
				    "emptyDir or projected",
				    path, key);
		}
		name = json_string_value(bw_json_get(v, "name"));
		if (!name)
			return bw_error_set(err, BW_EINVAL, "%s.name: required (a string)", path);
		if (!bw_is_dns1123_label(name))
			return bw_error_set(err, BW_EINVAL,
					    "%s.name: \"%.100s\" is not a DNS-1123 label", path,
					    name);
		if (strcmp(name, BW_REGISTRY_NAME) == 0)
			return bw_error_set(err, BW_EINVAL,
					    "%s.name: \"%s\" is reserved for the registry volume "
					    "the breakwater webhook mounts",
					    path, BW_REGISTRY_NAME);
		for (j = 0; j < i; j++)
			if (strcmp(name, json_string_value(json_object_get(json_array_get(vols, j),
									   "name"))) == 0)
				return bw_error_set(err, BW_EINVAL,
						    "%s: the name \"%s\" is used twice", path,
						    name);
		if ((rc = count_objects(v, sources, path, &n, err)))
			return rc;
		if (n != 1)
			return bw_error_set(err, BW_EINVAL,
					    "%s: exactly one of configMap, secret, emptyDir or "
					    "projected, got %d",
					    path, n);
	}

	if ((rc = check_list(sp, "volumeMounts", "spec.volumeMounts", BW_PODTEMPLATE_LIST_MAX,
			     JSON_OBJECT, &mounts, err)))
		return rc;
	json_array_foreach(mounts, i, m)
	{
		snprintf(path, sizeof(path), "spec.volumeMounts[%zu]", i);
		name = json_string_value(bw_json_get(m, "name"));
		mpath = json_string_value(bw_json_get(m, "mountPath"));
		if (!name)
			return bw_error_set(err, BW_EINVAL, "%s.name: required (a string)", path);
		if (!mpath)
			return bw_error_set(err, BW_EINVAL, "%s.mountPath: required (a string)",
					    path);
		if (mpath[0] != '/')
			return bw_error_set(err, BW_EINVAL,
					    "%s.mountPath: \"%.100s\" must be an absolute path",
					    path, mpath);
		if (under_registry_mount(mpath))
			return bw_error_set(err, BW_EINVAL,
					    "%s.mountPath: %.100s is where the breakwater webhook "
					    "mounts the registry (/etc/breakwater)",
					    path, mpath);
		for (j = 0; j < json_array_size(vols); j++)
			if (strcmp(name, json_string_value(json_object_get(json_array_get(vols, j),
									   "name"))) == 0)
				break;
		if (j == json_array_size(vols)) /* the field the CRD's rule names */
			return bw_error_set(err, BW_EINVAL,
					    "spec.volumeMounts: %s.name \"%.100s\" names no volume "
					    "of spec.volumes",
					    path, name);
	}
	return 0;
}

static int check_env_from(const json_t *sp, struct bw_error *err)
{
	static const char *const refs[] = {"configMapRef", "secretRef", NULL};
	const json_t *list, *e, *ref;
	char path[PATH_LEN];
	size_t i;
	int rc, n;

	if ((rc = check_list(sp, "envFrom", "spec.envFrom", BW_PODTEMPLATE_LIST_MAX, JSON_OBJECT,
			     &list, err)))
		return rc;
	json_array_foreach(list, i, e)
	{
		snprintf(path, sizeof(path), "spec.envFrom[%zu]", i);
		if ((rc = count_objects(e, refs, path, &n, err)))
			return rc;
		if (n != 1)
			return bw_error_set(err, BW_EINVAL,
					    "%s: exactly one of configMapRef or secretRef, got %d",
					    path, n);
		ref = bw_json_get(e, "configMapRef") ? bw_json_get(e, "configMapRef")
						     : bw_json_get(e, "secretRef");
		if (!json_is_string(bw_json_get(ref, "name")) ||
		    json_string_length(bw_json_get(ref, "name")) == 0)
			return bw_error_set(err, BW_EINVAL, "%s.%s.name: required", path,
					    bw_json_get(e, "configMapRef") ? "configMapRef"
									   : "secretRef");
	}
	return 0;
}

/* A label breakwater sets on the pod template (the selector's among them). */
static int is_our_label(const char *k)
{
	return strcmp(k, BW_LABEL_SERVICE) == 0 || strcmp(k, BW_LABEL_NAME) == 0 ||
	       strcmp(k, BW_LABEL_MANAGED) == 0;
}

static int check_pod_metadata(const json_t *sp, struct bw_error *err)
{
	const json_t *pm, *labels, *annotations, *v;
	const char *k;
	int rc;

	if ((rc = get(sp, "podMetadata", "spec.podMetadata", JSON_OBJECT, &pm, err)) || !pm ||
	    (rc = check_string_map(pm, "labels", "spec.podMetadata.labels", 64, &labels, err)) ||
	    (rc = check_string_map(pm, "annotations", "spec.podMetadata.annotations", 64,
				   &annotations, err)))
		return rc;
	json_object_foreach((json_t *)labels, k, v)
	{
		if (is_our_label(k))
			return bw_error_set(err, BW_EINVAL,
					    "spec.podMetadata.labels: %.100s is set by breakwater "
					    "(the Deployment's selector and labels) and may not be "
					    "overridden",
					    k);
	}
	json_object_foreach((json_t *)annotations, k, v)
	{
		if (strncmp(k, BW_API_GROUP "/", strlen(BW_API_GROUP) + 1) == 0)
			return bw_error_set(
			    err, BW_EINVAL,
			    "spec.podMetadata.annotations: %.100s: the prefix "
			    "breakwater.io/ is reserved for the operator and webhook",
			    k);
	}
	return 0;
}

static int check_pre_stop(const json_t *sp, struct bw_error *err)
{
	static const char *const handlers[] = {"exec", "httpGet", "sleep", NULL};
	const json_t *ps, *v;
	int rc, n;

	if ((rc = get(sp, "preStop", "spec.preStop", JSON_OBJECT, &ps, err)) || !ps ||
	    (rc = count_objects(ps, handlers, "spec.preStop", &n, err)))
		return rc;
	if (n != 1)
		return bw_error_set(err, BW_EINVAL,
				    "spec.preStop: exactly one of exec, httpGet or sleep, got %d",
				    n);
	if (bw_json_get(ps, "httpGet"))
		return has_port(bw_json_get(ps, "httpGet"), "spec.preStop.httpGet", err);
	if (bw_json_get(ps, "exec")) {
		if ((rc =
			 check_list(bw_json_get(ps, "exec"), "command", "spec.preStop.exec.command",
				    BW_PODTEMPLATE_ARGS_MAX, JSON_STRING, &v, err)))
			return rc;
		if (!v || json_array_size(v) == 0)
			return bw_error_set(err, BW_EINVAL, "spec.preStop.exec.command: required");
		return 0;
	}
	if (!bw_json_get(bw_json_get(ps, "sleep"), "seconds"))
		return bw_error_set(err, BW_EINVAL, "spec.preStop.sleep.seconds: required");
	return check_int(bw_json_get(ps, "sleep"), "seconds", "spec.preStop.sleep.seconds", 1,
			 BW_PODTEMPLATE_GRACE_MAX, err);
}

static int check_scheduling(const json_t *sp, struct bw_error *err)
{
	const json_t *v, *item;
	size_t i;
	int rc;

	if ((rc = check_string_map(sp, "nodeSelector", "spec.nodeSelector", 32, &v, err)) ||
	    (rc = get(sp, "affinity", "spec.affinity", JSON_OBJECT, &v, err)) ||
	    (rc = check_list(sp, "tolerations", "spec.tolerations", BW_PODTEMPLATE_LIST_MAX,
			     JSON_OBJECT, &v, err)) ||
	    (rc = check_list(sp, "topologySpreadConstraints", "spec.topologySpreadConstraints", 8,
			     JSON_OBJECT, &v, err)))
		return rc;
	json_array_foreach(v, i, item)
	{
		if (!bw_json_get(item, "topologyKey") || !bw_json_get(item, "maxSkew") ||
		    !bw_json_get(item, "whenUnsatisfiable"))
			return bw_error_set(err, BW_EINVAL,
					    "spec.topologySpreadConstraints[%zu]: maxSkew, "
					    "topologyKey and whenUnsatisfiable are required",
					    i);
	}
	return 0;
}

static int check_identity(const json_t *sp, struct bw_error *err)
{
	const json_t *v, *item;
	size_t i;
	int rc;

	if ((rc = get(sp, "serviceAccountName", "spec.serviceAccountName", JSON_STRING, &v, err)))
		return rc;
	if (v && !bw_is_dns1123_label(json_string_value(v)))
		return bw_error_set(err, BW_EINVAL,
				    "spec.serviceAccountName: \"%.100s\" is not a DNS-1123 label",
				    json_string_value(v));
	if ((rc = check_list(sp, "imagePullSecrets", "spec.imagePullSecrets", 16, JSON_OBJECT, &v,
			     err)))
		return rc;
	json_array_foreach(v, i, item)
	{
		if (!json_is_string(bw_json_get(item, "name")) ||
		    json_string_length(bw_json_get(item, "name")) == 0)
			return bw_error_set(err, BW_EINVAL,
					    "spec.imagePullSecrets[%zu].name: required", i);
	}
	if ((rc = get(sp, "podSecurityContext", "spec.podSecurityContext", JSON_OBJECT, &v, err)) ||
	    (rc = get(sp, "securityContext", "spec.securityContext", JSON_OBJECT, &v, err)))
		return rc;
	return 0;
}

int bw_podtemplate_check(const json_t *sp, json_int_t deadline, struct bw_error *err)
{
	const json_t *v;
	int rc;

	if ((rc = check_probe(sp, "readinessProbe", err)) ||
	    (rc = check_probe(sp, "livenessProbe", err)) ||
	    (rc = check_probe(sp, "startupProbe", err)) ||
	    (rc = check_list(sp, "command", "spec.command", BW_PODTEMPLATE_ARGS_MAX, JSON_STRING,
			     &v, err)) ||
	    (rc = check_list(sp, "args", "spec.args", BW_PODTEMPLATE_ARGS_MAX, JSON_STRING, &v,
			     err)) ||
	    (rc = check_env_from(sp, err)) || (rc = check_volumes(sp, err)) ||
	    (rc = check_scheduling(sp, err)) || (rc = check_identity(sp, err)) ||
	    (rc = check_int(sp, "terminationGracePeriodSeconds",
			    "spec.terminationGracePeriodSeconds", 0, BW_PODTEMPLATE_GRACE_MAX,
			    err)) ||
	    (rc = check_pre_stop(sp, err)) ||
	    (rc = check_int(sp, "minReadySeconds", "spec.minReadySeconds", 0,
			    BW_PODTEMPLATE_MIN_READY_MAX, err)) ||
	    (rc = check_pod_metadata(sp, err)))
		return rc;
	v = bw_json_get(sp, "minReadySeconds");
	if (v && json_integer_value(v) >= deadline)
		return bw_error_set(
		    err, BW_EINVAL,
		    "spec.minReadySeconds: %" JSON_INTEGER_FORMAT
		    " must be less than spec.rollout.progressDeadlineSeconds (%" JSON_INTEGER_FORMAT
		    ")",
		    json_integer_value(v), deadline);
	return 0;
}

/* Copies sp[key] into obj[as] when present. */
static int copy(const json_t *sp, const char *key, json_t *obj, const char *as)
{
	const json_t *v = bw_json_get(sp, key);

	return v ? json_object_set_new(obj, as, json_deep_copy(v)) : 0;
}

/* Adds the entries of from missing in to (to's own win). */
static int merge_missing(json_t *to, const json_t *from)
{
	const char *k;
	json_t *v;
	int bad = 0;

	json_object_foreach((json_t *)from, k, v)
	{
		if (!json_object_get(to, k))
			bad |= json_object_set_new(to, k, json_deep_copy(v));
	}
	return bad;
}

int bw_podtemplate_apply(const json_t *sp, json_t *pod_metadata, json_t *pod_spec,
			 json_t *container, json_t *deployment_spec)
{
	const json_t *pm = bw_json_get(sp, "podMetadata");
	json_t *lifecycle;
	int bad = 0;

	/* the container */
	bad |= copy(sp, "command", container, "command");
	bad |= copy(sp, "args", container, "args");
	bad |= copy(sp, "envFrom", container, "envFrom");
	bad |= copy(sp, "volumeMounts", container, "volumeMounts");
	bad |= copy(sp, "readinessProbe", container, "readinessProbe");
	bad |= copy(sp, "livenessProbe", container, "livenessProbe");
	bad |= copy(sp, "startupProbe", container, "startupProbe");
	if (bw_json_get(sp, "preStop")) {
		lifecycle = json_object();
		bad |= copy(sp, "preStop", lifecycle, "preStop");
		bad |= json_object_set_new(container, "lifecycle", lifecycle);
	}
	if (bw_json_get(sp, "securityContext"))
		bad |= copy(sp, "securityContext", container, "securityContext");
	else /* Pod Security Standards, restricted profile */
		bad |= json_object_set_new(container, "securityContext",
					   json_pack("{s:b, s:{s:[s]}, s:b, s:{s:s}}",
						     "allowPrivilegeEscalation", 0, "capabilities",
						     "drop", "ALL", "runAsNonRoot", 1,
						     "seccompProfile", "type", "RuntimeDefault"));

	/* the pod */
	bad |= copy(sp, "serviceAccountName", pod_spec, "serviceAccountName");
	bad |= copy(sp, "imagePullSecrets", pod_spec, "imagePullSecrets");
	bad |= copy(sp, "volumes", pod_spec, "volumes");
	bad |= copy(sp, "nodeSelector", pod_spec, "nodeSelector");
	bad |= copy(sp, "affinity", pod_spec, "affinity");
	bad |= copy(sp, "tolerations", pod_spec, "tolerations");
	bad |= copy(sp, "topologySpreadConstraints", pod_spec, "topologySpreadConstraints");
	bad |= copy(sp, "terminationGracePeriodSeconds", pod_spec, "terminationGracePeriodSeconds");
	if (bw_json_get(sp, "podSecurityContext"))
		bad |= copy(sp, "podSecurityContext", pod_spec, "securityContext");
	else
		bad |= json_object_set_new(pod_spec, "securityContext",
					   json_pack("{s:b, s:{s:s}}", "runAsNonRoot", 1,
						     "seccompProfile", "type", "RuntimeDefault"));

	/* the pod's metadata: breakwater's labels stay (check refused a clash) */
	if (bw_json_get(pm, "labels"))
		bad |= merge_missing(json_object_get(pod_metadata, "labels"),
				     bw_json_get(pm, "labels"));
	bad |= copy(pm, "annotations", pod_metadata, "annotations");

	/* the Deployment */
	bad |= copy(sp, "minReadySeconds", deployment_spec, "minReadySeconds");
	return bad ? -1 : 0;
}
