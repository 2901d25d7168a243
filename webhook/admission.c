/* AdmissionReview v1 requests and responses: see admission.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "buf.h"
#include "json.h"
#include "error.h"
#include "admission.h"
#include "utf8.h"

static int bad_request(struct bw_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A refusal of the request: code (BW_EPARSE, BW_ETOOBIG), HTTP 400, BadRequest. */
static int bad_request(struct bw_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	err->http_status = BW_ADMISSION_CODE_BAD_REQUEST;
	snprintf(err->reason, sizeof(err->reason), "BadRequest");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return code;
}

/* obj[key] as a string: "" when absent or null, BW_EPARSE for another type. */
static int opt_str(const json_t *obj, const char *key, const char *path, const char **out,
		   struct bw_error *err)
{
	const json_t *v = json_object_get(obj, key);

	*out = "";
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return bad_request(err, BW_EPARSE, "AdmissionReview: %s: must be a string, got %s",
				   path, bw_json_type_name(v));
	if (strlen(json_string_value(v)) != json_string_length(v))
		return bad_request(err, BW_EPARSE, "AdmissionReview: %s: holds a NUL character",
				   path);
	*out = json_string_value(v);
	return 0;
}

/* The object's names as the decisions read them, as C strings: one holding
 * "\u0000" would read as another name (or none) there. Kubernetes never
 * sends such a name; only a client of the webhook port itself could. */
static int check_names(const json_t *obj, const char *path, struct bw_error *err)
{
	static const char *const keys[] = {"name", "namespace", "generateName"};
	const json_t *md = json_object_get(obj, "metadata");
	const char *s;
	char where[64];

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(where, sizeof(where), "%s.metadata.%s", path, keys[i]);
		if (opt_str(md, keys[i], where, &s, err))
			return BW_EPARSE;
	}
	return 0;
}

/* obj[key] as an object: NULL when absent or null, BW_EPARSE for another type. */
static int opt_obj(const json_t *obj, const char *key, const char *path, const json_t **out,
		   struct bw_error *err)
{
	const json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return bad_request(err, BW_EPARSE, "AdmissionReview: %s: must be an object, got %s",
				   path, bw_json_type_name(v));
	*out = v;
	return 0;
}

static const char *const op_names[] = {"UNKNOWN", "CREATE", "UPDATE", "DELETE", "CONNECT"};

const char *bw_admission_op_name(enum bw_admission_op op)
{
	if ((int)op < 0 || (size_t)op >= sizeof(op_names) / sizeof(op_names[0]))
		return op_names[0];
	return op_names[op];
}

static int parse_request(const json_t *r, struct bw_admission_request *req, struct bw_error *err)
{
	const json_t *kind, *resource, *dry;
	size_t i;
	int rc;

	if ((rc = opt_obj(r, "kind", "request.kind", &kind, err)) ||
	    (rc = opt_str(kind, "group", "request.kind.group", &req->kind.group, err)) ||
	    (rc = opt_str(kind, "version", "request.kind.version", &req->kind.version, err)) ||
	    (rc = opt_str(kind, "kind", "request.kind.kind", &req->kind.kind, err)))
		return rc;
	if (!*req->kind.kind)
		return bad_request(err, BW_EPARSE, "AdmissionReview: request.kind.kind: required");
	if ((rc = opt_obj(r, "resource", "request.resource", &resource, err)) ||
	    (rc =
		 opt_str(resource, "group", "request.resource.group", &req->resource.group, err)) ||
	    (rc = opt_str(resource, "version", "request.resource.version", &req->resource.version,
			  err)) ||
	    (rc = opt_str(resource, "resource", "request.resource.resource",
			  &req->resource.resource, err)) ||
	    (rc = opt_str(r, "subResource", "request.subResource", &req->sub_resource, err)) ||
	    (rc = opt_str(r, "namespace", "request.namespace", &req->namespace, err)) ||
	    (rc = opt_str(r, "name", "request.name", &req->name, err)) ||
	    (rc = opt_str(r, "operation", "request.operation", &req->operation_name, err)) ||
	    (rc = opt_obj(r, "object", "request.object", &req->object, err)) ||
	    (rc = opt_obj(r, "oldObject", "request.oldObject", &req->old_object, err)) ||
	    (rc = check_names(req->object, "request.object", err)) ||
	    (rc = check_names(req->old_object, "request.oldObject", err)))
		return rc;
	for (i = 1; i < sizeof(op_names) / sizeof(op_names[0]); i++)
		if (strcmp(req->operation_name, op_names[i]) == 0)
			req->operation = (enum bw_admission_op)i;
	if (req->operation == BW_ADMISSION_OP_UNKNOWN)
		return bad_request(err, BW_EPARSE,
				   "AdmissionReview: request.operation: \"%.40s\" is not %s",
				   req->operation_name, "CREATE, UPDATE, DELETE or CONNECT");
	dry = json_object_get(r, "dryRun");
	if (dry && !json_is_null(dry) && !json_is_boolean(dry))
		return bad_request(err, BW_EPARSE,
				   "AdmissionReview: request.dryRun: must be a boolean, got %s",
				   bw_json_type_name(dry));
	req->dry_run = json_is_true(dry);
	return 0;
}

/* What no decision reads of a review, left out of its parse. */
static const char *const object_managed_fields[] = {"request", "object", "metadata",
						    "managedFields", NULL};

/* The review with only what parse_request() reads and object_reads of the
 * objects: lists on the caller's stack, object_reads its own. */
static json_t *load_reading(const char *body, size_t len, const struct bw_json_keep *object_reads,
			    json_error_t *jerr)
{
	const size_t flags = JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL;
	const struct bw_json_keep request[] = {{"uid", NULL},
					       {"kind", NULL},
					       {"resource", NULL},
					       {"subResource", NULL},
					       {"namespace", NULL},
					       {"name", NULL},
					       {"operation", NULL},
					       {"dryRun", NULL},
					       {"object", object_reads},
					       {"oldObject", object_reads},
					       {NULL, NULL}};
	const struct bw_json_keep review[] = {
	    {"apiVersion", NULL}, {"kind", NULL}, {"request", request}, {NULL, NULL}};

	if (!object_reads)
		return bw_json_load_without(body, len, object_managed_fields, flags, jerr);
	return bw_json_load_kept(body, len, review, flags, jerr);
}

int bw_admission_parse(const char *body, size_t len, struct bw_admission_request *req,
		       struct bw_error *err)
{
	return bw_admission_parse_reading(body, len, NULL, req, err);
}

int bw_admission_parse_reading(const char *body, size_t len,
			       const struct bw_json_keep *object_reads,
			       struct bw_admission_request *req, struct bw_error *err)
{
	const json_t *request, *v;
	struct bw_error shape;
	json_error_t jerr;
	int rc;

	if (!req)
		return bw_error_set(err, BW_EINVAL, "admission: req is required");
	memset(req, 0, sizeof(*req));
	if (!body) {
		rc = bw_error_set(err, BW_EINVAL, "admission: body is required");
		goto fail;
	}
	if (len > BW_ADMISSION_MAX_BYTES) {
		rc = bad_request(err, BW_ETOOBIG,
				 "AdmissionReview: %zu bytes is more than the cap of %d bytes", len,
				 BW_ADMISSION_MAX_BYTES);
		goto fail;
	}
	if (bw_json_check_shape(body, len, BW_ADMISSION_MAX_VALUES, BW_ADMISSION_MAX_DEPTH,
				&shape) != 0) {
		rc = bad_request(err, BW_ETOOBIG, "AdmissionReview: %s: refused before parsing",
				 shape.message);
		goto fail;
	}
	/* "\u0000" is allowed: the API server accepts it in any string (an
	 * annotation, an env value), and refusing such an object here would deny
	 * what Kubernetes allows. The object's managedFields, a third of a pod
	 * and most of its values, is read by no decision: it is left out. */
	req->review = load_reading(body, len, object_reads, &jerr);
	if (!req->review) {
		rc = bad_request(err, BW_EPARSE,
				 "AdmissionReview: not valid JSON: line %d, column %d: %s",
				 jerr.line, jerr.column, jerr.text);
		goto fail;
	}
	if (!json_is_object(req->review)) {
		rc = bad_request(err, BW_EPARSE,
				 "AdmissionReview: not an AdmissionReview: the body is %s, not an "
				 "object",
				 bw_json_type_name(req->review));
		goto fail;
	}
	v = json_object_get(req->review, "apiVersion");
	if (!json_is_string(v) || strcmp(json_string_value(v), BW_ADMISSION_API_VERSION) != 0) {
		rc =
		    bad_request(err, BW_EPARSE,
				"AdmissionReview: not an AdmissionReview: apiVersion must be %s, "
				"got %.100s (the webhook speaks admissionReviewVersions [v1] only)",
				BW_ADMISSION_API_VERSION,
				json_is_string(v) ? json_string_value(v) : bw_json_type_name(v));
		goto fail;
	}
	v = json_object_get(req->review, "kind");
	if (!json_is_string(v) || strcmp(json_string_value(v), BW_ADMISSION_KIND) != 0) {
		rc = bad_request(
		    err, BW_EPARSE,
		    "AdmissionReview: not an AdmissionReview: kind must be %s, got %.100s",
		    BW_ADMISSION_KIND,
		    json_is_string(v) ? json_string_value(v) : bw_json_type_name(v));
		goto fail;
	}
	request = json_object_get(req->review, "request");
	if (!json_is_object(request)) {
		rc = bad_request(err, BW_EPARSE,
				 "AdmissionReview: no request (request must be an object, got %s)",
				 bw_json_type_name(request));
		goto fail;
	}
	v = json_object_get(request, "uid");
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		if (v && !json_is_null(v) && !json_is_string(v))
			rc = bad_request(err, BW_EPARSE,
					 "AdmissionReview: request.uid: must be a string, got %s",
					 bw_json_type_name(v));
		else if (json_string_length(v) > 0)
			rc = bad_request(err, BW_EPARSE,
					 "AdmissionReview: request.uid: holds a NUL character");
		else
			rc = bad_request(err, BW_EPARSE, "AdmissionReview: request.uid: required");
		goto fail;
	}
	req->uid = json_string_value(v);
	if ((rc = parse_request(request, req, err)))
		goto fail;
	return 0;
fail:
	/* keep the body (req->uid borrows from it) for bw_admission_malformed() */
	return rc;
}

void bw_admission_request_release(struct bw_admission_request *req)
{
	if (!req)
		return;
	json_decref(req->review);
	memset(req, 0, sizeof(*req));
}

int bw_admission_check_kind(const struct bw_admission_request *req, const char *group,
			    const char *kind, struct bw_error *err)
{
	if (!req || !group || !kind)
		return bw_error_set(err, BW_EINVAL, "admission: req, group and kind are required");
	if (strcmp(req->kind.group ? req->kind.group : "", group) == 0 &&
	    strcmp(req->kind.kind ? req->kind.kind : "", kind) == 0)
		return 0;
	return bw_error_set(err, BW_EINVAL,
			    "request.kind: this endpoint admits %s (%s), got %.63s (%.63s/%.63s); "
			    "check the webhook configuration's rules",
			    kind, *group ? group : "core", req->kind.kind ? req->kind.kind : "",
			    req->kind.group && *req->kind.group ? req->kind.group : "core",
			    req->kind.version ? req->kind.version : "");
}

static const char *reason_of(int code)
{
	switch (code) {
	case 400:
		return "BadRequest";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "NotFound";
	case 409:
		return "Conflict";
	case 422:
		return "Invalid";
	case 429:
		return "TooManyRequests";
	case 500:
		return "InternalError";
	case 503:
		return "ServiceUnavailable";
	}
	return NULL;
}

/* s (n bytes) cut to at most max bytes at a UTF-8 boundary, ending in "...". */
static json_t *capped_string(const char *s, size_t n, size_t max)
{
	char buf[BW_ADMISSION_WARNING_MAX_BYTES + 1];
	size_t cut;

	if (n <= max)
		return json_stringn(s, n);
	cut = bw_utf8_cut(s, n, max - 3);
	memcpy(buf, s, cut);
	memcpy(buf + cut, "...", 3);
	return json_stringn(buf, cut + 3);
}

/* The warnings array of a response: strings only, capped in count and size. */
static json_t *capped_warnings(const json_t *warnings)
{
	json_t *out = json_array(), *w;
	size_t i, strings = 0, kept = 0;
	char more[64];
	int bad = 0;

	if (!out)
		return NULL;
	json_array_foreach(warnings, i, w)
	{
		strings += json_is_string(w) && json_string_length(w) > 0;
	}
	json_array_foreach(warnings, i, w)
	{
		if (!json_is_string(w) || json_string_length(w) == 0)
			continue;
		if (strings > BW_ADMISSION_WARNINGS_MAX && kept == BW_ADMISSION_WARNINGS_MAX - 1) {
			snprintf(more, sizeof(more), "... and %zu more warnings", strings - kept);
			bad |= json_array_append_new(out, json_string(more));
			break;
		}
		bad |= json_array_append_new(out, capped_string(json_string_value(w),
								json_string_length(w),
								BW_ADMISSION_WARNING_MAX_BYTES));
		kept++;
	}
	if (bad) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* patch as the base64 of its JSON text, appended to b. */
static void write_patch(struct bw_buf *b, const json_t *patch)
{
	struct bw_buf text;
	char *b64;

	bw_buf_init(&text, BW_ADMISSION_MAX_BYTES);
	if (bw_json_write(&text, patch) != 0 || text.len > (size_t)0x3fffffff) {
		b->error = b->error ? b->error : BW_ETOOBIG;
		goto done;
	}
	b64 = malloc(4 * ((text.len + 2) / 3) + 1);
	if (!b64) {
		b->error = b->error ? b->error : BW_ENOMEM;
		goto done;
	}
	bw_buf_puts(b, ",\"patchType\":\"JSONPatch\",\"patch\":\"");
	bw_buf_append(b, b64,
		      (size_t)EVP_EncodeBlock((unsigned char *)b64,
					      (const unsigned char *)text.data, (int)text.len));
	bw_buf_append(b, "\"", 1);
	free(b64);
done:
	bw_buf_release(&text);
}

int bw_admission_response_write(const char *uid, const struct bw_admission_response *resp,
				char **out, size_t *len, struct bw_error *err)
{
	struct bw_buf b;
	json_t *w;
	const char *reason;
	int rc = 0, code;

	if (out)
		*out = NULL;
	if (len)
		*len = 0;
	if (!uid || !resp || !out)
		return bw_error_set(err, BW_EINVAL, "admission: uid, resp and out are required");
	if (resp->patch && !json_is_array(resp->patch))
		return bw_error_set(err, BW_EINVAL, "admission: the patch must be a JSON array");
	/* written as it goes, in the members' order: uid, allowed, status,
	 * warnings, patchType, patch */
	bw_buf_init(&b, 4 * (size_t)BW_ADMISSION_MAX_BYTES);
	bw_buf_puts(&b, "{\"apiVersion\":\"" BW_ADMISSION_API_VERSION
			"\",\"kind\":\"" BW_ADMISSION_KIND "\",\"response\":{\"uid\":");
	bw_json_write_string(&b, uid, strlen(uid));
	bw_buf_puts(&b, resp->allowed ? ",\"allowed\":true" : ",\"allowed\":false");
	if (!resp->allowed) {
		code = resp->code ? resp->code : BW_ADMISSION_CODE_DENIED;
		reason = resp->reason ? resp->reason : reason_of(code);
		bw_buf_printf(&b, ",\"status\":{\"code\":%d", code);
		if (reason && *reason) {
			bw_buf_puts(&b, ",\"reason\":");
			bw_json_write_string(&b, reason, strlen(reason));
		}
		if (resp->message && *resp->message) {
			bw_buf_puts(&b, ",\"message\":");
			bw_json_write_string(&b, resp->message, strlen(resp->message));
		}
		bw_buf_puts(&b, "}");
	}
	if (json_array_size(resp->warnings) > 0) {
		w = capped_warnings(resp->warnings);
		if (!w)
			b.error = BW_ENOMEM;
		else if (json_array_size(w) > 0) {
			bw_buf_puts(&b, ",\"warnings\":");
			bw_json_write(&b, w);
		}
		json_decref(w);
	}
	if (resp->allowed && json_array_size(resp->patch) > 0)
		write_patch(&b, resp->patch);
	bw_buf_puts(&b, "}}");
	if (b.error) {
		rc = bw_buf_error(&b, "admission: the response", err);
		bw_buf_release(&b);
		return rc;
	}
	*out = bw_buf_steal(&b, len);
	if (!*out)
		return bw_error_set(err, BW_ENOMEM,
				    "admission: out of memory writing the response");
	return 0;
}

int bw_admission_malformed(const struct bw_admission_request *req, const char *message,
			   int *http_status, char **out, size_t *len, struct bw_error *err)
{
	struct bw_admission_response resp = {0};
	size_t n;
	int rc;

	if (out)
		*out = NULL;
	if (len)
		*len = 0;
	if (!message || !http_status || !out)
		return bw_error_set(err, BW_EINVAL,
				    "admission: message, http_status and out are required");
	if (req && req->uid) {
		resp.allowed = 0;
		resp.code = BW_ADMISSION_CODE_BAD_REQUEST;
		resp.message = message;
		if ((rc = bw_admission_response_write(req->uid, &resp, out, len, err)))
			return rc;
		*http_status = 200;
		return 0;
	}
	n = strlen(message);
	*out = malloc(n + 2);
	if (!*out)
		return bw_error_set(err, BW_ENOMEM, "admission: out of memory");
	memcpy(*out, message, n);
	(*out)[n] = '\n';
	(*out)[n + 1] = '\0';
	if (len)
		*len = n + 1;
	*http_status = BW_ADMISSION_CODE_BAD_REQUEST;
	return 0;
}
