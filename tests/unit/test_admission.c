/*
 * Unit tests for webhook/admission.c, mutate.c and validate.c, data-driven:
 * each folder under tests/unit/data/admission/ is one case, run in sorted
 * order, through the same steps the HTTPS server takes.
 *
 *   review.json    the AdmissionReview request body, read as bytes (it need
 *                  not be valid JSON)
 *   context.json   what the server would read from the cache:
 *                  {"endpoint": "mutate-pods" | "validate-services" |
 *                   "validate-breakers", "namespaceLabels": {...},
 *                   "service": {...} | null, "deps": {...},
 *                   "services": [...], "breakers": [...],
 *                   "breakerTargets": ["payments", ...], "proxyImage": IMAGE}
 *                  (absent: mutate-pods with nothing in the cache;
 *                  breakerTargets and proxyImage are the breaker sidecar's
 *                  inputs, mutate.h)
 *   response.json  the expected response AdmissionReview, its patch decoded
 *                  to a JSON array under "patch" (the test decodes the real
 *                  base64 before comparing)
 *   error.json     instead of response.json, for a request answered without
 *                  an AdmissionReview: {"httpStatus": 400, "message": TEXT}
 *
 * Every patch is also applied to the input pod (RFC 6902 "add" only) and the
 * result checked: each env variable once, every variable and mount the
 * container had kept, the registry volume and mount exactly once, the
 * annotation holding the generation; the breaker sidecar (container
 * breakwater-proxy) at most once, first among the init containers, with no
 * injected env; and mutating the patched pod again must give no patch
 * (reinvocation), on the pod parsed whole: the server parses only what
 * the mutation reads (bw_mutate_pod_reads), and the answer to that must
 * be the answer to the whole pod. A review holding kube-api-access names (the token volume
 * the API server adds) must get the same answer with them renamed, and one
 * holding managedFields the same answer with others in their place, as
 * webhook/review_memo.h relies on. Runs from the repository root.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "check.h"
#include "json.h"
#include "fixtures.h"
#include "error.h"
#include "../../webhook/admission.h"
#include "../../webhook/mutate.h"
#include "../../webhook/validate.h"

#define DATA	  "tests/unit/data/admission"
#define MAX_CASES 256

static int tokens_renamed;  /* cases whose kube-api-access names were renamed */
static int managed_changed; /* cases whose managedFields were replaced */

/* dir/name as bytes (malloc'd, NUL-terminated), or NULL. */
static char *slurp(const char *dir, const char *name, size_t *len)
{
	char path[1024];
	char *buf = NULL;
	long n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		buf[n] = '\0';
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* ---- base64 and RFC 6902 ---- */

/* The JSON a base64 text encodes, or NULL. */
static json_t *decode_patch(const char *b64)
{
	size_t n = strlen(b64), pad = 0;
	unsigned char *buf = malloc(n / 4 * 3 + 1);
	json_t *v = NULL;
	int got;

	if (!buf || n % 4)
		goto done;
	got = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n);
	if (got < 0)
		goto done;
	while (pad < 2 && n > pad && b64[n - 1 - pad] == '=')
		pad++;
	v = json_loadb((const char *)buf, (size_t)got - pad, 0, NULL);
done:
	free(buf);
	return v;
}

/* One reference token of a JSON pointer, unescaped, into tok; returns the
 * rest of the pointer (at '/' or '\0'). */
static const char *next_token(const char *p, char *tok, size_t size)
{
	size_t n = 0;

	for (p++; *p && *p != '/'; p++) {
		char c = *p;

		if (c == '~') {
			c = p[1] == '0' ? '~' : p[1] == '1' ? '/' : '\0';
			if (!c)
				return NULL;
			p++;
		}
		if (n + 1 < size)
			tok[n++] = c;
	}
	tok[n] = '\0';
	return p;
}

static int array_index(const char *tok, size_t size, size_t *out)
{
	char *end;
	unsigned long i;

	if (!*tok || (tok[0] == '0' && tok[1]) || tok[0] < '0' || tok[0] > '9')
		return -1;
	i = strtoul(tok, &end, 10);
	if (*end || i > size)
		return -1;
	*out = i;
	return 0;
}

/* Applies one "add" operation to doc; -1 (with a message) when it cannot. */
static int apply_add(json_t *doc, const char *path, json_t *value)
{
	char tok[256];
	const char *p = path;
	json_t *cur = doc;
	size_t i;

	if (!p || p[0] != '/')
		return -1;
	for (;;) {
		p = next_token(p, tok, sizeof(tok));
		if (!p)
			return -1;
		if (!*p)
			break;
		if (json_is_object(cur))
			cur = json_object_get(cur, tok);
		else if (json_is_array(cur) && array_index(tok, json_array_size(cur) - 1, &i) == 0)
			cur = json_array_get(cur, i);
		else
			cur = NULL;
		if (!cur) {
			printf("    # %s: a parent does not exist\n", path);
			return -1;
		}
	}
	if (json_is_object(cur))
		return json_object_set(cur, tok, value);
	if (json_is_array(cur) && strcmp(tok, "-") == 0)
		return json_array_append(cur, value);
	if (json_is_array(cur) && array_index(tok, json_array_size(cur), &i) == 0)
		return json_array_insert(cur, i, value);
	printf("    # %s: cannot add there\n", path);
	return -1;
}

static int apply_patch(json_t *doc, const json_t *patch)
{
	const json_t *op;
	size_t i;

	json_array_foreach(patch, i, op)
	{
		const char *kind = json_string_value(json_object_get(op, "op"));

		if (!kind || strcmp(kind, "add") != 0 ||
		    apply_add(doc, json_string_value(json_object_get(op, "path")),
			      json_object_get(op, "value")) != 0)
			return -1;
	}
	return 0;
}

/* ---- what a patched pod must look like ---- */

static size_t count_named(const json_t *array, const char *name)
{
	const json_t *v;
	size_t i, n = 0;

	json_array_foreach(array, i, v)
	{
		const char *s = json_string_value(json_object_get(v, "name"));

		n += s && strcmp(s, name) == 0;
	}
	return n;
}

static size_t count_mounts(const json_t *mounts, const char *path)
{
	const json_t *m;
	size_t i, n = 0, want = strlen(path) - 1;

	json_array_foreach(mounts, i, m)
	{
		const char *s = json_string_value(json_object_get(m, "mountPath"));
		size_t len = s ? strlen(s) : 0;

		while (len > 1 && s[len - 1] == '/')
			len--;
		n += s && len == want && strncmp(s, path, want) == 0;
	}
	return n;
}

/* Every entry of before is in after, unchanged (nothing overridden or lost). */
static int kept(const json_t *before, const json_t *after)
{
	const json_t *v;
	size_t i, j;

	json_array_foreach(before, i, v)
	{
		int found = 0;

		for (j = 0; j < json_array_size(after) && !found; j++)
			found = json_equal(v, json_array_get(after, j));
		if (!found)
			return 0;
	}
	return 1;
}

static void check_containers(const char *name, const char *key, const json_t *before,
			     const json_t *after, const json_t *vars)
{
	const json_t *b = json_object_get(json_object_get(before, "spec"), key);
	const json_t *a = json_object_get(json_object_get(after, "spec"), key), *ctr, *e, *var;
	size_t i, j, k, dups;

	json_array_foreach(a, i, ctr)
	{
		const json_t *env = json_object_get(ctr, "env");
		const char *cname = json_string_value(json_object_get(ctr, "name"));
		const json_t *old = NULL, *o;

		if (cname && strcmp(cname, BW_PROXY_CONTAINER) == 0) {
			CHECK(strcmp(key, "initContainers") == 0 && i == 0 &&
				  count_named(a, BW_PROXY_CONTAINER) == 1,
			      "%s: the sidecar once, first among the init containers", name);
			CHECK(env == NULL, "%s: the sidecar gets no injected env", name);
			continue;
		}
		/* the same container before the patch: by name (the sidecar is
		 * inserted first), else at the same index */
		json_array_foreach(b, j, o)
		{
			const char *n = json_string_value(json_object_get(o, "name"));

			if (cname && n && strcmp(cname, n) == 0)
				old = o;
		}
		if (!old)
			old = json_array_get(b, i);

		dups = 0;
		json_array_foreach(env, j, e)
		{
			const char *n = json_string_value(json_object_get(e, "name"));

			dups += n && count_named(env, n) != 1;
		}
		CHECK(dups == 0, "%s: %s[%zu]: each env variable once", name, key, i);
		k = 0;
		json_array_foreach(vars, j, var)
		{
			k += count_named(env, json_string_value(var)) == 1;
		}
		CHECK(k == json_array_size(vars), "%s: %s[%zu]: every injected variable is there",
		      name, key, i);
		CHECK(kept(json_object_get(old, "env"), env),
		      "%s: %s[%zu]: its own variables kept, not overridden", name, key, i);
		CHECK(count_mounts(json_object_get(ctr, "volumeMounts"), BW_REGISTRY_MOUNT_PATH) ==
			  1,
		      "%s: %s[%zu]: one mount at /etc/breakwater/", name, key, i);
		CHECK(kept(json_object_get(old, "volumeMounts"),
			   json_object_get(ctr, "volumeMounts")),
		      "%s: %s[%zu]: its own mounts kept", name, key, i);
	}
}

/* The names every container must end with, computed from the case's
 * inputs independently of mutate.c. */
static json_t *expected_names(const json_t *pod, const json_t *context)
{
	const json_t *labels = json_object_get(json_object_get(pod, "metadata"), "labels");
	const json_t *deps = json_object_get(context, "deps"), *d;
	const json_t *depends = json_object_get(
	    json_object_get(json_object_get(context, "service"), "spec"), "dependsOn");
	json_t *names = json_pack("[sss]", "BREAKWATER_NAMESPACE", "BREAKWATER_REGISTRY_FILE",
				  "BREAKWATER_BREAKERS_FILE");
	char name[128];
	size_t i, j;

	if (json_string_length(json_object_get(labels, BW_LABEL_SERVICE)) > 0)
		json_array_append_new(names, json_string("BREAKWATER_SERVICE"));
	json_array_foreach(depends, i, d)
	{
		const char *s = json_string_value(d);

		if (!s || !json_object_get(deps, s) || strlen(s) > 63)
			continue;
		for (j = 0; s[j]; j++)
			name[j] = s[j] == '-'
				      ? '_'
				      : (char)(s[j] >= 'a' && s[j] <= 'z' ? s[j] - 32 : s[j]);
		snprintf(name + j, sizeof(name) - j, "_SERVICE_URL");
		json_array_append_new(names, json_string(name));
	}
	return names;
}

/* Applies the patch to the pod and checks the result; then mutates it again. */
static void check_patched(const char *name, const struct bw_mutate_input *in,
			  const struct bw_mutate_result *res, const json_t *context)
{
	json_t *pod = json_deep_copy(in->pod), *vars = expected_names(in->pod, context);
	const json_t *vols, *spec;
	struct bw_mutate_input again = *in;
	struct bw_mutate_result res2;
	struct bw_error err;
	int rc;

	rc = apply_patch(pod, res->patch);
	CHECK_INT(0, rc, "%s: the patch applies to the pod (RFC 6902 add)", name);
	if (rc)
		goto done;
	spec = json_object_get(pod, "spec");
	vols = json_object_get(spec, "volumes");
	CHECK(count_named(vols, BW_REGISTRY_NAME) == 1, "%s: one volume %s", name,
	      BW_REGISTRY_NAME);
	CHECK(kept(json_object_get(json_object_get(in->pod, "spec"), "volumes"), vols),
	      "%s: the pod's own volumes kept", name);
	CHECK_STR(res->generation,
		  json_string_value(json_object_get(
		      json_object_get(json_object_get(pod, "metadata"), "annotations"),
		      BW_ANNOTATION_INJECTED)),
		  "%s: the annotation holds the generation", name);
	check_containers(name, "containers", in->pod, pod, vars);
	check_containers(name, "initContainers", in->pod, pod, vars);

	again.pod = pod;
	bw_error_clear(&err);
	rc = bw_mutate_pod(&again, &res2, &err);
	CHECK_INT(0, rc, "%s: the patched pod mutates again", name);
	CHECK(rc == 0 && !res2.patched && !res2.patch, "%s: reinvocation gives no patch", name);
	CHECK_STR("already injected", res2.skipped, "%s: reinvocation: already injected", name);
	CHECK_STR(res->generation, res2.generation, "%s: reinvocation: the same generation", name);
	bw_mutate_result_release(&res2);
done:
	json_decref(vars);
	json_decref(pod);
}

/* ---- the cases ---- */

/* The response text as JSON, its patch decoded. */
static json_t *readable(const char *name, const char *text)
{
	json_t *review = json_loads(text, 0, NULL), *resp, *patch;
	const char *b64;

	CHECK(review != NULL, "%s: the response is JSON", name);
	resp = json_object_get(review, "response");
	b64 = json_string_value(json_object_get(resp, "patch"));
	if (b64) {
		patch = decode_patch(b64);
		CHECK(patch != NULL, "%s: the patch is base64 of JSON", name);
		json_object_set_new(resp, "patch", patch ? patch : json_null());
	}
	return review;
}

/* What the server answers a request it cannot decide: into *status and *body. */
static void answer_malformed(const char *name, const struct bw_admission_request *req,
			     const char *message, int *status, char **body)
{
	struct bw_error err;
	int rc;

	bw_error_clear(&err);
	rc = bw_admission_malformed(req, message, status, body, NULL, &err);
	CHECK_INT(0, rc, "%s: bw_admission_malformed succeeds", name);
}

static void decide_mutate(const char *name, const struct bw_admission_request *req,
			  const json_t *context, int *status, char **body, size_t *generations)
{
	struct bw_admission_response resp = {0};
	struct bw_mutate_input in = {0};
	struct bw_mutate_result res;
	struct bw_error err;
	json_t *copy;
	int rc;

	bw_error_clear(&err);
	if (bw_admission_check_kind(req, "", "Pod", &err) != 0) {
		answer_malformed(name, req, err.message, status, body);
		return;
	}
	in.pod = req->object;
	in.namespace = req->namespace;
	in.namespace_labels = json_object_get(context, "namespaceLabels");
	in.service = json_object_get(context, "service");
	in.deps = json_object_get(context, "deps");
	in.breaker_targets = json_object_get(context, "breakerTargets");
	in.proxy_image = json_string_value(json_object_get(context, "proxyImage"));
	if (json_is_null(in.service))
		in.service = NULL;
	copy = json_deep_copy(req->object);
	rc = bw_mutate_pod(&in, &res, &err);
	CHECK(json_equal(copy, req->object), "%s: the pod is not modified", name);
	json_decref(copy);
	if (rc) {
		printf("    # %s\n", err.message);
		answer_malformed(name, req, err.message, status, body);
		return;
	}
	CHECK(res.patched == (res.patch != NULL), "%s: patched says whether there is a patch",
	      name);
	CHECK(res.patched || res.skipped, "%s: a pod left alone has a reason", name);
	if (res.skipped)
		printf("    # skipped: %s\n", res.skipped);
	if (res.patched)
		check_patched(name, &in, &res, context);
	if (res.inject) {
		/* what the operator asks for its stale-pod count: the same value,
		 * from the Service, the namespace and the ports alone, no pod */
		char pure[BW_MUTATE_GENERATION_CHARS + 1];
		const char *label = json_string_value(json_object_get(
		    json_object_get(json_object_get(req->object, "metadata"), "labels"),
		    BW_LABEL_SERVICE));

		struct bw_mutate_input nopod = in;

		nopod.pod = NULL;
		CHECK_INT(0, bw_mutate_generation(&nopod, label, pure, NULL),
			  "%s: bw_mutate_generation() answers", name);
		CHECK_STR(res.generation, pure,
			  "%s: bw_mutate_generation() is the generation the pod gets", name);
		(*generations)++;
	}
	resp.allowed = 1;
	resp.warnings = res.warnings;
	resp.patch = res.patch;
	rc = bw_admission_response_write(req->uid, &resp, body, NULL, &err);
	CHECK_INT(0, rc, "%s: the response is written", name);
	*status = 200;
	bw_mutate_result_release(&res);
}

/* bw_validate_lookup_fn over views: a Service of namespace ns by name, as
 * the webhook's cache finds one; counts the lookups. */
struct view_set {
	const struct bw_service_view **v;
	size_t n, lookups;
	const char *ns;
};

static const struct bw_service_view *find_view(void *arg, const char *name)
{
	struct view_set *set = arg;

	set->lookups++;
	for (size_t i = 0; i < set->n; i++)
		if (set->v[i]->name && strcmp(set->v[i]->name, name) == 0 &&
		    (!set->ns || !set->v[i]->ns || strcmp(set->v[i]->ns, set->ns) == 0))
			return set->v[i];
	return NULL;
}

/* A Service without a route decided against the siblings its dependsOn
 * reaches (what the webhook passes: bw_validate_dependency_siblings())
 * gives the decision made against every Service of the context. */
static void check_dependency_siblings(const char *name, const struct bw_admission_request *req,
				      const json_t *services, const struct bw_validate_result *all)
{
	struct view_set set = {0};
	const struct bw_service_view **found = NULL;
	struct bw_validate_result res;
	struct bw_error err;
	size_t n = 0;
	int rc;

	if (json_object_get(json_object_get(req->object, "spec"), "route") ||
	    bw_service_views_read(services, &set.v, &set.n) != 0)
		return;
	set.ns = req->namespace;
	rc = bw_validate_dependency_siblings(req->object, find_view, &set, &found, &n, &err);
	CHECK_INT(0, rc, "%s: the dependency siblings are gathered", name);
	rc = bw_validate_service_views(req->operation, req->object, req->old_object, found, n, &res,
				       &err);
	CHECK(rc == 0 && res.allowed == all->allowed && strcmp(res.message, all->message) == 0 &&
		  json_equal(res.warnings, all->warnings),
	      "%s: decided against %zu dependency siblings as against all %zu", name, n, set.n);
	if (rc == 0)
		bw_validate_result_release(&res);
	free(found);
	bw_service_views_free(set.v, set.n);
}

static void decide_validate(const char *name, const char *endpoint,
			    const struct bw_admission_request *req, const json_t *context,
			    int *status, char **body)
{
	struct bw_admission_response resp = {0};
	struct bw_validate_result res;
	int breaker = strcmp(endpoint, "validate-breakers") == 0;
	struct bw_error err;
	int rc;

	bw_error_clear(&err);
	if (bw_admission_check_kind(req, "breakwater.io", breaker ? "Breaker" : "Service", &err)) {
		answer_malformed(name, req, err.message, status, body);
		return;
	}
	if (breaker)
		rc = bw_validate_breaker(req->operation, req->object, req->old_object,
					 json_object_get(context, "services"),
					 json_object_get(context, "breakers"), &res, &err);
	else
		rc = bw_validate_service(req->operation, req->object, req->old_object,
					 json_object_get(context, "services"), &res, &err);
	if (rc) {
		printf("    # %s\n", err.message);
		answer_malformed(name, req, err.message, status, body);
		return;
	}
	if (!res.allowed)
		printf("    # denied: %s\n", res.message);
	if (!breaker && req->object)
		check_dependency_siblings(name, req, json_object_get(context, "services"), &res);
	resp.allowed = res.allowed;
	resp.code = res.code;
	resp.message = res.message;
	resp.warnings = res.warnings;
	rc = bw_admission_response_write(req->uid, &resp, body, NULL, &err);
	CHECK_INT(0, rc, "%s: the response is written", name);
	*status = 200;
	bw_validate_result_release(&res);
}

/* What webhook/review_memo.h rests on: the answer to a pod does not
 * depend on the random part of its kube-api-access names, and holds none.
 * Each "name":"kube-api-access-XXXXX" of the review is renamed (its 5
 * characters reversed and one changed) and the review decided again. */
static void check_token_names(const char *name, const char *bytes, size_t len,
			      const json_t *context, const char *body)
{
	static const char token[] = "\"name\":\"kube-api-access-";
	const size_t n = sizeof(token) - 1;
	struct bw_admission_request req;
	char *renamed = malloc(len + 1), *again = NULL, *at;
	size_t found = 0, generations = 0;
	int status = 0;

	memcpy(renamed, bytes, len);
	renamed[len] = '\0';
	for (at = strstr(renamed, token); at; at = strstr(at + n, token)) {
		char *s = at + n;

		if (strlen(s) < 6 || s[5] != '"')
			continue;
		for (int i = 0; i < 5; i++)
			s[i] = bytes[(size_t)(s - renamed) + 4 - (size_t)i];
		s[0] = s[0] == 'q' ? 'r' : 'q';
		found++;
	}
	if (found && bw_admission_parse(renamed, len, &req, NULL) == 0) {
		printf("    # %zu kube-api-access names renamed\n", found);
		decide_mutate(name, &req, context, &status, &again, &generations);
		CHECK_STR(body, again,
			  "%s: with its kube-api-access names renamed, the same answer", name);
		CHECK(body && !strstr(body, "kube-api-access"), "%s: the answer holds none of them",
		      name);
		bw_admission_request_release(&req);
		tokens_renamed++;
	}
	free(again);
	free(renamed);
}

/* The other part of what webhook/review_memo.h rests on: the answer to a
 * pod does not depend on its metadata.managedFields (whose "time" differs
 * between pods asked for in different seconds). Their value is replaced by
 * another and the review, parsed as the server parses it, decided again. */
static void check_managed_fields(const char *name, const char *bytes, size_t len,
				 const json_t *context, const char *body)
{
	static const char other[] = "[{\"manager\":\"someone-else\",\"operation\":\"Apply\","
				    "\"time\":\"1999-01-01T00:00:00Z\",\"fieldsType\":\"FieldsV1\","
				    "\"fieldsV1\":{\"f:spec\":{\"f:containers\":{}}}}]";
	const char *at = bytes;
	size_t n = len, head, replaced_len, generations = 0;
	struct bw_admission_request req;
	char *replaced, *again = NULL;
	int status = 0;

	if (bw_json_member(at, n, "request", &at, &n) != 0 ||
	    bw_json_member(at, n, "object", &at, &n) != 0 ||
	    bw_json_member(at, n, "metadata", &at, &n) != 0 ||
	    bw_json_member(at, n, "managedFields", &at, &n) != 0)
		return;
	head = (size_t)(at - bytes);
	replaced_len = len - n + strlen(other);
	replaced = malloc(replaced_len + 1);
	memcpy(replaced, bytes, head);
	memcpy(replaced + head, other, strlen(other));
	memcpy(replaced + head + strlen(other), at + n, len - head - n);
	replaced[replaced_len] = '\0';
	if (bw_admission_parse_reading(replaced, replaced_len, bw_mutate_pod_reads, &req, NULL) ==
	    0) {
		decide_mutate(name, &req, context, &status, &again, &generations);
		CHECK_STR(body, again, "%s: with other managedFields, the same answer", name);
		managed_changed++;
	}
	bw_admission_request_release(&req);
	free(again);
	free(replaced);
}

/* What bw_mutate_pod_reads rests on: the pod parsed whole gets the very
 * answer the pod parsed with only those members got (body); the patch
 * checks run on the whole pod. */
static void check_whole_pod(const char *name, const char *bytes, size_t len, const json_t *context,
			    const char *body)
{
	struct bw_admission_request req;
	char *whole = NULL;
	size_t generations = 0;
	int status = 0;

	if (bw_admission_parse(bytes, len, &req, NULL) == 0) {
		decide_mutate(name, &req, context, &status, &whole, &generations);
		CHECK_STR(whole, body, "%s: the pod parsed whole gets the same answer", name);
	}
	bw_admission_request_release(&req);
	free(whole);
}

static void run_case(const char *name, size_t *mutations, size_t *generations)
{
	struct bw_admission_request req;
	json_t *context, *want, *want_err, *got;
	const char *endpoint;
	char dir[512], what[600], *bytes, *body = NULL;
	struct bw_error err;
	size_t len = 0;
	int status = 0;

	snprintf(dir, sizeof(dir), "%s/%s", DATA, name);
	bytes = slurp(dir, "review.json", &len);
	CHECK(bytes != NULL, "%s: has review.json", name);
	if (!bytes)
		return;
	context = load(dir, "context.json");
	want = load(dir, "response.json");
	want_err = load(dir, "error.json");
	CHECK(!want != !want_err, "%s: has response.json or error.json", name);
	endpoint = json_string_value(json_object_get(context, "endpoint"));
	if (!endpoint)
		endpoint = "mutate-pods";

	bw_error_clear(&err);
	/* as the server parses: of a pod only what the mutation reads */
	if (bw_admission_parse_reading(
		bytes, len, strcmp(endpoint, "mutate-pods") == 0 ? bw_mutate_pod_reads : NULL, &req,
		&err) != 0) {
		printf("    # refused: %s\n", err.message);
		CHECK_INT(400, err.http_status, "%s: a refusal carries HTTP status 400", name);
		answer_malformed(name, &req, err.message, &status, &body);
	} else if (strcmp(endpoint, "mutate-pods") == 0) {
		decide_mutate(name, &req, context, &status, &body, generations);
		*mutations += 1;
		check_whole_pod(name, bytes, len, context, body);
		check_token_names(name, bytes, len, context, body);
		check_managed_fields(name, bytes, len, context, body);
	} else {
		decide_validate(name, endpoint, &req, context, &status, &body);
	}

	if (want_err) {
		CHECK_INT(json_integer_value(json_object_get(want_err, "httpStatus")), status,
			  "%s: HTTP status", name);
		snprintf(what, sizeof(what), "%s\n",
			 json_string_value(json_object_get(want_err, "message")));
		CHECK_STR(what, body, "%s: the plain-text answer", name);
	} else if (want && body) {
		CHECK_INT(200, status, "%s: HTTP status 200", name);
		got = readable(name, body);
		snprintf(what, sizeof(what), "%s: response as expected", name);
		check_json(want, got, what);
		json_decref(got);
	}
	free(body);
	bw_admission_request_release(&req);
	json_decref(context);
	json_decref(want);
	json_decref(want_err);
	free(bytes);
}

/* ---- cases that need no fixture ---- */

static void test_response_caps(void)
{
	struct bw_admission_response resp = {0};
	json_t *warnings = json_array(), *got, *w, *want;
	char long_one[400], *body = NULL;
	struct bw_error err;
	size_t i, len = 0;
	int rc, ok = 1;

	/* 299 bytes of 'a' then "é" (2 bytes) straddling byte 253..254, and more */
	memset(long_one, 'a', sizeof(long_one));
	memcpy(long_one + 252, "\xc3\xa9", 2);
	long_one[sizeof(long_one) - 1] = '\0';
	json_array_append_new(warnings, json_string(long_one));
	json_array_append_new(warnings, json_integer(7)); /* not a string: skipped */
	for (i = 0; i < 19; i++) {
		char buf[32];

		snprintf(buf, sizeof(buf), "warning %zu", i);
		json_array_append_new(warnings, json_string(buf));
	}
	resp.allowed = 1;
	resp.warnings = warnings;
	bw_error_clear(&err);
	rc = bw_admission_response_write("u-1", &resp, &body, &len, &err);
	CHECK_INT(0, rc, "caps: the response is written");
	CHECK(body && len == strlen(body), "caps: *len is the text's length");
	got = body ? json_loads(body, 0, NULL) : NULL;
	w = json_object_get(json_object_get(got, "response"), "warnings");
	CHECK_INT(BW_ADMISSION_WARNINGS_MAX, json_array_size(w), "caps: at most 16 warnings");
	for (i = 0; i < json_array_size(w); i++)
		ok &= json_string_length(json_array_get(w, i)) <= BW_ADMISSION_WARNING_MAX_BYTES;
	CHECK(ok, "caps: each warning at most 256 bytes");
	CHECK_INT(252 + 3, json_string_length(json_array_get(w, 0)),
		  "caps: a long warning is cut before a split UTF-8 character, with ...");
	CHECK_STR("... and 5 more warnings", json_string_value(json_array_get(w, 15)),
		  "caps: the last slot counts the rest");
	CHECK(!json_object_get(json_object_get(got, "response"), "patch"),
	      "caps: no patch, no patchType");
	json_decref(got);
	free(body);

	/* a denial never carries a patch; an empty patch is no patch */
	resp.allowed = 0;
	resp.warnings = NULL;
	resp.patch = w = json_array();
	resp.message = "spec.x: no";
	rc = bw_admission_response_write("u-2", &resp, &body, NULL, &err);
	got = json_loads(body, 0, NULL);
	want = json_pack("{s:s, s:b, s:{s:i, s:s, s:s}}", "uid", "u-2", "allowed", 0, "status",
			 "code", 403, "reason", "Forbidden", "message", "spec.x: no");
	check_json(want, json_object_get(got, "response"), "a denial defaults to 403 Forbidden");
	json_decref(want);
	json_decref(got);
	free(body);
	resp.patch = warnings;
	CHECK_INT(0, bw_admission_response_write("u-3", &resp, &body, NULL, &err),
		  "a denial with a patch is written");
	CHECK(body && !strstr(body, "patch"), "a denial never carries a patch");
	free(body);
	resp.allowed = 1;
	resp.patch = NULL;
	CHECK_INT(BW_EINVAL, bw_admission_response_write(NULL, &resp, &body, NULL, &err),
		  "a NULL uid is refused");
	CHECK(body == NULL, "a refusal leaves *out NULL");
	resp.patch = json_array_get(warnings, 0);
	CHECK_INT(BW_EINVAL, bw_admission_response_write("u", &resp, &body, NULL, &err),
		  "a patch that is not an array is refused");
	json_decref(w);
	json_decref(warnings);
}

static void test_parse_edges(void)
{
	struct bw_admission_request req;
	struct bw_error err;
	size_t big = BW_ADMISSION_MAX_BYTES + 1;
	char *buf = malloc(big), *body = NULL;
	const char *ok = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
			 "\"request\":{\"uid\":\"u-9\",\"kind\":{\"group\":\"\",\"version\":"
			 "\"v1\",\"kind\":\"Pod\"},\"operation\":\"DELETE\",\"oldObject\":{}}}";
	int status = 0;

	bw_error_clear(&err);
	memset(buf, ' ', big);
	CHECK_INT(BW_ETOOBIG, bw_admission_parse(buf, big, &req, &err),
		  "a body above 3 MiB is BW_ETOOBIG");
	CHECK(req.uid == NULL, "too big: no uid");
	bw_admission_request_release(&req);
	free(buf);
	CHECK_INT(BW_EINVAL, bw_admission_parse(NULL, 0, &req, &err), "a NULL body is refused");
	bw_admission_request_release(&req);
	CHECK_INT(BW_EINVAL, bw_admission_parse(ok, strlen(ok), NULL, &err),
		  "a NULL req is refused");

	/* the body need not be NUL-terminated: parse a prefix of a longer buffer */
	CHECK_INT(0, bw_admission_parse(ok, strlen(ok), &req, NULL), "a DELETE parses");
	CHECK_INT(BW_ADMISSION_DELETE, req.operation, "DELETE: the operation");
	CHECK(req.object == NULL && req.old_object != NULL, "DELETE: oldObject only");
	CHECK_STR("", req.namespace, "an absent namespace is \"\"");
	CHECK_STR("DELETE", bw_admission_op_name(req.operation), "op names");
	bw_admission_request_release(&req);
	CHECK(req.review == NULL && req.uid == NULL, "release zeroes the request");
	bw_admission_request_release(&req);

	CHECK_INT(0, bw_admission_malformed(NULL, "broken", &status, &body, NULL, &err),
		  "malformed with no request");
	CHECK_INT(400, status, "no request: HTTP 400");
	CHECK_STR("broken\n", body, "no request: the message as text");
	free(body);
}

/* The shape scan before jansson (issue 8, finding 1): a body of many tiny
 * values or deep nesting is refused without being built. */
static void test_shape_limits(void)
{
	struct bw_admission_request req;
	struct bw_error err;
	size_t n = 3 * (BW_ADMISSION_MAX_VALUES + 1), i, len;
	char *b = malloc(n + 2);
	char deep[2 * (BW_ADMISSION_MAX_DEPTH + 1) + 1];
	const char *tricky = "[\"a\\\"b\", \"\\\\\", -1.5e+3, true, null, {\"k\": [false]}]";

	/* `[{},{},...]`: one value more than the cap */
	b[0] = '[';
	len = 1;
	for (i = 0; i < BW_ADMISSION_MAX_VALUES; i++) {
		memcpy(b + len, i ? ",{}" : "{}", i ? 3 : 2);
		len += i ? 3 : 2;
	}
	b[len++] = ']';
	bw_error_clear(&err);
	CHECK_INT(BW_ETOOBIG, bw_admission_parse(b, len, &req, &err),
		  "a review of %d empty objects is refused before parsing",
		  BW_ADMISSION_MAX_VALUES);
	CHECK(strstr(err.message, "more than 32768 values") &&
		  strstr(err.message, "before parsing"),
	      "... with a message naming the limit (%s)", err.message);
	CHECK_INT(400, err.http_status, "... as a bad request");
	bw_admission_request_release(&req);
	CHECK_INT(0, bw_json_check_shape(b, len - 3, BW_ADMISSION_MAX_VALUES, 64, &err),
		  "one value fewer passes the scan");
	free(b);

	memset(deep, '[', BW_ADMISSION_MAX_DEPTH + 1);
	memset(deep + BW_ADMISSION_MAX_DEPTH + 1, ']', BW_ADMISSION_MAX_DEPTH + 1);
	deep[sizeof(deep) - 1] = '\0';
	CHECK_INT(BW_ETOOBIG, bw_admission_parse(deep, strlen(deep), &req, &err),
		  "nesting deeper than %d levels is refused before parsing",
		  BW_ADMISSION_MAX_DEPTH);
	CHECK(strstr(err.message, "nested deeper than 64 levels") != NULL, "... naming it (%s)",
	      err.message);
	bw_admission_request_release(&req);
	CHECK_INT(0, bw_json_check_shape(deep + 1, strlen(deep) - 2, 1000, 64, &err),
		  "64 levels pass");

	/* strings with escaped quotes and backslashes, numbers, literals, a key:
	 * 10 values, 3 levels */
	CHECK_INT(0, bw_json_check_shape(tricky, strlen(tricky), 10, 3, &err),
		  "escapes, numbers, literals and keys are counted right (10 values, depth 3)");
	CHECK_INT(BW_ETOOBIG, bw_json_check_shape(tricky, strlen(tricky), 9, 3, &err),
		  "... and 10 is one more than 9");
	CHECK_INT(BW_ETOOBIG, bw_json_check_shape(tricky, strlen(tricky), 10, 2, &err),
		  "... and depth 3 is deeper than 2");
}

static json_t *pod_with(const char *service)
{
	return json_pack("{s:{s:s, s:{s:s}}, s:{s:[{s:s, s:s}]}}", "metadata", "name", "p",
			 "labels", BW_LABEL_SERVICE, service, "spec", "containers", "name", "app",
			 "image", "img:1");
}

static void generation_of(const char *ns, const json_t *service, const json_t *deps, char *out)
{
	struct bw_mutate_input in = {0};
	struct bw_mutate_result res;
	json_t *pod = pod_with("orders");

	in.pod = pod;
	in.namespace = ns;
	in.service = service;
	in.deps = deps;
	out[0] = '\0';
	if (bw_mutate_pod(&in, &res, NULL) == 0)
		strcpy(out, res.generation);
	bw_mutate_result_release(&res);
	json_decref(pod);
}

/* bw_mutate_generation() of a Service's pod, without the sidecar's inputs. */
static int gen(const char *ns, const char *label, const json_t *svc, const json_t *deps, char *out,
	       struct bw_error *err)
{
	struct bw_mutate_input in = {.namespace = ns, .service = svc, .deps = deps};

	return bw_mutate_generation(&in, label, out, err);
}

/* The sidecar in the generation: what changes it and what does not. */
static void test_sidecar_generation(void)
{
	json_t *svc = json_pack("{s:{s:[ss]}}", "spec", "dependsOn", "users", "payments");
	json_t *deps = json_pack("{s:i, s:i}", "users", 8000, "payments", 8000);
	json_t *on = json_pack("{s:s}", BW_LABEL_PROXY, "enabled");
	json_t *off = json_pack("{s:s}", BW_LABEL_PROXY, "disabled");
	json_t *none = json_array(), *one = json_pack("[s]", "payments");
	json_t *two = json_pack("[ss]", "payments", "users");
	struct bw_mutate_input in = {.namespace = "shop", .service = svc, .deps = deps};
	char plain[32], base[32], g[32];

	CHECK_INT(0, gen("shop", "orders", svc, deps, plain, NULL), "sidecar: plain generation");
	in.namespace_labels = on;
	in.breaker_targets = one;
	in.proxy_image = "registry.local/breakwater:1";
	CHECK_INT(0, bw_mutate_generation(&in, "orders", base, NULL), "sidecar: generation");
	CHECK(strcmp(plain, base) != 0, "sidecar: opting in with a Breaker changes it");
	in.breaker_targets = two;
	bw_mutate_generation(&in, "orders", g, NULL);
	CHECK(strcmp(g, base) != 0, "sidecar: a Breaker added for another dependency changes it");
	in.breaker_targets = none;
	bw_mutate_generation(&in, "orders", g, NULL);
	CHECK_STR(plain, g, "sidecar: no Breaker, no sidecar: the plain generation");
	in.breaker_targets = one;
	in.proxy_image = "registry.local/breakwater:2";
	bw_mutate_generation(&in, "orders", g, NULL);
	CHECK(strcmp(g, base) != 0, "sidecar: a new image changes it");
	in.proxy_image = NULL;
	bw_mutate_generation(&in, "orders", g, NULL);
	CHECK_STR(plain, g, "sidecar: no image, no sidecar: the plain generation");
	in.proxy_image = "registry.local/breakwater:1";
	in.namespace_labels = off;
	bw_mutate_generation(&in, "orders", g, NULL);
	CHECK_STR(plain, g, "sidecar: namespace opted out: the plain generation");
	in.breaker_targets = json_object_get(on, BW_LABEL_PROXY); /* a string */
	CHECK_INT(BW_EINVAL, bw_mutate_generation(&in, "orders", g, NULL),
		  "sidecar: breaker targets not an array refused");
	json_decref(svc);
	json_decref(deps);
	json_decref(on);
	json_decref(off);
	json_decref(none);
	json_decref(one);
	json_decref(two);
}

static void test_generation(void)
{
	json_t *a = json_pack("{s:{s:[sss]}}", "spec", "dependsOn", "users", "payments", "users");
	json_t *b = json_pack("{s:{s:[ss]}}", "spec", "dependsOn", "payments", "users");
	json_t *deps = json_pack("{s:i, s:i, s:i}", "users", 8000, "payments", 8080, "other", 1);
	json_t *deps2 = json_pack("{s:i, s:i}", "users", 8001, "payments", 8080);
	json_t *nospec = json_pack("{s:{s:s}}", "metadata", "name", "p");
	char g1[32], g2[32], g3[32], g4[32];
	struct bw_mutate_input in = {0};
	struct bw_mutate_result res;
	struct bw_error err;

	generation_of("shop", a, deps, g1);
	generation_of("shop", b, deps, g2);
	generation_of("shop", b, deps2, g3);
	generation_of("shop2", b, deps, g4);
	CHECK(strlen(g1) == 16 && strspn(g1, "0123456789abcdef") == 16,
	      "generation: 16 hex digits (%s)", g1);
	CHECK_STR(g1, g2, "generation: the order of dependsOn and duplicates do not matter");
	CHECK(strcmp(g1, g3) != 0, "generation: a port change changes it");
	CHECK(strcmp(g1, g4) != 0, "generation: the namespace changes it");
	{
		char pure[BW_MUTATE_GENERATION_CHARS + 1];

		CHECK(gen("shop", "orders", b, deps, pure, NULL) == 0 && strcmp(pure, g2) == 0,
		      "generation: bw_mutate_generation() gives a pod's value without a pod");
		CHECK(gen("shop", "orders", a, deps, pure, NULL) == 0 && strcmp(pure, g1) == 0,
		      "generation: also with duplicates in dependsOn");
		CHECK(gen("shop", "users", b, deps, pure, NULL) == 0 && strcmp(pure, g2) != 0,
		      "generation: the service label changes it");
		bw_error_clear(&err);
		CHECK_INT(BW_EINVAL, gen("Not_A_Namespace", "orders", b, deps, pure, &err),
			  "generation: a bad namespace refused");
		CHECK_STR("", pure, "generation: empty on failure");
		json_object_set_new(deps2, "users", json_integer(70000));
		CHECK_INT(BW_EINVAL, gen("shop", "orders", b, deps2, pure, &err),
			  "generation: a port out of range refused");
		json_object_set_new(deps2, "users", json_integer(8001));
	}

	bw_error_clear(&err);
	CHECK_INT(BW_EINVAL, bw_mutate_pod(NULL, &res, &err), "mutate: NULL input refused");
	in.pod = nospec;
	in.namespace = "Not_A_Namespace";
	CHECK_INT(BW_EINVAL, bw_mutate_pod(&in, &res, &err), "mutate: a bad namespace refused");
	in.namespace = "shop";
	CHECK_INT(BW_EINVAL, bw_mutate_pod(&in, &res, &err), "mutate: a pod with no spec refused");
	CHECK_STR("spec: must be an object", err.message, "mutate: names spec");
	CHECK(res.warnings == NULL && res.patch == NULL, "mutate: nothing to release on failure");
	bw_mutate_result_release(&res);
	json_object_set_new(deps2, "users", json_string("8000"));
	in.pod = pod_with("orders");
	in.service = b;
	in.deps = deps2;
	CHECK_INT(BW_EINVAL, bw_mutate_pod(&in, &res, &err), "mutate: a port that is a string");
	CHECK_STR("deps.users: must be a port (an integer 1..65535)", err.message,
		  "mutate: names the dependency");
	json_decref((json_t *)in.pod);
	json_decref(nospec);
	json_decref(a);
	json_decref(b);
	json_decref(deps);
	json_decref(deps2);
}

static void test_validate_arguments(void)
{
	struct bw_validate_result res;
	struct bw_error err;
	json_t *not_array = json_object();

	bw_error_clear(&err);
	CHECK_INT(BW_EINVAL, bw_validate_service(BW_ADMISSION_CREATE, NULL, NULL, NULL, &res, &err),
		  "validate: CREATE with no object is refused");
	CHECK(res.warnings == NULL, "validate: nothing to release on failure");
	CHECK_INT(0, bw_validate_service(BW_ADMISSION_DELETE, NULL, NULL, NULL, &res, &err),
		  "validate: DELETE with no object is decided");
	CHECK(res.allowed, "validate: DELETE is allowed");
	bw_validate_result_release(&res);
	CHECK_INT(
	    BW_EINVAL,
	    bw_validate_breaker(BW_ADMISSION_CREATE, not_array, NULL, not_array, NULL, &res, &err),
	    "validate: services must be an array");
	CHECK_INT(BW_EINVAL,
		  bw_validate_breaker(BW_ADMISSION_CREATE, NULL, NULL, NULL, NULL, NULL, &err),
		  "validate: a NULL out is refused");
	json_decref(not_array);
}

/* The response text, byte for byte, is what jansson writes for the whole
 * review with the patch as a base64 string member (the writer splices the
 * base64 in rather than have jansson copy and escape it): a uid and
 * warnings that need escapes, a patch with non-ASCII text, lengths of every
 * remainder mod 3 (base64 padding). */
static void test_response_text(void)
{
	const char *uid = "u\"i\\d\u00e9";
	json_t *warnings = json_pack("[ss]", "a \"quoted\" warning", "tab\there");

	for (int extra = 0; extra < 3; extra++) {
		char value[16] = "caf\xc3\xa9";
		json_t *patch, *review, *resp;
		struct bw_admission_response r = {.allowed = 1, .warnings = warnings};
		unsigned char b64[512];
		char *got = NULL, *text, *want;
		size_t len = 0;

		memset(value + 5, 'x', (size_t)extra);
		value[5 + extra] = '\0';
		patch = json_pack("[{s:s, s:s, s:s}]", "op", "add", "path", "/metadata/x", "value",
				  value);
		text = json_dumps(patch, JSON_COMPACT);
		EVP_EncodeBlock(b64, (const unsigned char *)text, (int)strlen(text));
		resp = json_pack("{s:s, s:b, s:O, s:s, s:s}", "uid", uid, "allowed", 1, "warnings",
				 warnings, "patchType", "JSONPatch", "patch", (const char *)b64);
		review = json_pack("{s:s, s:s, s:o}", "apiVersion", BW_ADMISSION_API_VERSION,
				   "kind", BW_ADMISSION_KIND, "response", resp);
		want = json_dumps(review, JSON_COMPACT);
		r.patch = patch;
		CHECK_INT(0, bw_admission_response_write(uid, &r, &got, &len, NULL),
			  "a response with a patch of %zu bytes is written", strlen(text));
		CHECK_STR(want, got, "... byte for byte what jansson writes for the whole review");
		CHECK_INT(strlen(want), len, "... and its length is told right");
		free(got);
		free(want);
		free(text);
		json_decref(review);
		json_decref(patch);
	}
	json_decref(warnings);
}

/* A Service write in a namespace of 1,000 looks up what its dependsOn
 * reaches, not the namespace: svc-0 -> svc-1 -> svc-2 -> svc-0 is three
 * lookups (svc-0's own name never), and the cycle is found. */
static void test_dependency_siblings_work(void)
{
	json_t *services = json_array(), *obj;
	struct view_set set = {0};
	const struct bw_service_view **found = NULL;
	struct bw_validate_result res;
	struct bw_error err;
	char nm[32], dep[32];
	size_t n = 0;

	for (int i = 0; i < 1000; i++) {
		snprintf(nm, sizeof(nm), "svc-%d", i);
		snprintf(dep, sizeof(dep), "svc-%d", (i + 1) % 3);
		json_array_append_new(services,
				      json_pack("{s:{s:s, s:s}, s:{s:s, s:[s]}}", "metadata",
						"name", nm, "namespace", "shop", "spec", "image",
						"img:1", "dependsOn", i < 3 ? dep : "svc-999"));
	}
	obj =
	    json_pack("{s:{s:s, s:s}, s:{s:s, s:[s, s]}}", "metadata", "name", "svc-0", "namespace",
		      "shop", "spec", "image", "img:1", "dependsOn", "svc-1", "nosuch");
	if (bw_service_views_read(services, &set.v, &set.n) != 0)
		return;
	set.ns = "shop";
	CHECK_INT(0, bw_validate_dependency_siblings(obj, find_view, &set, &found, &n, &err),
		  "the dependency siblings of a write in a namespace of 1,000");
	CHECK(set.lookups == 3 && n == 2,
	      "3 lookups (svc-1, nosuch, svc-2), 2 found, of 1,000 Services (%zu, %zu)",
	      set.lookups, n);
	CHECK_INT(0,
		  bw_validate_service_views(BW_ADMISSION_CREATE, obj, NULL, found, n, &res, &err),
		  "decided against them");
	CHECK(json_array_size(res.warnings) == 2, "the missing dependency and the cycle (%zu)",
	      json_array_size(res.warnings));
	bw_validate_result_release(&res);
	free(found);
	bw_service_views_free(set.v, set.n);
	json_decref(obj);
	json_decref(services);
}

int main(void)
{
	char *names[MAX_CASES];
	size_t n, i, errors = 0, mutations = 0, generations = 0;
	char dir[512];

	n = list_cases(DATA, names, MAX_CASES);
	for (i = 0; i < n; i++) {
		snprintf(dir, sizeof(dir), "%s/%s", DATA, names[i]);
		errors += exists(dir, "error.json");
		printf("# case %s\n", names[i]);
		run_case(names[i], &mutations, &generations);
		free(names[i]);
	}
	CHECK(n >= 24, "at least 24 admission cases (%zu)", n);
	CHECK(mutations >= 12, "at least 12 mutation cases (%zu)", mutations);
	CHECK(generations >= 12, "the pure generation checked against at least 12 of them (%zu)",
	      generations);
	CHECK(errors >= 2, "at least 2 cases answered without an AdmissionReview (%zu)", errors);
	CHECK(tokens_renamed >= 1, "kube-api-access names renamed in %d mutation cases",
	      tokens_renamed);
	CHECK(managed_changed >= 1, "managedFields replaced in %d mutation cases", managed_changed);
	test_response_caps();
	test_response_text();
	test_parse_edges();
	test_shape_limits();
	test_generation();
	test_sidecar_generation();
	test_validate_arguments();
	test_dependency_siblings_work();
	return check_exit();
}
