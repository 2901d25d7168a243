/*
 * The Kubernetes API client: requests over libcurl for any group, version and
 * resource, with connection reuse, timeouts, and errors that carry the HTTP
 * status and the Kubernetes Status reason and message.
 *
 * Credentials: a bearer token from token_file is re-read whenever the file
 * changes (a rotated service-account token) through
 * bw_kubeconfig_read_token(): a new token that is empty or holds control
 * characters is refused, logged once per change naming the file (never the
 * token), and the previous token kept. The token and the client key are
 * overwritten (OPENSSL_cleanse) before they are freed, as are the request
 * headers that carried the token.
 *
 * Ownership: bw_client_new() returns a client the caller frees with
 * bw_client_free() after every thread has stopped using it. The
 * kube config is copied. Functions returning json_t ** give the caller a new
 * reference (json_decref it); json_t * arguments are borrowed. Responses are
 * parsed with JSON_ALLOW_NUL: a string may hold "\u0000" (the API server
 * accepts it), so json_string_value() sees such a string cut at the NUL.
 * Thread-safety: a client may be used by any number of threads at once. Each
 * request borrows a curl handle from the client's pool and keeps it to
 * itself; a handle keeps its connections alive for the next request that
 * borrows it. DNS and TLS sessions are shared through one curl share handle;
 * connections are not (curl does not support that across threads).
 */
#ifndef BW_CLIENT_H
#define BW_CLIENT_H

#include <stddef.h>

#include <jansson.h>

#include "error.h"
#include "kubeconfig.h"

/* A resource type: core group is "". */
struct bw_resource {
	const char *group;
	const char *version;
	const char *resource; /* plural, lower case: "deployments" */
	const char *kind;     /* "Deployment": for messages and created objects */
	int namespaced;
};

extern const struct bw_resource bw_res_configmaps;
extern const struct bw_resource bw_res_secrets;
extern const struct bw_resource bw_res_pods;
extern const struct bw_resource bw_res_services;
extern const struct bw_resource bw_res_events;
extern const struct bw_resource bw_res_serviceaccounts;
extern const struct bw_resource bw_res_rolebindings;
extern const struct bw_resource bw_res_namespaces;
extern const struct bw_resource bw_res_deployments;
extern const struct bw_resource bw_res_controllerrevisions;
extern const struct bw_resource bw_res_ingresses;
/* Gateway API; its CRD may be absent: requests then fail with BW_ENOTFOUND. */
extern const struct bw_resource bw_res_httproutes;
extern const struct bw_resource bw_res_hpas;
extern const struct bw_resource bw_res_pdbs;
extern const struct bw_resource bw_res_leases;
extern const struct bw_resource bw_res_crds;
extern const struct bw_resource bw_res_mutating_webhooks;
extern const struct bw_resource bw_res_validating_webhooks;

struct bw_client_options {
	long timeout_ms;	 /* whole request, except watches; default 30000 */
	long connect_timeout_ms; /* default 5000 */
	size_t max_body_bytes;	 /* cap on a response body; default 64 MiB */
	/* A request body larger than this goes over HTTP/1.1 (a connection of
	 * its own, kept alive too); default BW_CLIENT_HTTP2_BODY_MAX; SIZE_MAX:
	 * every request over HTTP/2. Why: a body past the stream's flow-control
	 * window waits on the server to read it, and libcurl 7.88 polls without
	 * sleeping all that time: 47 ms of CPU a request for the 1 MB registry
	 * of 10,000 Services under load (bench/README.md, "Large request
	 * bodies"). Over HTTP/1.1 the socket's buffer makes it wait. */
	size_t http2_body_max;
	int max_retries; /* retries of 429/5xx/transport errors for GET (and any 429); default 3 */
	const char *user_agent; /* default "breakwater/<version>" */
	/* Asked before every attempt of a request that is not a GET: a
	 * negative return (with err filled) refuses it unsent. A leader-elected
	 * process fences its controllers' writes with it, so a process that
	 * wakes up after its lease ran out (SIGSTOP, a long GC-like stall) sends
	 * nothing before its leader thread has even run. Called from any thread. */
	int (*write_guard)(void *ctx, struct bw_error *err);
	void *write_guard_ctx;
};

/* HTTP/2's default initial window of a stream (RFC 9113, 6.9.2), less a
 * little: a body that fits never waits on a window update. */
#define BW_CLIENT_HTTP2_BODY_MAX (60 * 1024)

struct bw_client;

int bw_client_new(struct bw_client **out, const struct bw_kube_config *cfg,
		  const struct bw_client_options *opts, struct bw_error *err);
void bw_client_free(struct bw_client *client);

/* The config's default namespace (borrowed, lives as long as the client). */
const char *bw_client_namespace(const struct bw_client *client);

/* How many connections the client has opened so far: keep-alive working
 * means far fewer than requests. Thread-safe. */
unsigned long bw_client_connections_opened(struct bw_client *client);

/* Writes the URL path of a resource collection or object into buf:
 * /api/v1/namespaces/NS/configmaps/NAME/status. ns NULL or "" with a
 * namespaced resource means all namespaces; name and subresource may be NULL.
 * Names are checked, not escaped: BW_EINVAL for a name with '/' or '?'. */
int bw_client_path(char *buf, size_t size, const struct bw_resource *res, const char *ns,
		   const char *name, const char *subresource, struct bw_error *err);

/* One raw request. */
struct bw_request {
	const char *method;	  /* "GET", "POST", "PUT", "PATCH", "DELETE" */
	const char *path;	  /* from bw_client_path() */
	const char *query;	  /* "limit=500&continue=..." without '?', or NULL */
	const char *content_type; /* of body; default application/json */
	const char *accept;	  /* the Accept header; default application/json */
	const char *body;	  /* or NULL */
	size_t body_len;
	long timeout_ms; /* the whole exchange (CURLOPT_TIMEOUT_MS); 0: the client's default */
	int no_retry;	 /* 1: one attempt only, whatever failed (a caller with a deadline) */
};

struct bw_response {
	long status;
	char *body; /* NUL-terminated, owned by the response */
	size_t len;
};

/* Performs req. A status >= 400 is an error (its code from the status:
 * BW_ENOTFOUND, BW_ECONFLICT, BW_EGONE, BW_EDENIED, BW_ERETRY for 429/5xx,
 * else BW_EHTTP) with err->http_status, err->reason and err->message taken
 * from the Kubernetes Status in the body. resp may be NULL; when given it is
 * filled on success and on HTTP errors, and must be released. */
int bw_client_do(struct bw_client *client, const struct bw_request *req, struct bw_response *resp,
		 struct bw_error *err);
void bw_response_release(struct bw_response *resp);

/* --- typed requests; subresource NULL or "status" / "scale" --- */

int bw_client_get(struct bw_client *client, const struct bw_resource *res, const char *ns,
		  const char *name, const char *subresource, json_t **out, struct bw_error *err);

struct bw_list_options {
	const char *label_selector;
	const char *field_selector;
	long limit;		      /* page size; 0: no paging */
	const char *continue_token;   /* for bw_client_list_page */
	const char *resource_version; /* "0": from the cache; NULL: most recent */
	int metadata_only;	      /* items as PartialObjectMetadata (BW_ACCEPT_METADATA_LIST) */
};

/* One page: the List object as returned (items, metadata.continue). */
int bw_client_list_page(struct bw_client *client, const struct bw_resource *res, const char *ns,
			const struct bw_list_options *opts, json_t **out, struct bw_error *err);

/* The pager under bw_client_list and the reflector's paged lists. */
struct bw_list_pager {
	/* each object of each page, in order (borrowed: json_incref to keep it);
	 * nonzero, with err filled, stops the list and is returned */
	int (*item)(json_t *item, void *ctx, struct bw_error *err);
	/* NULL or called when an expired continue token (410) restarts the
	 * list: forget the objects handed over so far; nonzero stops the list */
	int (*restart)(void *ctx, struct bw_error *err);
	void *ctx;
};

/* Every page, following metadata.continue, each object handed to pager->item;
 * a continue token that expires (410) restarts the list from the beginning
 * once, as client-go's pager does. On success *resource_version (when not
 * NULL; malloc'd, may be NULL) is the list's resourceVersion and *count
 * (when not NULL) the objects of the pass that completed. */
int bw_client_list_pages(struct bw_client *client, const struct bw_resource *res, const char *ns,
			 const struct bw_list_options *opts, const struct bw_list_pager *pager,
			 char **resource_version, size_t *count, struct bw_error *err);

/* Every page, as bw_client_list_pages: *items gets one array of all items
 * and *resource_version (malloc'd, may be NULL) the list's resourceVersion. */
int bw_client_list(struct bw_client *client, const struct bw_resource *res, const char *ns,
		   const struct bw_list_options *opts, json_t **items, char **resource_version,
		   struct bw_error *err);

int bw_client_create(struct bw_client *client, const struct bw_resource *res, const char *ns,
		     const json_t *obj, json_t **out, struct bw_error *err);

/* PUT: obj must carry metadata.resourceVersion for optimistic concurrency. */
int bw_client_update(struct bw_client *client, const struct bw_resource *res, const char *ns,
		     const char *name, const char *subresource, const json_t *obj, json_t **out,
		     struct bw_error *err);

enum bw_patch_type {
	BW_PATCH_MERGE,	    /* application/merge-patch+json (RFC 7386) */
	BW_PATCH_JSON,	    /* application/json-patch+json (RFC 6902) */
	BW_PATCH_STRATEGIC, /* application/strategic-merge-patch+json (built-in kinds) */
	BW_PATCH_APPLY,	    /* application/apply-patch+yaml: server-side apply (JSON is YAML) */
};

struct bw_patch_options {
	const char *field_manager; /* required for BW_PATCH_APPLY */
	int force;		   /* server-side apply: take ownership of conflicting fields */
};

int bw_client_patch(struct bw_client *client, const struct bw_resource *res, const char *ns,
		    const char *name, const char *subresource, enum bw_patch_type type,
		    const json_t *patch, const struct bw_patch_options *opts, json_t **out,
		    struct bw_error *err);

struct bw_delete_options {
	const char *propagation_policy; /* "Foreground", "Background", "Orphan" or NULL */
	const char *precondition_uid;
	const char *precondition_resource_version;
	int set_grace_period; /* 0: the server's default grace period */
	long grace_period_seconds;
};

/* BW_ENOTFOUND when it is already gone. */
int bw_client_delete(struct bw_client *client, const struct bw_resource *res, const char *ns,
		     const char *name, const struct bw_delete_options *opts, struct bw_error *err);

/* --- streaming, for watches --- */

/* Called with each chunk of the body as it arrives; return 0 to go on, or a
 * negative BW_E* code to stop the transfer (bw_client_stream returns it). */
typedef int (*bw_stream_fn)(const char *data, size_t len, void *ctx);
/* Called about once a second while the stream is open, and after each chunk;
 * return nonzero to stop (bw_client_stream then returns BW_ESTOPPED). */
typedef int (*bw_stream_tick_fn)(void *ctx);

/* A GET whose body is handed to on_data as it streams, with no overall
 * timeout; accept is the Accept header (NULL: application/json). An HTTP
 * error status is reported like bw_client_do (its body is collected, capped,
 * not streamed). */
int bw_client_stream(struct bw_client *client, const char *path, const char *query,
		     const char *accept, bw_stream_fn on_data, bw_stream_tick_fn on_tick, void *ctx,
		     struct bw_error *err);

/* Objects as their metadata alone (meta.k8s.io/v1 PartialObjectMetadata:
 * apiVersion, kind and the whole metadata, labels, annotations and
 * managedFields included), for a watch and for a list; what client-go's
 * metadata informers ask for. A server that cannot answer so sends whole
 * objects (the fallback), which read the same. */
#define BW_ACCEPT_METADATA \
	"application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json"
#define BW_ACCEPT_METADATA_LIST \
	"application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, application/json"

/* Fills err from an HTTP status and a body that may hold a Kubernetes Status;
 * returns the BW_E* code for that status. For tests and for callers that see
 * a Status object inside a watch stream. */
int bw_client_status_error(long http_status, const char *body, size_t len, struct bw_error *err);

/* The wait before retry number attempt + 1 (attempt counts from 0): 100 ms
 * doubling per attempt up to 6.4 s, or the server's Retry-After (capped at
 * 10 s) when retry_after_s >= 0, plus up to 50% random jitter. Exported for
 * tests. Thread-safe. */
long bw_client_retry_delay_ms(int attempt, long retry_after_s);

/* Percent-encodes s for a query string into buf; BW_ETOOBIG if it does not fit. */
int bw_query_escape(char *buf, size_t size, const char *s);

#endif
