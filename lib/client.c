/*
 * The Kubernetes API client over libcurl: see client.h.
 *
 * One curl share handle holds the DNS cache and TLS sessions for all
 * threads. Requests' connections are not shared (curl does not support
 * sharing its connection cache between threads): each easy handle keeps
 * its own, and each request borrows a handle from a small pool, so a
 * handle's keep-alive connections (kept by curl_easy_reset) serve the next
 * request that borrows it, from whichever thread, one thread at a time.
 * Streams (watches) are the exception: they run on the client's mux
 * (mux.h), one thread multiplexing them all on shared HTTP/2 connections.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "backoff.h"
#include "buf.h"
#include "client.h"
#include "log.h"
#include "mux.h"
#include "utf8.h"
#include "version.h"

const struct bw_resource bw_res_configmaps = {"", "v1", "configmaps", "ConfigMap", 1};
const struct bw_resource bw_res_secrets = {"", "v1", "secrets", "Secret", 1};
const struct bw_resource bw_res_pods = {"", "v1", "pods", "Pod", 1};
const struct bw_resource bw_res_services = {"", "v1", "services", "Service", 1};
const struct bw_resource bw_res_events = {"", "v1", "events", "Event", 1};
const struct bw_resource bw_res_serviceaccounts = {"", "v1", "serviceaccounts", "ServiceAccount",
						   1};
const struct bw_resource bw_res_rolebindings = {"rbac.authorization.k8s.io", "v1", "rolebindings",
						"RoleBinding", 1};
const struct bw_resource bw_res_namespaces = {"", "v1", "namespaces", "Namespace", 0};
const struct bw_resource bw_res_deployments = {"apps", "v1", "deployments", "Deployment", 1};
const struct bw_resource bw_res_controllerrevisions = {"apps", "v1", "controllerrevisions",
						       "ControllerRevision", 1};
const struct bw_resource bw_res_ingresses = {"networking.k8s.io", "v1", "ingresses", "Ingress", 1};
const struct bw_resource bw_res_httproutes = {"gateway.networking.k8s.io", "v1", "httproutes",
					      "HTTPRoute", 1};
const struct bw_resource bw_res_hpas = {"autoscaling", "v2", "horizontalpodautoscalers",
					"HorizontalPodAutoscaler", 1};
const struct bw_resource bw_res_pdbs = {"policy", "v1", "poddisruptionbudgets",
					"PodDisruptionBudget", 1};
const struct bw_resource bw_res_leases = {"coordination.k8s.io", "v1", "leases", "Lease", 1};
const struct bw_resource bw_res_crds = {"apiextensions.k8s.io", "v1", "customresourcedefinitions",
					"CustomResourceDefinition", 0};
const struct bw_resource bw_res_mutating_webhooks = {"admissionregistration.k8s.io", "v1",
						     "mutatingwebhookconfigurations",
						     "MutatingWebhookConfiguration", 0};
const struct bw_resource bw_res_validating_webhooks = {"admissionregistration.k8s.io", "v1",
						       "validatingwebhookconfigurations",
						       "ValidatingWebhookConfiguration", 0};

#define POOL_MAX	  16
#define ERROR_BODY_MAX	  (64 * 1024)
#define RETRY_AFTER_MAX_S 10

struct bw_client {
	char *server;
	char *namespace;
	char *ca_pem, *cert_pem, *key_pem;
	int insecure;
	char user_agent[128];
	long timeout_ms, connect_timeout_ms;
	size_t max_body_bytes, http2_body_max;
	int max_retries;
	int (*write_guard)(void *ctx, struct bw_error *err);
	void *write_guard_ctx;

	CURLSH *share;	    /* DNS and TLS sessions only */
	struct bw_mux *mux; /* the watch streams, on shared connections */
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	atomic_ulong connects; /* connections opened, for bw_client_connections_opened */

	pthread_mutex_t pool_lock;
	CURL *pool[POOL_MAX];
	int pool_len;

	/* The bearer token, re-read from token_file when the file changes
	 * (service-account tokens rotate). */
	pthread_mutex_t token_lock;
	char *token;
	char *token_file;
	struct timespec token_mtime;
	off_t token_size;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_init_result;

static void global_init(void)
{
	global_init_result = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static void share_lock(CURL *handle, curl_lock_data data, curl_lock_access access, void *userp)
{
	struct bw_client *client = userp;

	(void)handle;
	(void)access;
	pthread_mutex_lock(&client->share_locks[data]);
}

static void share_unlock(CURL *handle, curl_lock_data data, void *userp)
{
	struct bw_client *client = userp;

	(void)handle;
	pthread_mutex_unlock(&client->share_locks[data]);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Frees a string that may hold a secret, overwriting it first. */
static void free_secret(char *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

/* Refreshes the token from its file when the file changed; called per
 * request, under token_lock. A token the file holds that could not go into a
 * header as it is (control characters: CR/LF would add headers) is refused,
 * once per change of the file, and the previous one kept. */
static void refresh_token(struct bw_client *client)
{
	struct stat st;
	struct bw_error err;
	char *fresh = NULL;

	if (!client->token_file || stat(client->token_file, &st) != 0)
		return;
	if (st.st_mtim.tv_sec == client->token_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == client->token_mtime.tv_nsec && st.st_size == client->token_size)
		return;
	client->token_mtime = st.st_mtim;
	client->token_size = st.st_size;
	if (bw_kubeconfig_read_token(client->token_file, "token file", &fresh, NULL, &err) != 0) {
		bw_log_warn("client", "%s; keeping the previous token", err.message);
		return;
	}
	free_secret(client->token);
	client->token = fresh;
}

/* Frees request headers, overwriting them first: one carries the token. */
static void free_headers(struct curl_slist *headers)
{
	for (struct curl_slist *h = headers; h; h = h->next)
		OPENSSL_cleanse(h->data, strlen(h->data));
	curl_slist_free_all(headers);
}

int bw_client_new(struct bw_client **out, const struct bw_kube_config *cfg,
		  const struct bw_client_options *opts, struct bw_error *err)
{
	struct bw_client *client = NULL;
	int ret = 0;

	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_init_result != 0)
		return bw_error_set(err, BW_EIO, "curl_global_init failed");
	if (!cfg || !cfg->server)
		return bw_error_set(err, BW_EINVAL, "no API server address in the configuration");

	client = calloc(1, sizeof(*client));
	if (!client)
		return bw_error_set(err, BW_ENOMEM, "out of memory");
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&client->share_locks[i], NULL);
	pthread_mutex_init(&client->pool_lock, NULL);
	pthread_mutex_init(&client->token_lock, NULL);

	client->server = strdup(cfg->server);
	client->namespace = strdup(cfg->namespace ? cfg->namespace : "default");
	client->ca_pem = dup_or_null(cfg->ca_pem);
	client->cert_pem = dup_or_null(cfg->cert_pem);
	client->key_pem = dup_or_null(cfg->key_pem);
	client->token = dup_or_null(cfg->token);
	client->token_file = dup_or_null(cfg->token_file);
	client->insecure = cfg->insecure_skip_tls_verify;
	if (!client->server || !client->namespace || (cfg->ca_pem && !client->ca_pem) ||
	    (cfg->cert_pem && !client->cert_pem) || (cfg->key_pem && !client->key_pem) ||
	    (cfg->token && !client->token) || (cfg->token_file && !client->token_file)) {
		ret = bw_error_set(err, BW_ENOMEM, "out of memory");
		goto out;
	}
	if (client->token_file) {
		struct stat st;

		if (stat(client->token_file, &st) == 0) {
			client->token_mtime = st.st_mtim;
			client->token_size = st.st_size;
		}
	}

	client->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 30000;
	client->connect_timeout_ms =
	    opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 5000;
	client->max_body_bytes =
	    opts && opts->max_body_bytes > 0 ? opts->max_body_bytes : 64 * 1024 * 1024;
	client->http2_body_max =
	    opts && opts->http2_body_max > 0 ? opts->http2_body_max : BW_CLIENT_HTTP2_BODY_MAX;
	client->max_retries = opts && opts->max_retries > 0 ? opts->max_retries : 3;
	if (opts) {
		client->write_guard = opts->write_guard;
		client->write_guard_ctx = opts->write_guard_ctx;
	}
	snprintf(client->user_agent, sizeof(client->user_agent), "%s",
		 opts && opts->user_agent ? opts->user_agent : "breakwater/" BW_VERSION);

	client->share = curl_share_init();
	if (!client->share) {
		ret = bw_error_set(err, BW_ENOMEM, "curl_share_init failed");
		goto out;
	}
	curl_share_setopt(client->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(client->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(client->share, CURLSHOPT_USERDATA, client);
	curl_share_setopt(client->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(client->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	if ((ret = bw_mux_new(&client->mux, err)) != 0)
		goto out;
	*out = client;
	client = NULL;
out:
	bw_client_free(client);
	return ret;
}

void bw_client_free(struct bw_client *client)
{
	if (!client)
		return;
	bw_mux_free(client->mux); /* its connections before the share they use */
	for (int i = 0; i < client->pool_len; i++)
		curl_easy_cleanup(client->pool[i]);
	if (client->share)
		curl_share_cleanup(client->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&client->share_locks[i]);
	pthread_mutex_destroy(&client->pool_lock);
	pthread_mutex_destroy(&client->token_lock);
	free(client->server);
	free(client->namespace);
	free(client->ca_pem);
	free(client->cert_pem);
	free_secret(client->key_pem);
	free_secret(client->token);
	free(client->token_file);
	free(client);
}

const char *bw_client_namespace(const struct bw_client *client)
{
	return client->namespace;
}

unsigned long bw_client_connections_opened(struct bw_client *client)
{
	return atomic_load(&client->connects);
}

/* --- paths and queries --- */

static int check_segment(const char *what, const char *s, struct bw_error *err)
{
	if (!*s || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 || strpbrk(s, "/?#% \t\r\n"))
		return bw_error_set(err, BW_EINVAL, "invalid %s \"%s\"", what, s);
	return 0;
}

int bw_client_path(char *buf, size_t size, const struct bw_resource *res, const char *ns,
		   const char *name, const char *subresource, struct bw_error *err)
{
	size_t n;
	int ret;

	if (res->group[0])
		n = (size_t)snprintf(buf, size, "/apis/%s/%s", res->group, res->version);
	else
		n = (size_t)snprintf(buf, size, "/api/%s", res->version);
	if (res->namespaced && ns && *ns) {
		if ((ret = check_segment("namespace", ns, err)) != 0)
			return ret;
		if (n < size)
			n += (size_t)snprintf(buf + n, size - n, "/namespaces/%s", ns);
	}
	if (n < size)
		n += (size_t)snprintf(buf + n, size - n, "/%s", res->resource);
	if (name) {
		if ((ret = check_segment("name", name, err)) != 0)
			return ret;
		if (n < size)
			n += (size_t)snprintf(buf + n, size - n, "/%s", name);
	}
	if (subresource && n < size)
		n += (size_t)snprintf(buf + n, size - n, "/%s", subresource);
	if (n >= size)
		return bw_error_set(err, BW_ETOOBIG, "request path longer than %zu bytes", size);
	return 0;
}

int bw_query_escape(char *buf, size_t size, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';

		if (n + (plain ? 1 : 3) >= size)
			return BW_ETOOBIG;
		if (plain) {
			buf[n++] = (char)c;
		} else {
			buf[n++] = '%';
			buf[n++] = hex[c >> 4];
			buf[n++] = hex[c & 15];
		}
	}
	if (n >= size)
		return BW_ETOOBIG;
	buf[n] = '\0';
	return 0;
}

/* Appends "&key=escaped(value)" (no '&' when the query is empty). */
static int query_add(char *query, size_t size, const char *key, const char *value,
		     struct bw_error *err)
{
	char escaped[2048];
	size_t n = strlen(query);
	int w;

	if (!value)
		return 0;
	if (bw_query_escape(escaped, sizeof(escaped), value) != 0)
		return bw_error_set(err, BW_ETOOBIG, "query parameter %s is too long", key);
	w = snprintf(query + n, size - n, "%s%s=%s", n ? "&" : "", key, escaped);
	if (w < 0 || (size_t)w >= size - n)
		return bw_error_set(err, BW_ETOOBIG, "query string too long");
	return 0;
}

/* --- errors --- */

static int code_for_status(long status)
{
	switch (status) {
	case 401:
	case 403:
		return BW_EDENIED;
	case 404:
		return BW_ENOTFOUND;
	case 409:
		return BW_ECONFLICT;
	case 410:
		return BW_EGONE;
	case 429:
		return BW_ERETRY;
	}
	return status >= 500 ? BW_ERETRY : BW_EHTTP;
}

/* The length of the longest prefix of s, at most max bytes, that does not
 * end inside a UTF-8 sequence (s is valid UTF-8: jansson checked it). */
static size_t utf8_prefix(const char *s, size_t max)
{
	return bw_utf8_cut(s, strnlen(s, max + 1), max);
}

int bw_client_status_error(long http_status, const char *body, size_t len, struct bw_error *err)
{
	int code = code_for_status(http_status);
	json_t *status = body && len ? json_loadb(body, len, JSON_ALLOW_NUL, NULL) : NULL;
	const char *reason = NULL, *message = NULL;
	char suffix[32 + sizeof(err->reason)];
	size_t reason_len, room;

	if (json_is_object(status)) {
		reason = json_string_value(json_object_get(status, "reason"));
		message = json_string_value(json_object_get(status, "message"));
	}
	if (!message || !*message)
		message = "the API server refused the request";
	if (!reason)
		reason = "";
	if (err) {
		/* Both end up in JSON (conditions, events), which refuses a string
		 * cut inside a UTF-8 sequence; a long message is cut, not the
		 * status that ends it. */
		reason_len = utf8_prefix(reason, sizeof(err->reason) - 1);
		snprintf(suffix, sizeof(suffix), " (HTTP %ld%s%.*s)", http_status,
			 reason_len ? " " : "", (int)reason_len, reason);
		room = sizeof(err->message) - 1 - strlen(suffix);
		bw_error_set(err, code, "%.*s%s", (int)utf8_prefix(message, room), message, suffix);
		err->http_status = http_status;
		snprintf(err->reason, sizeof(err->reason), "%.*s", (int)reason_len, reason);
	}
	json_decref(status);
	return code;
}

static int code_for_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return BW_ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return BW_ERETRY;
	default:
		return BW_EIO;
	}
}

/* --- easy handles --- */

static CURL *acquire_handle(struct bw_client *client)
{
	CURL *h = NULL;

	pthread_mutex_lock(&client->pool_lock);
	if (client->pool_len > 0)
		h = client->pool[--client->pool_len];
	pthread_mutex_unlock(&client->pool_lock);
	return h ? h : curl_easy_init();
}

static void release_handle(struct bw_client *client, CURL *h)
{
	curl_easy_reset(h);
	pthread_mutex_lock(&client->pool_lock);
	if (client->pool_len < POOL_MAX) {
		client->pool[client->pool_len++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&client->pool_lock);
	if (h)
		curl_easy_cleanup(h);
}

/* A body being received: collected up to buf.max bytes, or streamed. */
struct body {
	struct bw_buf buf;
	/* streaming */
	bw_stream_fn on_data;
	bw_stream_tick_fn on_tick;
	void *ctx;
	int stream_code;
	int stopped;
};

/* Each connection's TLS context: OpenSSL frees a connection's read and
 * write buffers (some 34 KiB) whenever they are empty instead of keeping
 * them for its life. Most of the operator's connections are idle most of
 * the time: the watches between events, the pooled ones between bursts. */
static CURLcode on_ssl_ctx(CURL *h, void *ssl_ctx, void *arg)
{
	(void)h;
	(void)arg;
	SSL_CTX_set_mode((SSL_CTX *)ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
	return CURLE_OK;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
	struct body *b = userp;
	size_t n = size * nmemb;

	return bw_buf_append(&b->buf, data, n) == 0 ? n : 0;
}

/* A stream's bytes (mux.h), on the thread that asked for it. */
static int stream_deliver(const char *data, size_t n, long status, void *userp)
{
	struct body *b = userp;

	if (status < 400) {
		int rc = b->on_data(data, n, b->ctx);

		if (rc != 0)
			b->stream_code = rc;
		return rc;
	}
	/* an error status: keep its Status body, capped */
	b->buf.max = ERROR_BODY_MAX;
	return bw_buf_append(&b->buf, data, n);
}

static int stream_tick(void *userp)
{
	struct body *b = userp;

	if (b->on_tick && b->on_tick(b->ctx)) {
		b->stopped = 1;
		return 1;
	}
	return 0;
}

/* Retry-After in seconds from the response headers, or -1. */
static long retry_after_seconds(CURL *h)
{
	struct curl_header *hdr = NULL;
	long seconds;
	char *end;

	if (curl_easy_header(h, "Retry-After", 0, CURLH_HEADER, -1, &hdr) != CURLHE_OK)
		return -1;
	seconds = strtol(hdr->value, &end, 10);
	return end != hdr->value && seconds >= 0 ? seconds : -1;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

struct attempt {
	long status;
	long retry_after;
};

/* One HTTP exchange. Fills b with the body, a->status with the status. */
static int perform(struct bw_client *client, const struct bw_request *req, struct body *b,
		   long timeout_ms, struct attempt *a, struct bw_error *err)
{
	char url[4096];
	struct curl_slist *headers = NULL;
	char content_type[128], accept[160];
	CURL *h = NULL;
	CURLcode rc;
	long connects = 0;
	int ret = 0, n;

	n = snprintf(url, sizeof(url), "%s%s%s%s", client->server, req->path,
		     req->query && *req->query ? "?" : "", req->query ? req->query : "");
	if (n < 0 || (size_t)n >= sizeof(url))
		return bw_error_set(err, BW_ETOOBIG, "request URL longer than %zu bytes",
				    sizeof(url));
	/* a stream's handle is its own, made for it and cleaned up after:
	 * its connection is the mux's, not one a pooled handle keeps */
	h = b->on_data ? curl_easy_init() : acquire_handle(client);
	if (!h)
		return bw_error_set(err, BW_ENOMEM, "curl_easy_init failed");

	snprintf(accept, sizeof(accept), "Accept: %s",
		 req->accept ? req->accept : "application/json");
	headers = curl_slist_append(headers, accept);
	if (req->body) {
		snprintf(content_type, sizeof(content_type), "Content-Type: %s",
			 req->content_type ? req->content_type : "application/json");
		headers = curl_slist_append(headers, content_type);
		/* no "Expect: 100-continue" (libcurl adds it to large HTTP/1.1
		 * bodies): the API server answers it only once it reads the
		 * body, so it cost a round trip and up to a second of waiting */
		headers = curl_slist_append(headers, "Expect:");
	}
	pthread_mutex_lock(&client->token_lock);
	refresh_token(client);
	if (client->token) {
		char *line = malloc(strlen(client->token) + 32);

		if (line) {
			sprintf(line, "Authorization: Bearer %s", client->token);
			headers = curl_slist_append(headers, line);
			free_secret(line);
		}
	}
	pthread_mutex_unlock(&client->token_lock);

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_SHARE, client->share);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_USERAGENT, client->user_agent);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
			 req->body && req->body_len > client->http2_body_max
			     ? (long)CURL_HTTP_VERSION_1_1
			     : (long)CURL_HTTP_VERSION_2TLS);
	/* Compressed bodies, but not streams: a watch streaming a list
	 * (sendInitialEvents, with the API server's WatchListCompression) came
	 * gzip-encoded and curl failed to decode it as soon as the list's end
	 * was followed by a live event (CURLE_WRITE_ERROR, every watch, v1.37);
	 * a watch's events are small and come one at a time anyway. */
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, b->on_data ? NULL : "");
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, client->connect_timeout_ms);
	if (timeout_ms > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
	if (req->body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	} else if (strcmp(req->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	}
	if (client->ca_pem) {
		struct curl_blob blob = {client->ca_pem, strlen(client->ca_pem), CURL_BLOB_NOCOPY};
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (client->cert_pem && client->key_pem) {
		struct curl_blob cert = {client->cert_pem, strlen(client->cert_pem),
					 CURL_BLOB_NOCOPY};
		struct curl_blob key = {client->key_pem, strlen(client->key_pem), CURL_BLOB_NOCOPY};
		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (client->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, b);

	rc = b->on_data ? bw_mux_perform(client->mux, h, stream_deliver, stream_tick, b)
			: curl_easy_perform(h);
	if (curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0)
		atomic_fetch_add(&client->connects, (unsigned long)connects);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->status);
	if (!b->on_data && bw_log_enabled(BW_LOG_TRACE)) {
		/* every request with its time, as client-go's -v=6 */
		curl_off_t total_us = 0;

		curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &total_us);
		bw_log_trace("client", "%s %s: %ld in %.1f ms", req->method, req->path, a->status,
			     (double)total_us / 1000.0);
	}
	a->retry_after = rc == CURLE_OK ? retry_after_seconds(h) : -1;
	if (rc != CURLE_OK) {
		if (b->stream_code)
			ret = b->stream_code;
		else if (b->stopped)
			ret = bw_error_set(err, BW_ESTOPPED, "%s %s: stopped", req->method,
					   req->path);
		else if (b->buf.error == BW_ETOOBIG)
			ret = bw_error_set(err, BW_ETOOBIG,
					   "%s %s: response body larger than %zu bytes",
					   req->method, req->path, b->buf.max);
		else
			ret = bw_error_set(err, code_for_curl(rc), "%s: %s", client->server,
					   curl_easy_strerror(rc));
	}
	free_headers(headers);
	/* After a timeout or transport error the handle goes, with its
	 * connections: over HTTP/2 curl keeps a connection whose stream timed
	 * out, and would send every later request into the same dead socket. */
	if (rc == CURLE_OK && !b->on_data)
		release_handle(client, h);
	else
		curl_easy_cleanup(h);
	return ret;
}

long bw_client_retry_delay_ms(int attempt, long retry_after)
{
	long ms = 100L << (attempt < 6 ? attempt : 6);

	if (retry_after >= 0)
		ms = (retry_after > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : retry_after) * 1000;
	/* up to 50% jitter so many clients (and replicas started together:
	 * the generator is seeded from the OS) do not retry in step */
	return ms + (long)(bw_backoff_rand_thread() * (double)(ms / 2 + 1));
}

static int do_request(struct bw_client *client, const struct bw_request *req, struct body *b,
		      long timeout_ms, struct bw_response *resp, struct bw_error *err)
{
	int idempotent = strcmp(req->method, "GET") == 0;
	struct attempt a;
	int ret;

	bw_error_clear(err);
	for (int attempt = 0;; attempt++) {
		memset(&a, 0, sizeof(a));
		bw_buf_reset(&b->buf);
		if (!idempotent && client->write_guard &&
		    (ret = client->write_guard(client->write_guard_ctx, err)) < 0)
			break;
		ret = perform(client, req, b, timeout_ms, &a, err);
		if (ret == 0 && a.status >= 400)
			ret = bw_client_status_error(a.status, b->buf.data, b->buf.len, err);
		else if (ret == 0)
			bw_error_clear(err);
		/* 429 means the server did not act on the request: retrying any
		 * method is safe. Other failures are retried for reads only. */
		if (ret != BW_ERETRY || req->no_retry || attempt >= client->max_retries ||
		    b->on_data || !(idempotent || a.status == 429))
			break;
		bw_log_debug("client", "%s %s: %s; retrying", req->method, req->path,
			     err ? err->message : "");
		sleep_ms(bw_client_retry_delay_ms(attempt, a.retry_after));
	}
	if (ret != 0 && err && ret != BW_ESTOPPED)
		bw_error_prefix(err, "%s %s", req->method, req->path);
	if (resp) {
		resp->status = a.status;
		resp->len = 0;
		resp->body = b->buf.data ? bw_buf_steal(&b->buf, &resp->len) : NULL;
	}
	return ret;
}

int bw_client_do(struct bw_client *client, const struct bw_request *req, struct bw_response *resp,
		 struct bw_error *err)
{
	struct body b = {0};
	int ret;

	bw_buf_init(&b.buf, client->max_body_bytes);
	if (resp)
		memset(resp, 0, sizeof(*resp));
	ret = do_request(client, req, &b,
			 req->timeout_ms > 0 ? req->timeout_ms : client->timeout_ms, resp, err);
	bw_buf_release(&b.buf);
	return ret;
}

void bw_response_release(struct bw_response *resp)
{
	if (!resp)
		return;
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}

int bw_client_stream(struct bw_client *client, const char *path, const char *query,
		     const char *accept, bw_stream_fn on_data, bw_stream_tick_fn on_tick, void *ctx,
		     struct bw_error *err)
{
	struct bw_request req = {.method = "GET", .path = path, .query = query, .accept = accept};
	struct body b = {.on_data = on_data, .on_tick = on_tick, .ctx = ctx};
	int ret;

	bw_buf_init(&b.buf, ERROR_BODY_MAX);
	ret = do_request(client, &req, &b, 0, NULL, err);
	bw_buf_release(&b.buf);
	return ret;
}

/* --- typed requests --- */

/* Runs req and parses the JSON body into *out (when out is not NULL). */
static int request_json(struct bw_client *client, struct bw_request *req, json_t **out,
			struct bw_error *err)
{
	struct bw_response resp;
	json_error_t jerr;
	int ret;

	if (out)
		*out = NULL;
	ret = bw_client_do(client, req, &resp, err);
	if (ret == 0 && out) {
		/* "\u0000" is valid JSON and the API server stores it in any
		 * string a tenant writes: refusing it would stall the caller's
		 * list, and an informer's relist, for everyone. */
		*out = json_loadb(resp.body ? resp.body : "", resp.len, JSON_ALLOW_NUL, &jerr);
		if (!*out)
			ret = bw_error_set(err, BW_EPARSE, "%s %s: response is not JSON: %s",
					   req->method, req->path, jerr.text);
	}
	bw_response_release(&resp);
	return ret;
}

static int request_with_body(struct bw_client *client, const char *method, const char *path,
			     const char *query, const char *content_type, const json_t *body,
			     json_t **out, struct bw_error *err)
{
	struct bw_request req = {
	    .method = method, .path = path, .query = query, .content_type = content_type};
	char *text = json_dumps(body, JSON_COMPACT);
	int ret;

	if (!text)
		return bw_error_set(err, BW_EINVAL, "%s %s: the body cannot be serialised", method,
				    path);
	req.body = text;
	req.body_len = strlen(text);
	ret = request_json(client, &req, out, err);
	free(text);
	return ret;
}

int bw_client_get(struct bw_client *client, const struct bw_resource *res, const char *ns,
		  const char *name, const char *subresource, json_t **out, struct bw_error *err)
{
	char path[1024];
	struct bw_request req = {.method = "GET", .path = path};
	int ret;

	if ((ret = bw_client_path(path, sizeof(path), res, ns, name, subresource, err)) != 0)
		return ret;
	return request_json(client, &req, out, err);
}

static int list_query(char *query, size_t size, const struct bw_list_options *opts,
		      const char *continue_token, struct bw_error *err)
{
	char limit[32];
	int ret = 0;

	query[0] = '\0';
	if (!opts)
		return 0;
	snprintf(limit, sizeof(limit), "%ld", opts->limit);
	if ((ret = query_add(query, size, "labelSelector", opts->label_selector, err)) ||
	    (ret = query_add(query, size, "fieldSelector", opts->field_selector, err)) ||
	    (ret = query_add(query, size, "limit", opts->limit > 0 ? limit : NULL, err)) ||
	    (ret = query_add(query, size, "continue", continue_token, err)) ||
	    (ret = query_add(query, size, "resourceVersion", opts->resource_version, err)))
		return ret;
	return 0;
}

int bw_client_list_page(struct bw_client *client, const struct bw_resource *res, const char *ns,
			const struct bw_list_options *opts, json_t **out, struct bw_error *err)
{
	char path[1024], query[8192];
	struct bw_request req = {.method = "GET", .path = path, .query = query};
	int ret;

	if ((ret = bw_client_path(path, sizeof(path), res, ns, NULL, NULL, err)) != 0)
		return ret;
	if ((ret = list_query(query, sizeof(query), opts, opts ? opts->continue_token : NULL,
			      err)) != 0)
		return ret;
	if (opts && opts->metadata_only)
		req.accept = BW_ACCEPT_METADATA_LIST;
	return request_json(client, &req, out, err);
}

int bw_client_list_pages(struct bw_client *client, const struct bw_resource *res, const char *ns,
			 const struct bw_list_options *opts, const struct bw_list_pager *pager,
			 char **resource_version, size_t *count, struct bw_error *err)
{
	struct bw_list_options page_opts = {0};
	json_t *page = NULL;
	char *token = NULL, *rv = NULL;
	int restarted = 0, ret = 0;
	size_t n = 0;

	if (resource_version)
		*resource_version = NULL;
	if (count)
		*count = 0;
	if (opts)
		page_opts = *opts;
	for (;;) {
		json_t *meta, *item;
		const char *next;
		size_t i;

		page_opts.continue_token = token;
		ret = bw_client_list_page(client, res, ns, &page_opts, &page, err);
		if (ret == BW_EGONE && token && !restarted) {
			/* the continue token expired: start again from a fresh snapshot */
			bw_log_info("client", "list of %s: continue token expired; listing again",
				    res->resource);
			restarted = 1;
			free(token);
			token = NULL;
			n = 0;
			if (pager->restart && (ret = pager->restart(pager->ctx, err)) != 0)
				goto out;
			continue;
		}
		if (ret != 0)
			goto out;
		json_array_foreach(json_object_get(page, "items"), i, item)
		{
			if ((ret = pager->item(item, pager->ctx, err)) != 0)
				goto out;
			n++;
		}
		meta = json_object_get(page, "metadata");
		free(rv);
		rv = dup_or_null(json_string_value(json_object_get(meta, "resourceVersion")));
		next = json_string_value(json_object_get(meta, "continue"));
		free(token);
		token = next && *next ? strdup(next) : NULL;
		json_decref(page);
		page = NULL;
		if (!token)
			break;
	}
	if (resource_version) {
		*resource_version = rv;
		rv = NULL;
	}
	if (count)
		*count = n;
out:
	json_decref(page);
	free(token);
	free(rv);
	return ret;
}

static int collect_item(json_t *item, void *ctx, struct bw_error *err)
{
	return json_array_append(ctx, item) == 0 ? 0
						 : bw_error_set(err, BW_ENOMEM, "out of memory");
}

static int collect_restart(void *ctx, struct bw_error *err)
{
	(void)err;
	json_array_clear(ctx);
	return 0;
}

int bw_client_list(struct bw_client *client, const struct bw_resource *res, const char *ns,
		   const struct bw_list_options *opts, json_t **items, char **resource_version,
		   struct bw_error *err)
{
	json_t *all = json_array();
	struct bw_list_pager pager = {collect_item, collect_restart, all};
	int ret;

	*items = NULL;
	if (resource_version)
		*resource_version = NULL;
	if (!all)
		return bw_error_set(err, BW_ENOMEM, "out of memory");
	ret = bw_client_list_pages(client, res, ns, opts, &pager, resource_version, NULL, err);
	if (ret == 0)
		*items = all;
	else
		json_decref(all);
	return ret;
}

int bw_client_create(struct bw_client *client, const struct bw_resource *res, const char *ns,
		     const json_t *obj, json_t **out, struct bw_error *err)
{
	char path[1024];
	int ret;

	if ((ret = bw_client_path(path, sizeof(path), res, ns, NULL, NULL, err)) != 0)
		return ret;
	return request_with_body(client, "POST", path, NULL, NULL, obj, out, err);
}

int bw_client_update(struct bw_client *client, const struct bw_resource *res, const char *ns,
		     const char *name, const char *subresource, const json_t *obj, json_t **out,
		     struct bw_error *err)
{
	char path[1024];
	int ret;

	if ((ret = bw_client_path(path, sizeof(path), res, ns, name, subresource, err)) != 0)
		return ret;
	return request_with_body(client, "PUT", path, NULL, NULL, obj, out, err);
}

static const char *patch_content_type(enum bw_patch_type type)
{
	switch (type) {
	case BW_PATCH_MERGE:
		return "application/merge-patch+json";
	case BW_PATCH_JSON:
		return "application/json-patch+json";
	case BW_PATCH_STRATEGIC:
		return "application/strategic-merge-patch+json";
	case BW_PATCH_APPLY:
		return "application/apply-patch+yaml";
	}
	return "application/merge-patch+json";
}

int bw_client_patch(struct bw_client *client, const struct bw_resource *res, const char *ns,
		    const char *name, const char *subresource, enum bw_patch_type type,
		    const json_t *patch, const struct bw_patch_options *opts, json_t **out,
		    struct bw_error *err)
{
	char path[1024], query[512] = "";
	int ret;

	if ((ret = bw_client_path(path, sizeof(path), res, ns, name, subresource, err)) != 0)
		return ret;
	if (type == BW_PATCH_APPLY && !(opts && opts->field_manager))
		return bw_error_set(err, BW_EINVAL, "server-side apply needs a field manager");
	if (opts &&
	    ((ret = query_add(query, sizeof(query), "fieldManager", opts->field_manager, err)) ||
	     (ret = query_add(query, sizeof(query), "force",
			      opts->force && type == BW_PATCH_APPLY ? "true" : NULL, err))))
		return ret;
	return request_with_body(client, "PATCH", path, query, patch_content_type(type), patch, out,
				 err);
}

int bw_client_delete(struct bw_client *client, const struct bw_resource *res, const char *ns,
		     const char *name, const struct bw_delete_options *opts, struct bw_error *err)
{
	char path[1024];
	json_t *body = NULL, *pre = NULL;
	int ret;

	if ((ret = bw_client_path(path, sizeof(path), res, ns, name, NULL, err)) != 0)
		return ret;
	body = json_pack("{s:s, s:s}", "apiVersion", "v1", "kind", "DeleteOptions");
	if (!body)
		return bw_error_set(err, BW_ENOMEM, "out of memory");
	if (opts && opts->propagation_policy)
		json_object_set_new(body, "propagationPolicy",
				    json_string(opts->propagation_policy));
	if (opts && opts->set_grace_period)
		json_object_set_new(body, "gracePeriodSeconds",
				    json_integer(opts->grace_period_seconds));
	if (opts && (opts->precondition_uid || opts->precondition_resource_version)) {
		pre = json_object();
		if (opts->precondition_uid)
			json_object_set_new(pre, "uid", json_string(opts->precondition_uid));
		if (opts->precondition_resource_version)
			json_object_set_new(pre, "resourceVersion",
					    json_string(opts->precondition_resource_version));
		json_object_set_new(body, "preconditions", pre);
	}
	ret = request_with_body(client, "DELETE", path, NULL, NULL, body, NULL, err);
	json_decref(body);
	return ret;
}
