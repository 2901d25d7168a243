/*
 * Pod injection as a JSON Patch: see mutate.h.
 *
 * The function first decides whether the pod is in scope, then builds the
 * list of variables to inject (a JSON array of {name, value}, in a fixed
 * order: service, namespace, dependency URLs sorted by name, the two files),
 * hashes it with the volume and the mount into the config generation, and
 * finally compares the pod with that list, container by container, adding
 * only what is missing.
 *
 * Building uses jansson's stealing setters (`bad |= json_..._new(...)`):
 * they release the value on every failure, also when the container is NULL
 * after a failed allocation, so a chain never leaks and one check at its end
 * reports BW_ENOMEM.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "dnsname.h"
#include "json.h"
#include "error.h"
#include "render.h"
#include "mutate.h"

#define NAME_MAX_LEN (BW_DNS_LABEL_MAX + sizeof("_SERVICE_URL"))
#define PATH_MAX_LEN 128

/* The shared state of one call. */
struct ctx {
	const struct bw_mutate_input *in;
	const char *service; /* the pod's breakwater.io/service label, or NULL */
	json_t *vars;	     /* [{name, value}] to inject */
	int proxy_on;	     /* the pod is opted in to the sidecar (proxy_wanted()) */
	json_t *proxy_args;  /* "--dependency", "NAME=PORT=URL", ... */
	int n_proxied;	     /* dependencies behind the sidecar */
	json_t *sidecar;     /* the init container, NULL when none */
	json_t *patch;
	json_t *warnings;
	char generation[BW_MUTATE_GENERATION_CHARS + 1];
	int bad; /* an allocation failed */
};

static const char *str_field(const json_t *obj, const char *key)
{
	return json_string_value(bw_json_get(obj, key));
}

static void warn(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	c->bad |= bw_json_append_vprintf(c->warnings, fmt, ap);
	va_end(ap);
}

static void add_var(struct ctx *c, const char *name, const char *value)
{
	json_t *v = json_object();

	c->bad |= json_object_set_new(v, "name", json_string(name));
	c->bad |= json_object_set_new(v, "value", json_string(value));
	c->bad |= json_array_append_new(c->vars, v);
}

/* Appends {"op": "add", "path": path, "value": value}, taking value over. */
static void add_op(struct ctx *c, const char *path, json_t *value)
{
	json_t *op = json_object();

	c->bad |= json_object_set_new(op, "op", json_string("add"));
	c->bad |= json_object_set_new(op, "path", json_string(path));
	c->bad |= json_object_set_new(op, "value", value);
	c->bad |= json_array_append_new(c->patch, op);
}

/* Writes prefix + the JSON-pointer escaping of token (RFC 6901: '~' is
 * "~0", '/' is "~1") into buf. */
static void pointer(char *buf, size_t size, const char *prefix, const char *token)
{
	size_t n = (size_t)snprintf(buf, size, "%s", prefix);

	for (; *token && n + 3 < size; token++) {
		if (*token == '~' || *token == '/') {
			buf[n++] = '~';
			buf[n++] = *token == '~' ? '0' : '1';
		} else {
			buf[n++] = *token;
		}
	}
	buf[n < size ? n : size - 1] = '\0';
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Where the pod stands: returns the reason it is skipped, or NULL. */
static const char *decide(struct ctx *c, const json_t *labels)
{
	const char *pod = str_field(labels, BW_LABEL_INJECT);
	const char *ns = str_field(c->in->namespace_labels, BW_LABEL_INJECT);
	int pod_on = pod && strcmp(pod, "enabled") == 0;

	if (pod && strcmp(pod, "disabled") == 0)
		return "pod opted out";
	if (pod && !pod_on)
		warn(c, "%s=%.63s: neither enabled nor disabled; ignored", BW_LABEL_INJECT, pod);
	if (pod_on)
		return NULL;
	if (ns && strcmp(ns, "disabled") == 0)
		return "namespace opted out";
	if ((ns && strcmp(ns, "enabled") == 0) || c->service)
		return NULL;
	return "namespace not opted in";
}

/* Whether the pod's Service is opted in to the breaker sidecar (mutate.h). */
static int proxy_wanted(struct ctx *c)
{
	const char *field = str_field(bw_json_get(c->in->service, "spec"), "breakerSidecar");
	const char *ns = str_field(c->in->namespace_labels, BW_LABEL_PROXY);
	int on;

	if (!c->in->service)
		return 0;
	if (ns && strcmp(ns, "enabled") != 0 && strcmp(ns, "disabled") != 0)
		warn(c, "namespace label %s=%.63s: neither enabled nor disabled; ignored",
		     BW_LABEL_PROXY, ns);
	if (field && strcmp(field, "Disabled") == 0)
		return 0;
	if (field && strcmp(field, "Enabled") == 0)
		on = 1;
	else if (ns && strcmp(ns, "disabled") == 0)
		return 0;
	else
		on = ns && strcmp(ns, "enabled") == 0;
	if (on && (!c->in->proxy_image || !*c->in->proxy_image)) {
		warn(c, "breaker sidecar opted in, but the operator has no --proxy-image; not "
			"injected");
		return 0;
	}
	return on;
}

/* Whether a Breaker of the namespace targets dependency name. */
static int has_breaker(struct ctx *c, const char *name)
{
	const json_t *t;
	size_t i;

	json_array_foreach(c->in->breaker_targets, i, t)
	{
		if (json_is_string(t) && strcmp(json_string_value(t), name) == 0)
			return 1;
	}
	return 0;
}

/* The URL the application calls for dependency name at url: the sidecar's
 * next local port when the dependency has a Breaker and the pod is opted
 * in (and the sidecar's --dependency for it), else url itself. */
static void dependency_url(struct ctx *c, const char *name, const char *var, const char *url,
			   char *out, size_t size)
{
	char arg[BW_DNS_LABEL_MAX + BW_RENDER_URL_MAX + 16];
	int port;

	snprintf(out, size, "%s", url);
	if (!c->proxy_on || !has_breaker(c, name))
		return;
	if (c->n_proxied == BW_MUTATE_PROXY_MAX_DEPENDENCIES) {
		warn(c,
		     "dependency %s: more than %d dependencies with a Breaker; %s calls it "
		     "directly",
		     name, BW_MUTATE_PROXY_MAX_DEPENDENCIES, var);
		return;
	}
	port = BW_MUTATE_PROXY_PORT_BASE + ++c->n_proxied;
	snprintf(out, size, "http://127.0.0.1:%d", port);
	snprintf(arg, sizeof(arg), "%s=%d=%s", name, port, url);
	c->bad |= json_array_append_new(c->proxy_args, json_string("--dependency"));
	c->bad |= json_array_append_new(c->proxy_args, json_string(arg));
}

/* The <NAME>_SERVICE_URL variables, sorted by dependency name. */
static int dependency_vars(struct ctx *c, struct bw_error *err)
{
	const json_t *depends = bw_json_get(bw_json_get(c->in->service, "spec"), "dependsOn"), *d,
		     *port;
	const char **names = NULL;
	char name[NAME_MAX_LEN], url[BW_RENDER_URL_MAX], value[BW_RENDER_URL_MAX];
	size_t i, j, n = 0;
	int rc = 0;

	if (c->service && !c->in->service)
		warn(c,
		     "%s=%.63s: no breakwater Service named %.63s in namespace %s; no "
		     "dependency URLs injected",
		     BW_LABEL_SERVICE, c->service, c->service, c->in->namespace);
	if (!json_is_array(depends) || json_array_size(depends) == 0)
		return 0;
	names = calloc(json_array_size(depends), sizeof(*names));
	if (!names)
		return bw_error_set(err, BW_ENOMEM, "mutate: out of memory");
	json_array_foreach(depends, i, d)
	{
		if (json_is_string(d) && bw_is_dns1123_label(json_string_value(d)))
			names[n++] = json_string_value(d);
		else if (json_is_string(d))
			warn(c, "spec.dependsOn[%zu]: \"%.63s\" is not a Service name; ignored", i,
			     json_string_value(d));
	}
	qsort(names, n, sizeof(*names), cmp_str);
	for (i = 0; i < n; i++) {
		if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
			continue;
		for (j = 0; names[i][j]; j++)
			name[j] = names[i][j] == '-'
				      ? '_'
				      : (char)(names[i][j] >= 'a' && names[i][j] <= 'z'
						   ? names[i][j] - 'a' + 'A'
						   : names[i][j]);
		snprintf(name + j, sizeof(name) - j, "_SERVICE_URL");
		port = bw_json_get(c->in->deps, names[i]);
		if (!port) {
			warn(c, "dependency %s: no Service named %s in namespace %s; %s not set",
			     names[i], names[i], c->in->namespace, name);
			continue;
		}
		if (!json_is_integer(port) || json_integer_value(port) < 1 ||
		    json_integer_value(port) > 65535) {
			rc =
			    bw_error_set(err, BW_EINVAL,
					 "deps.%s: must be a port (an integer 1..65535)", names[i]);
			goto done;
		}
		snprintf(url, sizeof(url), "http://%s.%s.svc.%s:%" JSON_INTEGER_FORMAT, names[i],
			 c->in->namespace, BW_RENDER_CLUSTER_DOMAIN, json_integer_value(port));
		dependency_url(c, names[i], name, url, value, sizeof(value));
		add_var(c, name, value);
	}
done:
	free(names);
	return rc;
}

/* SHA-256, fetched once: EVP_sha256() would make OpenSSL 3 fetch it again
 * (a locked look-up) at every EVP_DigestInit_ex(). NULL when unavailable. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* The config generation: SHA-256 of the variables, the volume and the
 * mount, NUL-separated, as 16 hex digits. */
static int generation(struct ctx *c, char *out, struct bw_error *err)
{
	static const char hex[] = "0123456789abcdef";
	static const char version[] = "breakwater-injection/v1";
	static const char tail[] = "volume\0" BW_REGISTRY_NAME "\0configMap\0" BW_REGISTRY_NAME
				   "\0mount\0" BW_REGISTRY_MOUNT_PATH "\0readOnly";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	const json_t *v;
	const char *s;
	size_t i;
	int ok;

	pthread_once(&sha256_once, sha256_fetch);
	ok = h && sha256_md && EVP_DigestInit_ex(h, sha256_md, NULL) &&
	     EVP_DigestUpdate(h, version, sizeof(version));
	json_array_foreach(c->vars, i, v)
	{
		s = str_field(v, "name");
		ok = ok && EVP_DigestUpdate(h, s, strlen(s) + 1);
		s = str_field(v, "value");
		ok = ok && EVP_DigestUpdate(h, s, strlen(s) + 1);
	}
	ok = ok && EVP_DigestUpdate(h, tail, sizeof(tail));
	if (c->sidecar) {
		/* only then: a pod without it keeps the generation it always had */
		char *text = json_dumps(c->sidecar, JSON_COMPACT | JSON_SORT_KEYS);

		ok = ok && text && EVP_DigestUpdate(h, "sidecar", sizeof("sidecar")) &&
		     EVP_DigestUpdate(h, text, strlen(text) + 1);
		free(text);
	}
	ok = ok && EVP_DigestFinal_ex(h, md, &md_len);
	EVP_MD_CTX_free(h);
	if (!ok || md_len * 2 < BW_MUTATE_GENERATION_CHARS)
		return bw_error_set(err, BW_ENOMEM, "mutate: SHA-256 failed");
	for (i = 0; i < BW_MUTATE_GENERATION_CHARS / 2; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[BW_MUTATE_GENERATION_CHARS] = '\0';
	return 0;
}

/* The breaker sidecar's container (mutate.h): args from c->proxy_args. */
static json_t *sidecar_container(struct ctx *c)
{
	char admin[32];
	json_t *args = json_array(), *ctr;

	snprintf(admin, sizeof(admin), "0.0.0.0:%d", BW_MUTATE_PROXY_ADMIN_PORT);
	c->bad |= json_array_append_new(args, json_string("proxy"));
	c->bad |= json_array_extend(args, c->proxy_args);
	c->bad |= json_array_append_new(args, json_string("--breakers-file"));
	c->bad |= json_array_append_new(
	    args, json_string(BW_REGISTRY_MOUNT_PATH BW_REGISTRY_BREAKERS_KEY));
	c->bad |= json_array_append_new(args, json_string("--admin-bind-address"));
	c->bad |= json_array_append_new(args, json_string(admin));
	/* Resources: bench/README.md measured 8.4 MiB resident idle and 9.6 MiB
	 * at its peak under load, and 25.6 ms of CPU per 1,000 answers; the
	 * request covers that, the limit leaves room for 1,024 connections'
	 * buffers. No cpu limit below one core: throttling would add latency
	 * to every call of the application. */
	ctr = json_pack(
	    "{s:s, s:s, s:s, s:s, s:o,"
	    " s:[{s:s, s:i, s:s}],"
	    " s:{s:{s:s, s:s}, s:{s:s, s:s}},"
	    " s:{s:{s:s, s:i}, s:i, s:i, s:i},"
	    " s:{s:{s:s, s:i}, s:i, s:i},"
	    " s:{s:{s:s, s:i}, s:i, s:i},"
	    " s:{s:b, s:i, s:i, s:b, s:b, s:{s:[s]}, s:{s:s}},"
	    " s:[{s:s, s:s, s:b}]}",
	    "name", BW_PROXY_CONTAINER, "image", c->in->proxy_image, "imagePullPolicy",
	    "IfNotPresent", "restartPolicy", "Always", "args", args,
	    /* ports */
	    "ports", "name", "bw-proxy-admin", "containerPort", BW_MUTATE_PROXY_ADMIN_PORT,
	    "protocol", "TCP",
	    /* resources */
	    "resources", "requests", "cpu", "10m", "memory", "16Mi", "limits", "cpu", "1", "memory",
	    "64Mi",
	    /* the application starts once this succeeds */
	    "startupProbe", "httpGet", "path", "/readyz", "port", BW_MUTATE_PROXY_ADMIN_PORT,
	    "periodSeconds", 1, "timeoutSeconds", 1, "failureThreshold", 30,
	    /* readiness and liveness */
	    "readinessProbe", "httpGet", "path", "/readyz", "port", BW_MUTATE_PROXY_ADMIN_PORT,
	    "periodSeconds", 5, "timeoutSeconds", 1, "livenessProbe", "httpGet", "path", "/healthz",
	    "port", BW_MUTATE_PROXY_ADMIN_PORT, "periodSeconds", 10, "timeoutSeconds", 2,
	    /* Pod Security Standards, restricted */
	    "securityContext", "runAsNonRoot", 1, "runAsUser", 65532, "runAsGroup", 65532,
	    "allowPrivilegeEscalation", 0, "readOnlyRootFilesystem", 1, "capabilities", "drop",
	    "ALL", "seccompProfile", "type", "RuntimeDefault",
	    /* its policies */
	    "volumeMounts", "name", BW_REGISTRY_NAME, "mountPath", BW_REGISTRY_MOUNT_PATH,
	    "readOnly", 1);
	if (!ctr)
		c->bad = 1;
	return ctr;
}

/* What is injected: the variables, in c->vars, and their generation, in
 * c->generation. A function of the namespace, the service label, the
 * Service's dependsOn and the dependencies' ports only: the pod itself has
 * no part in it (bw_mutate_generation() relies on that). */
static int injected_vars(struct ctx *c, struct bw_error *err)
{
	int rc;

	if (c->service)
		add_var(c, "BREAKWATER_SERVICE", c->service);
	add_var(c, "BREAKWATER_NAMESPACE", c->in->namespace);
	if (c->in->breaker_targets && !json_is_array(c->in->breaker_targets))
		return bw_error_set(err, BW_EINVAL, "mutate: breaker_targets must be an array");
	c->proxy_on = proxy_wanted(c);
	if ((rc = dependency_vars(c, err)))
		return rc;
	if (c->n_proxied > 0)
		c->sidecar = sidecar_container(c);
	add_var(c, "BREAKWATER_REGISTRY_FILE", BW_REGISTRY_MOUNT_PATH BW_REGISTRY_KEY);
	add_var(c, "BREAKWATER_BREAKERS_FILE", BW_REGISTRY_MOUNT_PATH BW_REGISTRY_BREAKERS_KEY);
	if (c->bad)
		return bw_error_set(err, BW_ENOMEM, "mutate: out of memory");
	return generation(c, c->generation, err);
}

int bw_mutate_generation(const struct bw_mutate_input *in, const char *service,
			 char out[BW_MUTATE_GENERATION_CHARS + 1], struct bw_error *err)
{
	struct ctx c = {0};
	int rc;

	out[0] = '\0';
	if (!in || !in->namespace || !bw_is_dns1123_label(in->namespace))
		return bw_error_set(err, BW_EINVAL, "namespace: \"%.100s\" is not a namespace name",
				    in && in->namespace ? in->namespace : "");
	if ((in->deps && !json_is_object(in->deps)) ||
	    (in->service && !json_is_object(in->service)) ||
	    (in->namespace_labels && !json_is_object(in->namespace_labels)))
		return bw_error_set(err, BW_EINVAL,
				    "mutate: service, deps and namespace_labels must be objects");
	c.in = in;
	c.service = service && *service ? service : NULL;
	c.warnings = json_array();
	c.vars = json_array();
	c.proxy_args = json_array();
	rc = !c.warnings || !c.vars || !c.proxy_args
		 ? bw_error_set(err, BW_ENOMEM, "mutate: out of memory")
		 : injected_vars(&c, err);
	if (rc == 0)
		memcpy(out, c.generation, sizeof(c.generation));
	json_decref(c.warnings);
	json_decref(c.vars);
	json_decref(c.proxy_args);
	json_decref(c.sidecar);
	return rc;
}

/* An optional array member: NULL when absent or null, BW_EINVAL for another type. */
static int opt_array(const json_t *obj, const char *key, const char *path, const json_t **out,
		     struct bw_error *err)
{
	const json_t *v = bw_json_get(obj, key);

	*out = v;
	if (v && !json_is_array(v))
		return bw_error_set(err, BW_EINVAL, "%s: must be an array", path);
	return 0;
}

static int has_named(const json_t *array, const char *name)
{
	const json_t *v;
	const char *s;
	size_t i;

	json_array_foreach(array, i, v)
	{
		s = str_field(v, "name");
		if (s && strcmp(s, name) == 0)
			return 1;
	}
	return 0;
}

/* True when a mount in mounts is at /etc/breakwater (with or without '/'s at the end). */
static int mounts_our_path(const json_t *mounts)
{
	const size_t want = strlen(BW_REGISTRY_MOUNT_PATH) - 1;
	const json_t *m;
	const char *p;
	size_t i, n;

	json_array_foreach(mounts, i, m)
	{
		p = str_field(m, "mountPath");
		if (!p)
			continue;
		n = strlen(p);
		while (n > 1 && p[n - 1] == '/')
			n--;
		if (n == want && strncmp(p, BW_REGISTRY_MOUNT_PATH, want) == 0)
			return 1;
	}
	return 0;
}

static json_t *volume_mount(void)
{
	return json_pack("{s:s, s:s, s:b}", "name", BW_REGISTRY_NAME, "mountPath",
			 BW_REGISTRY_MOUNT_PATH, "readOnly", 1);
}

/* The ops for containers or initContainers (key). */
static int patch_containers(struct ctx *c, const json_t *spec, const char *key,
			    struct bw_error *err)
{
	const json_t *containers, *ctr, *env, *mounts, *var;
	char path[PATH_MAX_LEN], where[PATH_MAX_LEN];
	json_t *missing, *item;
	size_t i, j;
	int rc;

	snprintf(where, sizeof(where), "spec.%s", key);
	if ((rc = opt_array(spec, key, where, &containers, err)))
		return rc;
	json_array_foreach(containers, i, ctr)
	{
		if (!json_is_object(ctr))
			return bw_error_set(err, BW_EINVAL, "spec.%s[%zu]: must be an object", key,
					    i);
		if (strcmp(str_field(ctr, "name") ? str_field(ctr, "name") : "",
			   BW_PROXY_CONTAINER) == 0)
			continue; /* the sidecar gets no env (mutate.h) */
		snprintf(where, sizeof(where), "spec.%s[%zu].env", key, i);
		if ((rc = opt_array(ctr, "env", where, &env, err)))
			return rc;
		snprintf(where, sizeof(where), "spec.%s[%zu].volumeMounts", key, i);
		if ((rc = opt_array(ctr, "volumeMounts", where, &mounts, err)))
			return rc;

		/* shared, not copied: nothing changes a patch once it is made */
		missing = json_array();
		json_array_foreach(c->vars, j, var)
		{
			if (!has_named(env, str_field(var, "name")))
				c->bad |=
				    json_array_append_new(missing, json_incref((json_t *)var));
		}
		if (!env && json_array_size(missing) > 0) {
			snprintf(path, sizeof(path), "/spec/%s/%zu/env", key, i);
			add_op(c, path, json_incref(missing));
		} else {
			snprintf(path, sizeof(path), "/spec/%s/%zu/env/-", key, i);
			json_array_foreach(missing, j, item)
			{
				add_op(c, path, json_incref(item));
			}
		}
		json_decref(missing);

		if (!mounts_our_path(mounts)) {
			snprintf(path, sizeof(path), "/spec/%s/%zu/volumeMounts%s", key, i,
				 mounts ? "/-" : "");
			add_op(c, path, mounts ? volume_mount() : json_pack("[o]", volume_mount()));
		}
	}
	return 0;
}

static int patch_pod(struct ctx *c, const json_t *metadata, const json_t *spec,
		     struct bw_error *err)
{
	const json_t *annotations = bw_json_get(metadata, "annotations"), *volumes, *vol;
	char path[PATH_MAX_LEN];
	const char *cm;
	size_t i;
	int rc;

	/* the annotation */
	if (!metadata) {
		add_op(
		    c, "/metadata",
		    json_pack("{s:{s:s}}", "annotations", BW_ANNOTATION_INJECTED, c->generation));
	} else if (!annotations) {
		add_op(c, "/metadata/annotations",
		       json_pack("{s:s}", BW_ANNOTATION_INJECTED, c->generation));
	} else {
		pointer(path, sizeof(path), "/metadata/annotations/", BW_ANNOTATION_INJECTED);
		add_op(c, path, json_string(c->generation));
	}

	/* the volume */
	if ((rc = opt_array(spec, "volumes", "spec.volumes", &volumes, err)))
		return rc;
	json_array_foreach(volumes, i, vol)
	{
		if (strcmp(str_field(vol, "name") ? str_field(vol, "name") : "",
			   BW_REGISTRY_NAME) != 0)
			continue;
		cm = str_field(bw_json_get(vol, "configMap"), "name");
		if (!cm || strcmp(cm, BW_REGISTRY_NAME) != 0)
			warn(c,
			     "spec.volumes[%zu]: volume %s is not the ConfigMap %s; %s will not "
			     "hold the registry",
			     i, BW_REGISTRY_NAME, BW_REGISTRY_NAME, BW_REGISTRY_MOUNT_PATH);
		break;
	}
	if (!has_named(volumes, BW_REGISTRY_NAME)) {
		json_t *v = json_pack("{s:s, s:{s:s, s:b}}", "name", BW_REGISTRY_NAME, "configMap",
				      "name", BW_REGISTRY_NAME, "optional", 1);

		add_op(c, volumes ? "/spec/volumes/-" : "/spec/volumes",
		       volumes ? v : json_pack("[o]", v));
	}

	/* the containers */
	if ((rc = patch_containers(c, spec, "initContainers", err)) ||
	    (rc = patch_containers(c, spec, "containers", err)))
		return rc;

	/* the sidecar, first among the init containers: added last, so the
	 * indices of the operations above are those of the pod as it came */
	if (c->sidecar) {
		const json_t *inits = bw_json_get(spec, "initContainers");

		if (has_named(inits, BW_PROXY_CONTAINER) ||
		    has_named(bw_json_get(spec, "containers"), BW_PROXY_CONTAINER))
			warn(c, "the pod already has a container %s; kept as it is",
			     BW_PROXY_CONTAINER);
		else if (json_array_size(inits) > 0)
			add_op(c, "/spec/initContainers/0", json_incref(c->sidecar));
		else
			add_op(c, "/spec/initContainers", json_pack("[O]", c->sidecar));
	}
	return 0;
}

/* What decide(), patch_pod() and patch_containers() read of the pod (see
 * mutate.h), and the names admission.c checks. */
static const struct bw_json_keep read_name[] = {{"name", NULL}, {NULL, NULL}};
static const struct bw_json_keep read_mount_path[] = {{"mountPath", NULL}, {NULL, NULL}};
static const struct bw_json_keep read_container[] = {
    {"name", NULL}, {"env", read_name}, {"volumeMounts", read_mount_path}, {NULL, NULL}};
static const struct bw_json_keep read_volume[] = {
    {"name", NULL}, {"configMap", read_name}, {NULL, NULL}};
static const struct bw_json_keep read_labels[] = {
    {BW_LABEL_SERVICE, NULL}, {BW_LABEL_INJECT, NULL}, {NULL, NULL}};
static const struct bw_json_keep read_annotations[] = {{BW_ANNOTATION_INJECTED, NULL},
						       {NULL, NULL}};
static const struct bw_json_keep read_metadata[] = {{"name", NULL},
						    {"namespace", NULL},
						    {"generateName", NULL},
						    {"labels", read_labels},
						    {"annotations", read_annotations},
						    {NULL, NULL}};
static const struct bw_json_keep read_spec[] = {{"volumes", read_volume},
						{"containers", read_container},
						{"initContainers", read_container},
						{NULL, NULL}};
const struct bw_json_keep bw_mutate_pod_reads[] = {
    {"metadata", read_metadata}, {"spec", read_spec}, {NULL, NULL}};

void bw_mutate_result_release(struct bw_mutate_result *r)
{
	if (!r)
		return;
	json_decref(r->patch);
	json_decref(r->warnings);
	memset(r, 0, sizeof(*r));
}

int bw_mutate_pod(const struct bw_mutate_input *in, struct bw_mutate_result *out,
		  struct bw_error *err)
{
	struct ctx c = {0};
	const json_t *metadata, *labels, *spec;
	const char *current;
	int rc = 0;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!in || !out || !in->pod || !in->namespace) {
		rc = bw_error_set(err, BW_EINVAL,
				  "mutate: in, in->pod, in->namespace and out are "
				  "required");
		goto fail;
	}
	if (!json_is_object(in->pod)) {
		rc = bw_error_set(err, BW_EINVAL, "the Pod must be a JSON object");
		goto fail;
	}
	if (!bw_is_dns1123_label(in->namespace)) {
		rc = bw_error_set(err, BW_EINVAL, "namespace: \"%.100s\" is not a namespace name",
				  in->namespace);
		goto fail;
	}
	if ((in->namespace_labels && !json_is_object(in->namespace_labels)) ||
	    (in->deps && !json_is_object(in->deps)) ||
	    (in->service && !json_is_object(in->service))) {
		rc = bw_error_set(err, BW_EINVAL,
				  "mutate: namespace_labels, service and deps must be objects");
		goto fail;
	}
	metadata = bw_json_get(in->pod, "metadata");
	labels = bw_json_get(metadata, "labels");
	spec = bw_json_get(in->pod, "spec");
	if ((metadata && !json_is_object(metadata)) || (labels && !json_is_object(labels))) {
		rc = bw_error_set(err, BW_EINVAL, "metadata%s: must be an object",
				  metadata && !json_is_object(metadata) ? "" : ".labels");
		goto fail;
	}
	if (!json_is_object(spec)) {
		rc = bw_error_set(err, BW_EINVAL, "spec: must be an object");
		goto fail;
	}

	c.in = in;
	c.service = str_field(labels, BW_LABEL_SERVICE);
	if (c.service && !*c.service)
		c.service = NULL;
	c.warnings = out->warnings = json_array();
	c.vars = json_array();
	c.patch = json_array();
	c.proxy_args = json_array();
	if (!c.warnings || !c.vars || !c.patch || !c.proxy_args)
		goto nomem;

	out->skipped = decide(&c, labels);
	if (out->skipped)
		goto done;
	out->inject = 1;
	if ((rc = injected_vars(&c, err)))
		goto fail;
	memcpy(out->generation, c.generation, sizeof(out->generation));
	out->sidecar = c.sidecar != NULL;

	current = str_field(bw_json_get(metadata, "annotations"), BW_ANNOTATION_INJECTED);
	if (current && strcmp(current, c.generation) == 0) {
		out->skipped = "already injected";
		goto done;
	}
	if ((rc = patch_pod(&c, metadata, spec, err)))
		goto fail;
	if (c.bad)
		goto nomem;
	out->patch = c.patch;
	c.patch = NULL;
	out->patched = 1;
done:
	if (c.bad)
		goto nomem;
	json_decref(c.vars);
	json_decref(c.patch);
	json_decref(c.proxy_args);
	json_decref(c.sidecar);
	return 0;
nomem:
	rc = bw_error_set(err, BW_ENOMEM, "mutate: out of memory");
fail:
	json_decref(c.vars);
	json_decref(c.patch);
	json_decref(c.proxy_args);
	json_decref(c.sidecar);
	bw_mutate_result_release(out);
	return rc;
}
