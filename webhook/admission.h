/*
 * AdmissionReview v1: reading the API server's request and writing the
 * webhook's response. Pure functions: no I/O, no threads, no global state;
 * the HTTPS server calls them with the body it read and writes what they
 * return.
 *
 *   request   {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
 *              "request": {"uid", "kind": {group, version, kind},
 *                          "resource": {group, version, resource}, "subResource",
 *                          "namespace", "name", "operation", "object",
 *                          "oldObject", "dryRun", ...}}
 *   response  {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
 *              "response": {"uid", "allowed", "status": {code, reason, message},
 *                           "warnings": [...], "patchType": "JSONPatch",
 *                           "patch": BASE64}}
 *
 * A request that cannot be read is answered with bw_admission_malformed():
 * when its uid could not be read the server must answer HTTP 400 with the
 * message as text/plain (there is no uid to put in an AdmissionReview; the
 * API server then applies the webhook's failurePolicy); when the uid is
 * known it answers HTTP 200 with an AdmissionReview that denies the request
 * with status code 400.
 *
 * Ownership (as jansson says it): struct bw_admission_request owns the
 * parsed body (review); every other pointer in it borrows from that body
 * and lives until bw_admission_request_release(). Response arguments are
 * borrowed and read during the call only; the response text is malloc'd and
 * the caller free()s it.
 * Thread-safety: every function may be called from any thread at once, on
 * different requests.
 */
#ifndef BW_ADMISSION_H
#define BW_ADMISSION_H

#include <stddef.h>

#include <jansson.h>

#include "error.h"
#include "json.h"

#define BW_ADMISSION_API_VERSION "admission.k8s.io/v1"
#define BW_ADMISSION_KIND	 "AdmissionReview"
/* The largest request body bw_admission_parse() reads: the API server's
 * own request cap (3 MiB); anything larger is BW_ETOOBIG. The webhook's HTTP
 * server takes the same cap for its request bodies (webhook/server.c). */
#define BW_ADMISSION_MAX_BYTES (3 * 1024 * 1024)
/* JSON values (object keys included) and nesting levels in a body at most,
 * checked by a scan before jansson builds anything (bw_json_check_shape()).
 * Why: jansson spends about 200 bytes per empty object, so 3 MiB of
 * `[{},{},...]` would cost some 230 MiB; at 32,768 values a parse costs at
 * most about 8 MiB. A real review is far below: a Pod of 10 containers with
 * 50 env vars each, volumes, probes and labels is about 6,000 values, twice
 * that for an UPDATE (object and oldObject); a breakwater Service or Breaker
 * a few hundred. Kubernetes objects nest about 10 levels deep. */
#define BW_ADMISSION_MAX_VALUES 32768
#define BW_ADMISSION_MAX_DEPTH	64
/* Warnings in a response: at most this many, each at most this many bytes
 * (the API server truncates longer ones). Longer warnings are cut at a
 * UTF-8 boundary and end in "..."; past the count, the last slot says how
 * many more there were. */
#define BW_ADMISSION_WARNINGS_MAX      16
#define BW_ADMISSION_WARNING_MAX_BYTES 256
/* status.code of a denial: a policy refusal, and a request we cannot read. */
#define BW_ADMISSION_CODE_DENIED      403
#define BW_ADMISSION_CODE_BAD_REQUEST 400

enum bw_admission_op {
	BW_ADMISSION_OP_UNKNOWN = 0,
	BW_ADMISSION_CREATE,
	BW_ADMISSION_UPDATE,
	BW_ADMISSION_DELETE,
	BW_ADMISSION_CONNECT,
};

/* request.kind, request.resource: "" for a member that is absent ("" is also
 * the group of the core API: Pods are {"", "v1", "Pod"}). */
struct bw_admission_gvk {
	const char *group, *version, *kind;
};
struct bw_admission_gvr {
	const char *group, *version, *resource;
};

/*
 * A parsed request. Strings are never NULL after a successful parse (""
 * when absent), except uid, which is NULL when it could not be read.
 * object and old_object are NULL when absent or JSON null (object on
 * DELETE, old_object on CREATE).
 */
struct bw_admission_request {
	json_t *review; /* the whole parsed body: owned */
	const char *uid;
	struct bw_admission_gvk kind;
	struct bw_admission_gvr resource;
	const char *sub_resource;
	const char *namespace;
	const char *name;
	enum bw_admission_op operation;
	const char *operation_name; /* "CREATE", "UPDATE", ... as sent */
	const json_t *object;
	const json_t *old_object;
	int dry_run;
};

/*
 * Parses an AdmissionReview v1 request body of len bytes (need not be
 * NUL-terminated) into *req. Refuses with BW_EPARSE and a message naming
 * what is wrong: not JSON, not an AdmissionReview (apiVersion
 * admission.k8s.io/v1 and kind AdmissionReview), no request, no uid, a
 * missing or unknown operation, a missing request.kind, a member of the
 * wrong type; BW_ETOOBIG above BW_ADMISSION_MAX_BYTES, BW_ADMISSION_MAX_VALUES
 * or BW_ADMISSION_MAX_DEPTH (refused before parsing); BW_EINVAL for NULL
 * arguments. err->http_status is 400 and err->reason "BadRequest" on every
 * refusal.
 *
 * On failure *req keeps what could be read: req->uid is set when the uid
 * was read before the fault, for bw_admission_malformed(). Always call
 * bw_admission_request_release() afterwards, on success and on failure.
 */
int bw_admission_parse(const char *body, size_t len, struct bw_admission_request *req,
		       struct bw_error *err);

/*
 * bw_admission_parse() for a decision that reads a few members of the
 * object: of request.object and request.oldObject only the members in
 * object_reads are built (lib/json.h, bw_json_load_kept()), with the
 * request's own members above; NULL reads the whole object but its
 * managedFields, as bw_admission_parse() does. What is left out is only
 * scanned (brackets and string ends), so a review broken inside it is not
 * refused; the API server sends none. The names checked for NUL
 * characters are those kept. The pod endpoint reads bw_mutate_pod_reads
 * (mutate.h): a third of a pod's members.
 */
int bw_admission_parse_reading(const char *body, size_t len,
			       const struct bw_json_keep *object_reads,
			       struct bw_admission_request *req, struct bw_error *err);

/* Releases the parsed body and zeroes *req. Safe on a zeroed request and on
 * one whose parse failed; req may be NULL. */
void bw_admission_request_release(struct bw_admission_request *req);

/*
 * Checks the request is about the kind an endpoint serves ("" is the core
 * group: bw_admission_check_kind(req, "", "Pod", err)). Returns 0, or
 * BW_EINVAL with a message such as "request.kind: this endpoint admits Pod
 * (core), got ConfigMap (core/v1)": answer it with allowed false, status
 * code 400 (a webhook registration that sends the wrong resources).
 */
int bw_admission_check_kind(const struct bw_admission_request *req, const char *group,
			    const char *kind, struct bw_error *err);

/* What to answer. */
struct bw_admission_response {
	int allowed;
	/* When denied: status.code (0 means BW_ADMISSION_CODE_DENIED), status.reason
	 * (NULL means the one of the code: "Forbidden", "BadRequest", ...) and
	 * status.message (NULL means none). Ignored when allowed. */
	int code;
	const char *reason;
	const char *message;
	/* An array of strings or NULL; non-strings are skipped; capped as said
	 * at BW_ADMISSION_WARNINGS_MAX. */
	const json_t *warnings;
	/* A JSON Patch (RFC 6902 array) or NULL; an empty array is no patch.
	 * Sent base64-encoded with patchType JSONPatch, only when allowed. */
	const json_t *patch;
};

/*
 * Writes the response AdmissionReview for request uid as compact JSON text:
 * *out is malloc'd and NUL-terminated (free() it); *len (may be NULL) gets
 * its length. Returns 0, BW_EINVAL (NULL uid or out, a patch that is not an
 * array) or BW_ENOMEM; *out is NULL on failure.
 */
int bw_admission_response_write(const char *uid, const struct bw_admission_response *resp,
				char **out, size_t *len, struct bw_error *err);

/*
 * The answer to a request that bw_admission_parse() refused (or that fails
 * a check before any decision, such as bw_admission_check_kind()), with
 * message explaining why:
 *   - req is NULL or req->uid is NULL: *http_status 400 and *out the message
 *     and a newline, to send as text/plain;
 *   - the uid is known: *http_status 200 and *out an AdmissionReview with
 *     allowed false and status {code 400, reason BadRequest, message}, to
 *     send as application/json.
 * *out is malloc'd (free() it); *len may be NULL. Returns 0, BW_EINVAL or
 * BW_ENOMEM.
 */
int bw_admission_malformed(const struct bw_admission_request *req, const char *message,
			   int *http_status, char **out, size_t *len, struct bw_error *err);

/* "CREATE", "UPDATE", "DELETE", "CONNECT", or "UNKNOWN". */
const char *bw_admission_op_name(enum bw_admission_op op);

#endif
