/*
 * Rendering a breakwater Service into the objects the operator owns. See
 * render.h. Every public function first reads the object into a struct
 * spec (borrowed pointers into svc, defaults applied, everything validated),
 * then builds the output from that struct alone.
 *
 * Building uses jansson's stealing setters in a chain (`bad |=
 * json_object_set_new(...)`): they release the value on every failure, also
 * when the container or the value is NULL after a failed allocation, so a
 * chain never leaks and one check at its end reports BW_ENOMEM.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "dnsname.h"
#include "json.h"
#include "error.h"
#include "podtemplate.h"
#include "confighash.h"
#include "scaling.h"
#include "render.h"

#define NEED_NAMESPACE 1
#define NEED_UID       2

#define PORT_MAX     65535
#define REPLICAS_MAX 1000
#define DEADLINE_MAX 86400
#define PERIOD_MAX   3600

/* A breakwater Service, read and defaulted. Pointers borrow from the object. */
struct spec {
	const json_t *spec; /* the whole spec, for podtemplate.h */
	const char *name, *ns, *uid, *image;
	json_int_t replicas, port;
	const json_t *env;	 /* array or NULL */
	const json_t *resources; /* object or NULL */

	int has_health;
	const char *health_path;
	json_int_t health_port, initial_delay, period, timeout, failure_threshold;

	int has_route;
	const char *path_prefix, *host, *class_name; /* host, class_name may be NULL */
	int http_route;				     /* spec.route.kind HTTPRoute */
	const char *tls_secret;			     /* spec.route.tls.secretName or NULL */
	const char *parent_name, *parent_ns, *parent_section; /* spec.route.parentRef */

	const json_t *max_surge, *max_unavailable; /* NULL: the default */
	json_int_t deadline;
	int paused;
};

static int wrong_type(struct bw_error *err, const char *path, const char *want, const json_t *v)
{
	return bw_error_set(err, BW_EINVAL, "%s: must be %s, got %s", path, want,
			    bw_json_type_name(v));
}

/* An optional integer in min..max, def when absent. */
static int get_int(const json_t *obj, const char *key, const char *path, json_int_t def,
		   json_int_t min, json_int_t max, json_int_t *out, struct bw_error *err)
{
	*out = def;
	return bw_json_int_in_range(bw_json_get(obj, key), path, min, max, out, err);
}

/* A string; *out is NULL when absent or "" and not required. */
static int get_str(const json_t *obj, const char *key, const char *path, int required,
		   const char **out, struct bw_error *err)
{
	const json_t *v = bw_json_get(obj, key);

	*out = NULL;
	if (v && !json_is_string(v))
		return wrong_type(err, path, "a string", v);
	if (v && json_string_length(v) > 0)
		*out = json_string_value(v);
	if (!*out && required)
		return bw_error_set(err, BW_EINVAL, v ? "%s: must not be empty" : "%s: required",
				    path);
	return 0;
}

static int get_bool(const json_t *obj, const char *key, const char *path, int def, int *out,
		    struct bw_error *err)
{
	const json_t *v = bw_json_get(obj, key);

	if (v && !json_is_boolean(v))
		return wrong_type(err, path, "a boolean", v);
	*out = v ? json_is_true(v) : def;
	return 0;
}

/* An optional object or array (want is JSON_OBJECT or JSON_ARRAY). */
static int get_typed(const json_t *obj, const char *key, const char *path, json_type want,
		     const json_t **out, struct bw_error *err)
{
	const json_t *v = bw_json_get(obj, key);

	*out = NULL;
	if (v && json_typeof(v) != want)
		return wrong_type(err, path, want == JSON_OBJECT ? "an object" : "an array", v);
	*out = v;
	return 0;
}

/*
 * An IntOrString of a rolling update: a non-negative integer or a percent
 * string "N%" (at most 100% when max_percent is set). *out borrows the value
 * (NULL when absent); *zero tells whether it is 0 or "0%".
 */
static int get_int_or_percent(const json_t *obj, const char *key, const char *path, int max_percent,
			      const json_t **out, int *zero, struct bw_error *err)
{
	const json_t *v = bw_json_get(obj, key);
	const char *s;
	size_t i, n;
	long pct = 0;

	*out = v;
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
			return bw_error_set(err, BW_EINVAL,
					    "%s: %" JSON_INTEGER_FORMAT " is out of range 0..%d",
					    path, json_integer_value(v), INT32_MAX);
		*zero = json_integer_value(v) == 0;
		return 0;
	}
	if (!json_is_string(v))
		return wrong_type(err, path, "an integer or a percent string such as \"25%\"", v);
	s = json_string_value(v);
	n = json_string_length(v);
	if (n < 2 || n > 10 || s[n - 1] != '%')
		goto bad_percent;
	for (i = 0; i + 1 < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			goto bad_percent;
		pct = pct * 10 + (s[i] - '0');
	}
	if (max_percent && pct > 100)
		return bw_error_set(err, BW_EINVAL, "%s: \"%.100s\" is more than 100%%", path, s);
	*zero = pct == 0;
	return 0;
bad_percent:
	return bw_error_set(
	    err, BW_EINVAL,
	    "%s: \"%.100s\" is neither an integer nor a percent string such as \"25%%\"", path, s);
}

static int parse_health(const json_t *sp, struct spec *s, struct bw_error *err)
{
	const json_t *hc;
	int rc;

	if ((rc = get_typed(sp, "healthCheck", "spec.healthCheck", JSON_OBJECT, &hc, err)))
		return rc;
	if (!hc)
		return 0;
	s->has_health = 1;
	if ((rc = get_str(hc, "path", "spec.healthCheck.path", 1, &s->health_path, err)))
		return rc;
	if (s->health_path[0] != '/')
		return bw_error_set(err, BW_EINVAL,
				    "spec.healthCheck.path: \"%.100s\" must start with /",
				    s->health_path);
	if ((rc = get_int(hc, "port", "spec.healthCheck.port", s->port, 1, PORT_MAX,
			  &s->health_port, err)) ||
	    (rc = get_int(hc, "initialDelaySeconds", "spec.healthCheck.initialDelaySeconds", 0, 0,
			  INT32_MAX, &s->initial_delay, err)) ||
	    (rc = get_int(hc, "periodSeconds", "spec.healthCheck.periodSeconds", 10, 1, PERIOD_MAX,
			  &s->period, err)) ||
	    (rc = get_int(hc, "timeoutSeconds", "spec.healthCheck.timeoutSeconds", 1, 1, INT32_MAX,
			  &s->timeout, err)) ||
	    (rc = get_int(hc, "failureThreshold", "spec.healthCheck.failureThreshold", 3, 1,
			  INT32_MAX, &s->failure_threshold, err)))
		return rc;
	return 0;
}

/* A DNS-1123 subdomain (what a Secret or Gateway name is): dot-separated
 * DNS-1123 labels, at most 253 bytes. */
static int is_subdomain(const char *s)
{
	char label[BW_DNS_LABEL_MAX + 1];
	size_t n = strlen(s), i = 0;

	if (n == 0 || n > 253)
		return 0;
	while (i <= n) {
		size_t len = strcspn(s + i, ".");

		if (len == 0 || len > BW_DNS_LABEL_MAX)
			return 0;
		memcpy(label, s + i, len);
		label[len] = '\0';
		if (!bw_is_dns1123_label(label))
			return 0;
		i += len + 1;
	}
	return 1;
}

/* spec.route.tls {secretName}: Ingress only, and only with a host (the TLS
 * section names the hosts its certificate serves). */
static int parse_route_tls(const json_t *route, struct spec *s, struct bw_error *err)
{
	const json_t *tls;
	int rc;

	if ((rc = get_typed(route, "tls", "spec.route.tls", JSON_OBJECT, &tls, err)) || !tls)
		return rc;
	if ((rc = get_str(tls, "secretName", "spec.route.tls.secretName", 1, &s->tls_secret, err)))
		return rc;
	if (!is_subdomain(s->tls_secret))
		return bw_error_set(err, BW_EINVAL,
				    "spec.route.tls.secretName: \"%.100s\" is not a Secret name "
				    "(a DNS-1123 subdomain)",
				    s->tls_secret);
	if (s->http_route)
		return bw_error_set(err, BW_EINVAL,
				    "spec.route.tls: applies to kind Ingress only; with HTTPRoute "
				    "TLS is terminated by the Gateway's listener");
	if (!s->host)
		return bw_error_set(err, BW_EINVAL,
				    "spec.route.host: required when spec.route.tls is set (the "
				    "certificate is served for that host)");
	return 0;
}

/* spec.route.parentRef {name, namespace, sectionName}: HTTPRoute only, and
 * required there (an HTTPRoute attached to no Gateway carries nothing). */
static int parse_route_parent(const json_t *route, struct spec *s, struct bw_error *err)
{
	const json_t *ref;
	int rc;

	if ((rc = get_typed(route, "parentRef", "spec.route.parentRef", JSON_OBJECT, &ref, err)))
		return rc;
	if (!ref && s->http_route)
		return bw_error_set(err, BW_EINVAL,
				    "spec.route.parentRef: required when spec.route.kind is "
				    "HTTPRoute (the Gateway the route attaches to)");
	if (!ref)
		return 0;
	if (!s->http_route)
		return bw_error_set(err, BW_EINVAL,
				    "spec.route.parentRef: applies to kind HTTPRoute only");
	if ((rc = get_str(ref, "name", "spec.route.parentRef.name", 1, &s->parent_name, err)) ||
	    (rc = get_str(ref, "namespace", "spec.route.parentRef.namespace", 0, &s->parent_ns,
			  err)) ||
	    (rc = get_str(ref, "sectionName", "spec.route.parentRef.sectionName", 0,
			  &s->parent_section, err)))
		return rc;
	if (!is_subdomain(s->parent_name))
		return bw_error_set(err, BW_EINVAL,
				    "spec.route.parentRef.name: \"%.100s\" is not a Gateway name",
				    s->parent_name);
	if (s->parent_ns && !bw_is_dns1123_label(s->parent_ns))
		return bw_error_set(err, BW_EINVAL,
				    "spec.route.parentRef.namespace: \"%.100s\" is not a DNS label",
				    s->parent_ns);
	if (s->parent_section && !is_subdomain(s->parent_section))
		return bw_error_set(
		    err, BW_EINVAL,
		    "spec.route.parentRef.sectionName: \"%.100s\" is not a listener "
		    "name (a DNS-1123 subdomain)",
		    s->parent_section);
	return 0;
}

static int parse_route(const json_t *sp, struct spec *s, struct bw_error *err)
{
	const json_t *route;
	const char *kind;
	size_t n;
	int rc;

	if ((rc = get_typed(sp, "route", "spec.route", JSON_OBJECT, &route, err)))
		return rc;
	if (!route)
		return 0;
	s->has_route = 1;
	if ((rc = get_str(route, "pathPrefix", "spec.route.pathPrefix", 1, &s->path_prefix, err)))
		return rc;
	n = strlen(s->path_prefix);
	if (s->path_prefix[0] != '/' || s->path_prefix[n - 1] != '/')
		return bw_error_set(err, BW_EINVAL,
				    "spec.route.pathPrefix: \"%.100s\" must start and end with /",
				    s->path_prefix);
	if ((rc = get_str(route, "host", "spec.route.host", 0, &s->host, err)) ||
	    (rc = get_str(route, "ingressClassName", "spec.route.ingressClassName", 0,
			  &s->class_name, err)) ||
	    (rc = get_str(route, "kind", "spec.route.kind", 0, &kind, err)))
		return rc;
	if (kind && strcmp(kind, "Ingress") != 0 && strcmp(kind, "HTTPRoute") != 0)
		return bw_error_set(err, BW_EINVAL,
				    "spec.route.kind: \"%.100s\" must be Ingress or HTTPRoute",
				    kind);
	s->http_route = kind && strcmp(kind, "HTTPRoute") == 0;
	if (s->http_route && s->class_name)
		return bw_error_set(err, BW_EINVAL,
				    "spec.route.ingressClassName: applies to kind Ingress only; "
				    "an HTTPRoute names its Gateway in spec.route.parentRef");
	if ((rc = parse_route_parent(route, s, err)) || (rc = parse_route_tls(route, s, err)))
		return rc;
	return 0;
}

static int parse_rollout(const json_t *sp, struct spec *s, struct bw_error *err)
{
	const json_t *ro;
	int rc, auto_rollback, surge_zero = 0, unavailable_zero = 1;

	if ((rc = get_typed(sp, "rollout", "spec.rollout", JSON_OBJECT, &ro, err)) ||
	    (rc = get_int_or_percent(ro, "maxSurge", "spec.rollout.maxSurge", 0, &s->max_surge,
				     &surge_zero, err)) ||
	    (rc = get_int_or_percent(ro, "maxUnavailable", "spec.rollout.maxUnavailable", 1,
				     &s->max_unavailable, &unavailable_zero, err)) ||
	    (rc = get_int(ro, "progressDeadlineSeconds", "spec.rollout.progressDeadlineSeconds",
			  600, 1, DEADLINE_MAX, &s->deadline, err)) ||
	    (rc =
		 get_bool(ro, "autoRollback", "spec.rollout.autoRollback", 1, &auto_rollback, err)))
		return rc;
	if (surge_zero && unavailable_zero)
		return bw_error_set(err, BW_EINVAL,
				    "spec.rollout.maxUnavailable: may not be 0 when "
				    "spec.rollout.maxSurge is 0 (the rollout could never start)");
	return 0;
}

static int parse_depends_on(const json_t *sp, struct bw_error *err)
{
	const json_t *deps, *d;
	size_t i;
	int rc;

	if ((rc = get_typed(sp, "dependsOn", "spec.dependsOn", JSON_ARRAY, &deps, err)))
		return rc;
	json_array_foreach(deps, i, d)
	{
		if (!json_is_string(d))
			return bw_error_set(err, BW_EINVAL,
					    "spec.dependsOn[%zu]: must be a string, got %s", i,
					    bw_json_type_name(d));
		if (!bw_is_dns1035_label(json_string_value(d)))
			return bw_error_set(
			    err, BW_EINVAL,
			    "spec.dependsOn[%zu]: \"%.100s\" is not a Service name (a DNS "
			    "label: lowercase letters, digits and '-')",
			    i, json_string_value(d));
	}
	return 0;
}

/* spec.configRollout: Enabled or Disabled (confighash.h), absent: Enabled. */
static int parse_config_rollout(const json_t *sp, struct bw_error *err)
{
	const json_t *v = json_object_get(sp, BW_CONFIG_ROLLOUT_FIELD);
	const char *t = json_string_value(v);

	if (!v || (t && (strcmp(t, "Enabled") == 0 || strcmp(t, BW_CONFIG_ROLLOUT_DISABLED) == 0)))
		return 0;
	return bw_error_set(err, BW_EINVAL,
			    "spec." BW_CONFIG_ROLLOUT_FIELD ": must be Enabled or Disabled");
}

/* Reads and checks svc into *s; need is a mask of NEED_* for metadata fields. */
static int parse(const json_t *svc, int need, struct spec *s, struct bw_error *err)
{
	const json_t *md, *sp;
	int rc;

	memset(s, 0, sizeof(*s));
	if (!json_is_object(svc))
		return bw_error_set(err, BW_EINVAL, "the Service must be a JSON object");
	if ((rc = get_typed(svc, "metadata", "metadata", JSON_OBJECT, &md, err)) ||
	    (rc = get_str(md, "name", "metadata.name", 1, &s->name, err)))
		return rc;
	if (!bw_is_dns1035_label(s->name))
		return bw_error_set(
		    err, BW_EINVAL,
		    "metadata.name: \"%.100s\" is not a DNS label (at most 63 lowercase "
		    "letters, digits and '-', starting with a letter)",
		    s->name);
	if ((rc = get_str(md, "namespace", "metadata.namespace", need & NEED_NAMESPACE, &s->ns,
			  err)) ||
	    (rc = get_str(md, "uid", "metadata.uid", need & NEED_UID, &s->uid, err)))
		return rc;
	if (s->ns && !bw_is_dns1123_label(s->ns))
		return bw_error_set(err, BW_EINVAL,
				    "metadata.namespace: \"%.100s\" is not a DNS label", s->ns);

	if ((rc = get_typed(svc, "spec", "spec", JSON_OBJECT, &sp, err)) ||
	    (rc = get_str(sp, "image", "spec.image", 1, &s->image, err)) ||
	    (rc =
		 get_int(sp, "replicas", "spec.replicas", 1, 0, REPLICAS_MAX, &s->replicas, err)) ||
	    (rc = get_int(sp, "port", "spec.port", BW_RENDER_DEFAULT_PORT, 1, PORT_MAX, &s->port,
			  err)) ||
	    (rc = get_typed(sp, "env", "spec.env", JSON_ARRAY, &s->env, err)) ||
	    (rc = get_typed(sp, "resources", "spec.resources", JSON_OBJECT, &s->resources, err)) ||
	    (rc = parse_health(sp, s, err)) || (rc = parse_depends_on(sp, err)) ||
	    (rc = parse_route(sp, s, err)) || (rc = parse_rollout(sp, s, err)) ||
	    (rc = get_bool(sp, "paused", "spec.paused", 0, &s->paused, err)) ||
	    (rc = bw_podtemplate_check(sp, s->deadline, err)) ||
	    (rc = parse_config_rollout(sp, err)) ||
	    (rc = bw_scaling_check(sp, err))) /* autoscaling, disruptionBudget */
		return rc;
	s->spec = sp;
	return 0;
}

/* {app.kubernetes.io/name, app.kubernetes.io/managed-by, breakwater.io/service}. */
static json_t *labels(const char *name)
{
	return json_pack("{s:s, s:s, s:s}", BW_LABEL_NAME, name, BW_LABEL_MANAGED, BW_MANAGER,
			 BW_LABEL_SERVICE, name);
}

static json_t *selector(const char *name)
{
	return json_pack("{s:s}", BW_LABEL_SERVICE, name);
}

/* metadata of an owned object: name, namespace, labels, owner reference. */
static json_t *owned_metadata(const struct spec *s)
{
	json_t *md = json_object(), *refs = json_array();
	int bad = 0;

	bad |= json_array_append_new(refs, json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion",
						     BW_API_VERSION, "kind", BW_KIND_SERVICE,
						     "name", s->name, "uid", s->uid, "controller",
						     1, "blockOwnerDeletion", 1));
	bad |= json_object_set_new(md, "name", json_string(s->name));
	bad |= json_object_set_new(md, "namespace", json_string(s->ns));
	bad |= json_object_set_new(md, "labels", labels(s->name));
	bad |= json_object_set_new(md, "ownerReferences", refs);
	if (bad) {
		json_decref(md);
		return NULL;
	}
	return md;
}

/* The skeleton of an owned object: apiVersion, kind, metadata. */
static json_t *owned_object(const struct spec *s, const char *api_version, const char *kind)
{
	json_t *obj = json_object();
	int bad = 0;

	bad |= json_object_set_new(obj, "apiVersion", json_string(api_version));
	bad |= json_object_set_new(obj, "kind", json_string(kind));
	bad |= json_object_set_new(obj, "metadata", owned_metadata(s));
	if (bad) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/*
 * A probe of healthCheck: readiness GETs the path; liveness only opens a TCP
 * connection to the same port, so a health path that reports a downstream
 * as down takes the pod out of the endpoints but never restarts it.
 */
static json_t *probe(const struct spec *s, int liveness)
{
	json_t *handler =
	    liveness ? json_pack("{s:I}", "port", s->health_port)
		     : json_pack("{s:s, s:I}", "path", s->health_path, "port", s->health_port);

	return json_pack("{s:o, s:I, s:I, s:I, s:I}", liveness ? "tcpSocket" : "httpGet", handler,
			 "initialDelaySeconds", s->initial_delay, "periodSeconds", s->period,
			 "timeoutSeconds", s->timeout, "failureThreshold", s->failure_threshold);
}

/* The one container, named app: everything the pods run. */
static json_t *container(const struct spec *s, const char *image)
{
	json_t *c = json_object(), *ports = json_array();
	int bad = 0;

	bad |= json_array_append_new(ports, json_pack("{s:s, s:I, s:s}", "name", "http",
						      "containerPort", s->port, "protocol", "TCP"));
	bad |= json_object_set_new(c, "name", json_string(BW_APP_CONTAINER));
	bad |= json_object_set_new(c, "image", json_string(image));
	bad |= json_object_set_new(c, "ports", ports);
	if (s->env)
		bad |= json_object_set_new(c, "env", json_deep_copy(s->env));
	if (s->resources)
		bad |= json_object_set_new(c, "resources", json_deep_copy(s->resources));
	if (s->has_health) {
		bad |= json_object_set_new(c, "readinessProbe", probe(s, 0));
		bad |= json_object_set_new(c, "livenessProbe", probe(s, 1));
	}
	if (bad) {
		json_decref(c);
		return NULL;
	}
	return c;
}

static json_t *int_or_percent(const json_t *v, const char *def_percent, json_int_t def_int)
{
	if (v)
		return json_deep_copy(v);
	return def_percent ? json_string(def_percent) : json_integer(def_int);
}

static json_t *deployment_spec(const struct spec *s, const char *image)
{
	json_t *sp = json_object(), *tmpl = json_object(), *tmeta = json_object();
	json_t *pod = json_object(), *containers = json_array();
	json_t *strategy = json_object(), *rolling = json_object(), *c = container(s, image);
	int bad = 0;

	bad |= json_array_append_new(containers, json_incref(c));
	bad |= json_object_set_new(pod, "containers", containers);
	bad |= json_object_set_new(tmeta, "labels", labels(s->name));
	bad |= json_object_set_new(tmpl, "metadata", tmeta);
	bad |= json_object_set_new(tmpl, "spec", pod);

	bad |= json_object_set_new(rolling, "maxSurge", int_or_percent(s->max_surge, "25%", 0));
	bad |= json_object_set_new(rolling, "maxUnavailable",
				   int_or_percent(s->max_unavailable, NULL, 0));
	bad |= json_object_set_new(strategy, "type", json_string("RollingUpdate"));
	bad |= json_object_set_new(strategy, "rollingUpdate", rolling);

	bad |= json_object_set_new(sp, "replicas", json_integer(s->replicas));
	bad |= json_object_set_new(sp, "selector", json_object());
	bad |=
	    json_object_set_new(json_object_get(sp, "selector"), "matchLabels", selector(s->name));
	bad |= json_object_set_new(sp, "template", tmpl);
	bad |= json_object_set_new(sp, "strategy", strategy);
	bad |= json_object_set_new(sp, "progressDeadlineSeconds", json_integer(s->deadline));
	bad |= json_object_set_new(sp, "paused", json_boolean(s->paused));
	bad |= json_object_set_new(sp, "revisionHistoryLimit", json_integer(10));
	/* the fields of model/podtemplate.h; probes set there replace healthCheck's */
	bad |= !c || bw_podtemplate_apply(s->spec, tmeta, pod, c, sp) != 0;
	json_decref(c);
	if (bad) {
		json_decref(sp);
		return NULL;
	}
	return sp;
}

/* Sets *out to NULL and checks the arguments every renderer takes. */
static int start(const json_t *svc, json_t **out, struct bw_error *err)
{
	if (out)
		*out = NULL;
	if (!svc || !out)
		return bw_error_set(err, BW_EINVAL, "render: svc and out are required");
	return 0;
}

int bw_render_validate(const json_t *svc, struct bw_error *err)
{
	struct spec s;

	if (!svc)
		return bw_error_set(err, BW_EINVAL, "render: svc is required");
	return parse(svc, 0, &s, err);
}

/* Hands obj to *out, or frees it and says so when building it failed (bad,
 * or obj NULL): the last step of every renderer. */
static int finish(json_t *obj, int bad, const char *kind, const char *name, json_t **out,
		  struct bw_error *err)
{
	if (bad || !obj) {
		json_decref(obj);
		return bw_error_set(err, BW_ENOMEM, "render: out of memory building %s %s", kind,
				    name);
	}
	*out = obj;
	return 0;
}

/* spec.restartAt, a restart the user asked for, as an annotation of the pod
 * template: a new time is a new template, so new pods (as `kubectl rollout
 * restart` does), and a revision of its own. */
static int restart_at(const json_t *svc, json_t *d, struct bw_error *err)
{
	const json_t *at = json_object_get(json_object_get(svc, "spec"), "restartAt");
	json_t *tmeta, *ann;

	if (!at)
		return 0;
	if (!json_is_string(at)) {
		json_decref(d);
		return bw_error_set(err, BW_EINVAL,
				    "spec.restartAt: must be an RFC 3339 date-time");
	}
	tmeta =
	    json_object_get(json_object_get(json_object_get(d, "spec"), "template"), "metadata");
	if (!json_object_get(tmeta, "annotations"))
		json_object_set_new(tmeta, "annotations", json_object());
	ann = json_object_get(tmeta, "annotations");
	if (!ann || json_object_set_new(ann, BW_ANNOTATION_RESTART_AT, json_deep_copy(at)) != 0) {
		json_decref(d);
		return bw_error_set(err, BW_ENOMEM,
				    "render: out of memory building the Deployment");
	}
	return 0;
}

/* The config hash the operator computed (model/confighash.h), carried in
 * its copy of the spec, as the pod template's annotation: new content of a
 * referenced ConfigMap or Secret is a new template, so new pods. */
static int config_hash(const json_t *svc, json_t *d, struct bw_error *err)
{
	const json_t *h = json_object_get(json_object_get(svc, "spec"), BW_CONFIG_HASH_FIELD);
	json_t *tmeta, *ann;

	if (!h)
		return 0;
	if (!json_is_string(h)) {
		json_decref(d);
		return bw_error_set(err, BW_EINVAL,
				    "spec." BW_CONFIG_HASH_FIELD ": must be a string");
	}
	tmeta =
	    json_object_get(json_object_get(json_object_get(d, "spec"), "template"), "metadata");
	if (!json_object_get(tmeta, "annotations"))
		json_object_set_new(tmeta, "annotations", json_object());
	ann = json_object_get(tmeta, "annotations");
	if (!ann || json_object_set_new(ann, BW_ANNOTATION_CONFIG_HASH, json_deep_copy(h)) != 0) {
		json_decref(d);
		return bw_error_set(err, BW_ENOMEM,
				    "render: out of memory building the Deployment");
	}
	return 0;
}

int bw_render_deployment(const json_t *svc, const char *image, json_t **out, struct bw_error *err)
{
	struct spec s;
	json_t *d = NULL, *image_check = NULL;
	int rc;

	if ((rc = start(svc, out, err)) || (rc = parse(svc, NEED_NAMESPACE | NEED_UID, &s, err)))
		goto out;
	if (image && *image) {
		/* the override comes from status.lastGoodImage or the caller: check it */
		image_check = json_string(image);
		if (!image_check) {
			rc = bw_error_set(err, BW_EINVAL, "image: not valid UTF-8");
			goto out;
		}
		s.image = image;
	}
	d = owned_object(&s, "apps/v1", "Deployment");
	rc = finish(d, !d || json_object_set_new(d, "spec", deployment_spec(&s, s.image)),
		    "Deployment", s.name, out, err);
	if (rc == 0 && (rc = restart_at(svc, *out, err)) != 0)
		*out = NULL; /* freed */
	if (rc == 0 && (rc = config_hash(svc, *out, err)) != 0)
		*out = NULL; /* freed */
out:
	json_decref(image_check);
	return rc;
}

int bw_render_service(const json_t *svc, json_t **out, struct bw_error *err)
{
	struct spec s;
	json_t *obj = NULL, *sp;
	int rc, bad = 0;

	if ((rc = start(svc, out, err)) || (rc = parse(svc, NEED_NAMESPACE | NEED_UID, &s, err)))
		return rc;
	obj = owned_object(&s, "v1", "Service");
	sp = json_pack("{s:s, s:[{s:s, s:I, s:s, s:s}]}", "type", "ClusterIP", "ports", "name",
		       "http", "port", s.port, "targetPort", "http", "protocol", "TCP");
	bad |= json_object_set_new(sp, "selector", selector(s.name));
	bad |= json_object_set_new(obj, "spec", sp);
	return finish(obj, bad, "Service", s.name, out, err);
}

int bw_render_ingress(const json_t *svc, json_t **out, struct bw_error *err)
{
	struct spec s;
	json_t *obj, *sp, *rule, *rules;
	int rc, bad = 0;

	if ((rc = start(svc, out, err)) || (rc = parse(svc, NEED_NAMESPACE | NEED_UID, &s, err)) ||
	    !s.has_route || s.http_route)
		return rc; /* no route, or an HTTPRoute: no Ingress, *out stays NULL */
	obj = owned_object(&s, "networking.k8s.io/v1", "Ingress");
	sp = json_object();
	rules = json_array();
	rule = json_pack("{s:{s:[{s:s, s:s, s:{s:{s:s, s:{s:s}}}}]}}", "http", "paths", "path",
			 s.path_prefix, "pathType", "Prefix", "backend", "service", "name", s.name,
			 "port", "name", "http");
	if (s.host)
		bad |= json_object_set_new(rule, "host", json_string(s.host));
	bad |= json_array_append_new(rules, rule);
	if (s.class_name)
		bad |= json_object_set_new(sp, "ingressClassName", json_string(s.class_name));
	if (s.tls_secret) /* the host is required with TLS (parse_route_tls) */
		bad |= json_object_set_new(
		    sp, "tls",
		    json_pack("[{s:[s], s:s}]", "hosts", s.host, "secretName", s.tls_secret));
	bad |= json_object_set_new(sp, "rules", rules);
	bad |= json_object_set_new(obj, "spec", sp);
	return finish(obj, bad, "Ingress", s.name, out, err);
}

int bw_render_httproute(const json_t *svc, json_t **out, struct bw_error *err)
{
	struct spec s;
	json_t *obj, *sp, *parent;
	int rc, bad = 0;

	if ((rc = start(svc, out, err)) || (rc = parse(svc, NEED_NAMESPACE | NEED_UID, &s, err)) ||
	    !s.has_route || !s.http_route)
		return rc; /* no route, or an Ingress: no HTTPRoute, *out stays NULL */
	obj = owned_object(&s, BW_RENDER_GATEWAY_API_VERSION, "HTTPRoute");
	parent = json_pack("{s:s, s:s, s:s}", "group", "gateway.networking.k8s.io", "kind",
			   "Gateway", "name", s.parent_name);
	if (s.parent_ns)
		bad |= json_object_set_new(parent, "namespace", json_string(s.parent_ns));
	if (s.parent_section)
		bad |= json_object_set_new(parent, "sectionName", json_string(s.parent_section));
	sp = json_pack("{s:[o], s:[{s:[{s:{s:s, s:s}}], s:[{s:s, s:s, s:s, s:I, s:i}]}]}",
		       "parentRefs", parent, "rules", "matches", "path", "type", "PathPrefix",
		       "value", s.path_prefix, "backendRefs", "group", "", "kind", "Service",
		       "name", s.name, "port", s.port, "weight", 1);
	if (s.host)
		bad |= json_object_set_new(sp, "hostnames", json_pack("[s]", s.host));
	bad |= json_object_set_new(obj, "spec", sp);
	return finish(obj, bad, "HTTPRoute", s.name, out, err);
}

/* snprintf into buf, BW_ETOOBIG when it does not fit. */
static int put(char *buf, size_t size, int n, const char *what, struct bw_error *err)
{
	if (n < 0 || (size_t)n >= size) {
		if (size)
			buf[0] = '\0';
		return bw_error_set(err, BW_ETOOBIG,
				    "render: the %s needs %d bytes, the buffer has %zu", what,
				    n + 1, size);
	}
	return 0;
}

int bw_render_selector(const json_t *svc, char *buf, size_t size, struct bw_error *err)
{
	struct spec s;
	int rc;

	if (!svc || !buf)
		return bw_error_set(err, BW_EINVAL, "render: svc and buf are required");
	if ((rc = parse(svc, 0, &s, err)))
		return rc;
	return put(buf, size, snprintf(buf, size, "%s=%s", BW_LABEL_SERVICE, s.name), "selector",
		   err);
}

int bw_render_url(const json_t *svc, char *buf, size_t size, struct bw_error *err)
{
	struct spec s;
	int rc;

	if (!svc || !buf)
		return bw_error_set(err, BW_EINVAL, "render: svc and buf are required");
	if ((rc = parse(svc, NEED_NAMESPACE, &s, err)))
		return rc;
	return put(buf, size,
		   snprintf(buf, size, "http://%s.%s.svc.%s:%" JSON_INTEGER_FORMAT, s.name, s.ns,
			    BW_RENDER_CLUSTER_DOMAIN, s.port),
		   "url", err);
}

int bw_render_route_url(const json_t *svc, const char *lb_address, char *buf, size_t size,
			struct bw_error *err)
{
	struct spec s;
	const char *host;
	int rc;

	if (!svc || !buf || !size)
		return bw_error_set(err, BW_EINVAL, "render: svc and buf are required");
	buf[0] = '\0';
	if ((rc = parse(svc, 0, &s, err)) || !s.has_route)
		return rc;
	/* a wildcard host names no one address; an HTTPRoute's address is its
	 * Gateway's, not read (no access to Gateways) */
	host = s.host && strncmp(s.host, "*.", 2) != 0 ? s.host : NULL;
	if (!host && !s.http_route && !s.host && lb_address && *lb_address)
		host = lb_address;
	if (!host)
		return 0;
	return put(
	    buf, size,
	    snprintf(buf, size, "%s://%s%s", s.tls_secret ? "https" : "http", host, s.path_prefix),
	    "route url", err);
}
