/*
 * The HTTP server: see httpd.h.
 *
 * One lws context with one vhost per run. Everything lws hands us arrives in
 * httpd_callback() on the service thread. lws gives each HTTP transaction a
 * fresh, zeroed struct httpd_conn (it rebinds the protocol, which frees and
 * reallocates the per-session data, when a keep-alive connection goes back to
 * waiting for headers), so the struct holds one request and its answer:
 *
 *   LWS_CALLBACK_HTTP              headers parsed: copy path, query, content
 *                                  type; answer at once (no body: dispatch the
 *                                  handler; 404/405 without body; 411/413) or
 *                                  wait for the body
 *   LWS_CALLBACK_HTTP_BODY         append to the body (or drop it for 404/405)
 *   ..._HTTP_BODY_COMPLETION       dispatch
 *   LWS_CALLBACK_HTTP_WRITEABLE    write headers and the body in slices of at
 *                                  most HTTPD_WRITE_MAX bytes, then finish the
 *                                  transaction (or close, after 411/413)
 *   ..._HTTP_DROP_PROTOCOL, ..._CLOSED_HTTP   free what the request held
 *
 * TLS: the vhost is made with LWS_SERVER_OPTION_CREATE_VHOST_SSL_CTX and no
 * certificate, so lws creates its SSL_CTX and passes it to us in
 * LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS, where we set TLS 1.2 as
 * the minimum, load the current credentials, and install httpd_cert_cb(). That
 * callback runs in every full handshake (on the service thread) and gives the
 * connection's SSL the credentials current at that moment, after clearing
 * what it inherited from the SSL_CTX (so a key of another type cannot linger
 * in another slot). bw_httpd_set_tls() swaps h->creds under h->lock. We do not
 * use lws_tls_cert_updated(): in lws 4.1 it only reloads vhosts made from
 * certificate files, and only from those files when they are readable.
 *
 * Connection limit: lws reports every accepted socket to
 * LWS_CALLBACK_FILTER_NETWORK_CONNECTION (where we refuse it when full), and
 * every connection's birth and death to LWS_CALLBACK_WSI_CREATE and
 * LWS_CALLBACK_WSI_DESTROY, where we count.
 */
#include <libwebsockets.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"
#include "httpd.h"
#include "log.h"
#include "thread.h"

#define HTTPD_MODULE "httpd"
/* Bytes per write (headers and body slices alike): one TLS record. */
#define HTTPD_WRITE_MAX 16384
/* Request headers, all of them, at most (lws drops a request over it). */
#define HTTPD_HEADER_MAX 8192
/* Certificate and key files are read whole, up to this size. */
#define HTTPD_PEM_FILE_MAX (1024 * 1024)
#define HTTPD_DEFAULT_TYPE "text/plain; charset=utf-8"
#define HTTPD_ALLOW_MAX	   48
/* A body over the limit by at most this much is read and dropped before
 * the connection closes (see on_request()). */
#define HTTPD_DRAIN_MAX (16ull * 1024 * 1024)
/* A body buffer (buf.h) starts at 4 KiB and doubles as bytes arrive, up to
 * the Content-Length (which is never trusted with an allocation up front). */

struct httpd_creds {
	X509 *leaf;
	STACK_OF(X509) * chain; /* intermediates, maybe empty */
	EVP_PKEY *key;
};

struct httpd_route {
	int method; /* LWSHUMETH_* */
	char path[BW_HTTPD_PATH_MAX];
	size_t slot; /* its path's index in stats.paths */
	bw_httpd_handler_fn *handler;
	void *ctx;
	size_t inline_max; /* bodies up to this size run on the service thread */
	int inline_ok;	   /* ... when set (bw_httpd_add_route_inline()) */
};

struct bw_http_response {
	int status;
	char *content_type; /* NULL: HTTPD_DEFAULT_TYPE when there is a body */
	char *body;
	size_t len;
};

/* lws's per-session data: one request and its answer. Zeroed by lws. */
struct httpd_conn {
	int method;
	const struct httpd_route *route; /* NULL: answer with resp as set */
	size_t slot;
	char *path, *query, *content_type;
	struct bw_buf body;	    /* capped at the Content-Length (body.max) */
	size_t reserved;	    /* bytes of the buffering budget held */
	struct httpd_job *job;	    /* the handler's work on a worker, until answered */
	unsigned char retry_after;  /* 503: add Retry-After */
	unsigned char waiting_body; /* dispatch on body completion */
	unsigned char completions;  /* HTTP_BODY_COMPLETION calls seen */
	unsigned char drop_body;    /* the answer does not need the body */
	unsigned char answered;	    /* resp is final and counted */
	unsigned char headers_sent;
	unsigned char close_after; /* close instead of keeping alive */
	unsigned char written;	   /* the whole answer is written */
	const char *allow;	   /* Allow header value, for 405 */
	struct bw_http_response resp;
	size_t sent; /* body bytes written */
};

/* One per accepted connection, for as long as its wsi lives (lws's
 * opaque user data; httpd_conn is per transaction): the deadline and the
 * peer it counts against. Service thread only; see link_of(). */
struct httpd_link {
	struct httpd_link *prev, *next; /* h->links */
	struct bw_httpd *h;
	struct lws *wsi;
	lws_sorted_usec_list_t sul;   /* the request deadline or the idle timeout */
	unsigned char addr[16];	      /* the peer, IPv4 as ::ffff:a.b.c.d */
	int transactions;	      /* answered on this connection */
	unsigned long long done_pass; /* h->passes when the last one was answered */
	int idle;		      /* the sul is the idle timeout */
};

/* Connections per peer address. */
struct httpd_peer {
	unsigned char addr[16];
	int count;
};

/* A handler call on a worker: owns the request's strings and body (and the
 * budget they hold) until the service thread takes the answer back. */
struct httpd_job {
	struct httpd_job *next;
	const struct httpd_route *route;
	struct httpd_conn *conn; /* NULL once the connection is gone (pool lock) */
	struct lws *wsi;
	char *path, *query, *content_type, *body;
	size_t body_len, reserved;
	int method;
	int rc;
	struct bw_http_response resp;
};

struct bw_httpd {
	/* set by new and add_route, read-only once started */
	char *bind_address;
	int port_option;
	size_t max_body;
	size_t max_buffered;
	int max_connections;
	int max_per_peer;
	int keepalive_s;
	int request_timeout_ms;
	int workers;
	int use_tls;
	struct httpd_route routes[BW_HTTPD_MAX_ROUTES];
	size_t n_routes;
	char allow[BW_HTTPD_MAX_ROUTES + 1][HTTPD_ALLOW_MAX]; /* per stats slot */

	pthread_mutex_t lock; /* guards what follows, down to `thread` */
	pthread_cond_t cond;  /* start and stop hand-offs */
	struct httpd_creds *creds;
	struct bw_httpd_stats stats;
	int running;	 /* a service thread exists (start .. end of stop) */
	int stopping;	 /* a stop is joining the thread */
	int started;	 /* a start succeeded once: routes are frozen */
	int start_state; /* 0 starting, 1 listening, < 0 failed */
	struct bw_error start_err;
	int port;			  /* while listening */
	struct lws_context *live_context; /* set while lws_cancel_service() may be called */
	pthread_t thread;

	atomic_int stop_flag;

	/* the worker pool: guarded by pool_lock */
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_cond;
	struct httpd_job *queue, *queue_tail; /* for the workers */
	struct httpd_job *done;		      /* for the service thread */
	int pool_stop;
	pthread_t *worker_threads; /* service thread: made and joined there */
	int n_worker_threads;

	/* service thread only */
	struct lws_context *context;
	struct lws_vhost *vhost;
	int open_connections;
	int refusing;			/* warned that connections are refused */
	size_t buffered;		/* budget held by bodies, buffered or with workers */
	struct httpd_link *links;	/* every accepted connection's */
	struct httpd_peer *peers;	/* max_connections entries */
	int n_peers;			/* in use */
	unsigned char pending_addr[16]; /* accepted, its wsi not made yet */
	int pending;
	unsigned long long passes; /* lws_service() calls so far */
	unsigned char wbuf[LWS_PRE + HTTPD_WRITE_MAX];
};

static const char *const httpd_method_names[] = {
    [LWSHUMETH_GET] = "GET",	     [LWSHUMETH_POST] = "POST",	  [LWSHUMETH_OPTIONS] = "OPTIONS",
    [LWSHUMETH_PUT] = "PUT",	     [LWSHUMETH_PATCH] = "PATCH", [LWSHUMETH_DELETE] = "DELETE",
    [LWSHUMETH_CONNECT] = "CONNECT", [LWSHUMETH_HEAD] = "HEAD",
};

/* lws keeps process-wide state (its log emitter, OpenSSL ex-data indexes
 * set at each context creation): contexts are made and destroyed one at a
 * time. */
static pthread_mutex_t httpd_global_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t httpd_log_once = PTHREAD_ONCE_INIT;

static int httpd_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
			  size_t len);
static void link_idle(struct bw_httpd *h, struct lws *wsi);

static const struct lws_protocols httpd_protocols[] = {
    {
	.name = "http",
	.callback = httpd_callback,
	.per_session_data_size = sizeof(struct httpd_conn),
	.tx_packet_size = HTTPD_WRITE_MAX,
    },
    {.name = NULL},
};

/* ---- logging ---------------------------------------------------------- */

static void httpd_lws_log(int level, const char *line)
{
	size_t n = strlen(line);

	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
		n--;
	bw_log(level & LLL_ERR ? BW_LOG_ERROR : BW_LOG_WARN, HTTPD_MODULE, "libwebsockets: %.*s",
	       (int)n, line);
}

static void httpd_log_setup(void)
{
	lws_set_log_level(LLL_ERR | LLL_WARN, httpd_lws_log);
}

/* ---- credentials ------------------------------------------------------ */

static void creds_free(struct httpd_creds *c)
{
	if (!c)
		return;
	X509_free(c->leaf);
	sk_X509_pop_free(c->chain, X509_free);
	EVP_PKEY_free(c->key);
	free(c);
}

/* The first OpenSSL error, for a message; clears the queue. */
static const char *ssl_error_text(char *buf, size_t size)
{
	unsigned long e = ERR_peek_error();

	if (e)
		ERR_error_string_n(e, buf, size);
	else
		snprintf(buf, size, "no detail");
	ERR_clear_error();
	return buf;
}

static int creds_parse(const char *cert_pem, const char *key_pem, struct httpd_creds **out,
		       struct bw_error *err)
{
	struct httpd_creds *c = NULL;
	BIO *bio = NULL;
	X509 *x;
	char detail[256];
	int rc = 0;

	ERR_clear_error();
	c = calloc(1, sizeof(*c));
	if (!c || !(c->chain = sk_X509_new_null())) {
		rc = bw_error_set(err, BW_ENOMEM, "tls: out of memory");
		goto out;
	}
	bio = BIO_new_mem_buf(cert_pem, -1);
	if (!bio) {
		rc = bw_error_set(err, BW_ENOMEM, "tls: out of memory");
		goto out;
	}
	c->leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (!c->leaf) {
		rc = bw_error_set(err, BW_EPARSE, "tls: no certificate in the PEM (%s)",
				  ssl_error_text(detail, sizeof(detail)));
		goto out;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(c->chain, x)) {
			X509_free(x);
			rc = bw_error_set(err, BW_ENOMEM, "tls: out of memory");
			goto out;
		}
	}
	/* the loop ends on "no start line" at the end of the text: expected */
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE && ERR_peek_error()) {
		rc = bw_error_set(err, BW_EPARSE, "tls: bad certificate chain (%s)",
				  ssl_error_text(detail, sizeof(detail)));
		goto out;
	}
	ERR_clear_error();
	BIO_free(bio);
	bio = BIO_new_mem_buf(key_pem, -1);
	if (!bio) {
		rc = bw_error_set(err, BW_ENOMEM, "tls: out of memory");
		goto out;
	}
	c->key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (!c->key) {
		rc = bw_error_set(err, BW_EPARSE, "tls: no private key in the PEM (%s)",
				  ssl_error_text(detail, sizeof(detail)));
		goto out;
	}
	if (X509_check_private_key(c->leaf, c->key) != 1) {
		rc = bw_error_set(err, BW_EPARSE,
				  "tls: the private key does not match the certificate (%s)",
				  ssl_error_text(detail, sizeof(detail)));
		goto out;
	}
	*out = c;
	c = NULL;
out:
	ERR_clear_error();
	BIO_free(bio);
	creds_free(c);
	return rc;
}

static int read_pem_file(const char *path, char **out, struct bw_error *err)
{
	FILE *f = NULL;
	char *buf = NULL;
	size_t n = 0;
	int rc = 0;

	f = fopen(path, "rb");
	if (!f) {
		rc = bw_error_set(err, BW_EIO, "tls: cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	buf = malloc(HTTPD_PEM_FILE_MAX + 1);
	if (!buf) {
		rc = bw_error_set(err, BW_ENOMEM, "tls: out of memory");
		goto out;
	}
	n = fread(buf, 1, HTTPD_PEM_FILE_MAX + 1, f);
	if (ferror(f)) {
		rc = bw_error_set(err, BW_EIO, "tls: cannot read %s", path);
		goto out;
	}
	if (n > HTTPD_PEM_FILE_MAX) {
		rc = bw_error_set(err, BW_ETOOBIG, "tls: %s is larger than %d bytes", path,
				  HTTPD_PEM_FILE_MAX);
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
out:
	if (f)
		fclose(f);
	free(buf);
	return rc;
}

/* Service thread, in every full TLS handshake: the current credentials. */
static int httpd_cert_cb(SSL *ssl, void *arg)
{
	struct bw_httpd *h = arg;
	int ok = 0;

	pthread_mutex_lock(&h->lock);
	if (h->creds) {
		SSL_certs_clear(ssl);
		ok = SSL_use_cert_and_key(ssl, h->creds->leaf, h->creds->key, h->creds->chain, 1) ==
		     1;
	}
	pthread_mutex_unlock(&h->lock);
	if (!ok) {
		ERR_clear_error();
		bw_log_error(HTTPD_MODULE, "tls: cannot set the certificate of a connection");
	}
	return ok;
}

/* Service thread, while lws makes the vhost: configure its SSL_CTX. */
static int httpd_tls_setup(struct bw_httpd *h, SSL_CTX *ctx)
{
	int ok;

	if (!ctx || !h->use_tls)
		return 0;
	ok = SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1;
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	pthread_mutex_lock(&h->lock);
	ok = ok && h->creds &&
	     SSL_CTX_use_cert_and_key(ctx, h->creds->leaf, h->creds->key, h->creds->chain, 1) == 1;
	pthread_mutex_unlock(&h->lock);
	SSL_CTX_set_cert_cb(ctx, httpd_cert_cb, h);
	if (!ok) {
		ERR_clear_error();
		bw_log_error(HTTPD_MODULE, "tls: cannot configure the server's SSL_CTX");
		return 1;
	}
	return 0;
}

/* ---- stats ------------------------------------------------------------ */

static void stats_count(struct bw_httpd *h, size_t slot, int status)
{
	struct bw_httpd_path_stats *p;
	size_t i;

	pthread_mutex_lock(&h->lock);
	h->stats.requests++;
	p = &h->stats.paths[slot];
	for (i = 0; i < BW_HTTPD_STATUS_SLOTS; i++) {
		if (p->statuses[i].status == status || p->statuses[i].status == 0) {
			p->statuses[i].status = status;
			p->statuses[i].count++;
			break;
		}
	}
	if (i == BW_HTTPD_STATUS_SLOTS)
		p->other++;
	pthread_mutex_unlock(&h->lock);
}

void bw_httpd_stats(struct bw_httpd *httpd, struct bw_httpd_stats *out)
{
	pthread_mutex_lock(&httpd->lock);
	*out = httpd->stats;
	pthread_mutex_unlock(&httpd->lock);
}

unsigned long long bw_httpd_stats_count(const struct bw_httpd_stats *stats, const char *path,
					int status)
{
	size_t i, j;

	for (i = 0; i < stats->n_paths; i++) {
		if (strcmp(stats->paths[i].path, path) != 0)
			continue;
		for (j = 0; j < BW_HTTPD_STATUS_SLOTS; j++)
			if (stats->paths[i].statuses[j].status == status)
				return stats->paths[i].statuses[j].count;
	}
	return 0;
}

static void stats_add(struct bw_httpd *h, unsigned long long *counter)
{
	pthread_mutex_lock(&h->lock);
	(*counter)++;
	pthread_mutex_unlock(&h->lock);
}

/* Service thread: the body budget in use changes by delta bytes. */
static void budget_add(struct bw_httpd *h, long long delta)
{
	h->buffered = (size_t)((long long)h->buffered + delta);
	pthread_mutex_lock(&h->lock);
	h->stats.bytes_buffered = h->buffered;
	pthread_mutex_unlock(&h->lock);
}

/* ---- limits (pure) ---------------------------------------------------- */

size_t bw_httpd_budget_room(size_t max_buffered, size_t buffered, size_t len)
{
	size_t limit = len > BW_HTTPD_SMALL_BODY ? max_buffered - max_buffered / 4 : max_buffered;

	return buffered >= limit ? 0 : limit - buffered;
}

/* ---- responses -------------------------------------------------------- */

static void response_clear(struct bw_http_response *resp)
{
	free(resp->content_type);
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}

void bw_httpd_response_set_status(struct bw_http_response *resp, int status)
{
	resp->status = status;
}

int bw_httpd_response_take_body(struct bw_http_response *resp, const char *content_type, char *body,
				size_t len)
{
	char *type = strdup(content_type ? content_type : HTTPD_DEFAULT_TYPE);

	if (!type) {
		free(body);
		return BW_ENOMEM;
	}
	free(resp->content_type);
	free(resp->body);
	resp->content_type = type;
	resp->body = body;
	resp->len = body ? len : 0;
	return 0;
}

int bw_httpd_response_set_body(struct bw_http_response *resp, const char *content_type,
			       const char *body, size_t len)
{
	char *copy = malloc(len + 1);

	if (!copy)
		return BW_ENOMEM;
	if (len)
		memcpy(copy, body, len);
	copy[len] = '\0';
	return bw_httpd_response_take_body(resp, content_type, copy, len);
}

/* A canned answer from the server itself (404, 405, 411, 413, 500). */
static int conn_answer_text(struct httpd_conn *c, int status, const char *text)
{
	response_clear(&c->resp);
	c->resp.status = status;
	return bw_httpd_response_set_body(&c->resp, NULL, text, strlen(text));
}

/* ---- requests --------------------------------------------------------- */

/* The connection's share of the worker pool: an unanswered job is orphaned
 * (a worker skips it, or its answer is dropped when it comes back). */
static void conn_orphan_job(struct bw_httpd *h, struct httpd_conn *c)
{
	if (!c->job)
		return;
	pthread_mutex_lock(&h->pool_lock);
	c->job->conn = NULL;
	pthread_mutex_unlock(&h->pool_lock);
	c->job = NULL;
}

static void conn_release(struct bw_httpd *h, struct httpd_conn *c)
{
	if (!c)
		return;
	conn_orphan_job(h, c);
	budget_add(h, -(long long)c->reserved);
	free(c->path);
	free(c->query);
	free(c->content_type);
	bw_buf_release(&c->body);
	response_clear(&c->resp);
	memset(c, 0, sizeof(*c));
}

/* The answer in c->resp is final: count it and ask to write it. */
static void conn_send(struct bw_httpd *h, struct lws *wsi, struct httpd_conn *c)
{
	if (c->resp.status < 200 || c->resp.status > 599) {
		bw_log_warn(HTTPD_MODULE, "%s %s: handler set status %d; answering 500",
			    httpd_method_names[c->method], c->path, c->resp.status);
		if (conn_answer_text(c, 500, "internal server error\n") < 0)
			c->resp.status = 500;
	}
	c->answered = 1;
	stats_count(h, c->slot, c->resp.status);
	lws_callback_on_writable(wsi);
}

/* The handler's result into c->resp: a failed handler gets its client a 500. */
static void conn_handled(struct httpd_conn *c, int rc)
{
	if (rc < 0) {
		bw_log_warn(HTTPD_MODULE, "%s %s: handler failed (%s); answering 500",
			    httpd_method_names[c->method], c->path, bw_code_name(rc));
		if (conn_answer_text(c, 500, "internal server error\n") < 0)
			c->resp.status = 500;
	}
}

static void job_free(struct bw_httpd *h, struct httpd_job *job)
{
	budget_add(h, -(long long)job->reserved);
	free(job->path);
	free(job->query);
	free(job->content_type);
	free(job->body);
	response_clear(&job->resp);
	free(job);
}

/* Hands the request to the worker pool: the job takes over the request's
 * strings, body and budget. 0, or -1 when out of memory. */
static int conn_queue_job(struct bw_httpd *h, struct lws *wsi, struct httpd_conn *c)
{
	struct httpd_job *job = calloc(1, sizeof(*job));

	if (!job || !(job->path = strdup(c->path))) {
		free(job);
		return -1;
	}
	job->route = c->route;
	job->conn = c;
	job->wsi = wsi;
	job->method = c->method;
	job->query = c->query;
	job->content_type = c->content_type;
	job->body = c->body.data ? bw_buf_steal(&c->body, &job->body_len) : NULL;
	job->reserved = c->reserved;
	c->query = c->content_type = NULL;
	c->reserved = 0;
	c->job = job;
	pthread_mutex_lock(&h->pool_lock);
	if (h->queue_tail)
		h->queue_tail->next = job;
	else
		h->queue = job;
	h->queue_tail = job;
	pthread_cond_signal(&h->pool_cond);
	pthread_mutex_unlock(&h->pool_lock);
	return 0;
}

static void conn_dispatch(struct bw_httpd *h, struct lws *wsi, struct httpd_conn *c)
{
	struct bw_http_request req;
	int rc;

	if (!c->route) {
		conn_send(h, wsi, c);
		return;
	}
	/* to a worker, unless there is none (none could start) or the route
	 * says the handler is quick enough for this thread at this size */
	if (h->n_worker_threads > 0 &&
	    !(c->route->inline_ok && c->body.len <= c->route->inline_max)) {
		if (conn_queue_job(h, wsi, c) == 0)
			return;
		bw_log_error(HTTPD_MODULE, "out of memory for a request; answering 500");
		if (conn_answer_text(c, 500, "internal server error\n") < 0)
			c->resp.status = 500;
		conn_send(h, wsi, c);
		return;
	}
	req.method = httpd_method_names[c->method];
	req.path = c->path;
	req.query = c->query;
	req.content_type = c->content_type;
	req.body = c->body.data ? c->body.data : "";
	req.body_len = c->body.len;
	response_clear(&c->resp);
	c->resp.status = 200;
	rc = c->route->handler(&req, &c->resp, c->route->ctx);
	conn_handled(c, rc);
	conn_send(h, wsi, c);
}

/* ---- the worker pool -------------------------------------------------- */

/* Set on worker threads: bw_httpd_stop() from a handler must not join. */
static _Thread_local struct bw_httpd *httpd_worker_of;

static void *httpd_worker(void *arg)
{
	struct bw_httpd *h = arg;
	struct bw_http_request req;
	struct httpd_job *job;
	int orphan;

	bw_thread_name("httpd-work", NULL);
	httpd_worker_of = h;
	for (;;) {
		pthread_mutex_lock(&h->pool_lock);
		while (!h->queue && !h->pool_stop)
			pthread_cond_wait(&h->pool_cond, &h->pool_lock);
		if (!h->queue) {
			pthread_mutex_unlock(&h->pool_lock);
			return NULL;
		}
		job = h->queue;
		h->queue = job->next;
		if (!h->queue)
			h->queue_tail = NULL;
		job->next = NULL;
		orphan = job->conn == NULL;
		pthread_mutex_unlock(&h->pool_lock);

		if (!orphan) {
			req.method = httpd_method_names[job->method];
			req.path = job->path;
			req.query = job->query ? job->query : "";
			req.content_type = job->content_type ? job->content_type : "";
			req.body = job->body ? job->body : "";
			req.body_len = job->body_len;
			job->resp.status = 200;
			job->rc = job->route->handler(&req, &job->resp, job->route->ctx);
		}

		/* back to the service thread, which frees it or answers with it */
		pthread_mutex_lock(&h->pool_lock);
		job->next = h->done;
		h->done = job;
		pthread_mutex_unlock(&h->pool_lock);
		pthread_mutex_lock(&h->lock);
		if (h->live_context)
			lws_cancel_service(h->live_context);
		pthread_mutex_unlock(&h->lock);
	}
}

/* Service thread, woken by lws_cancel_service(): answers with what the
 * workers finished. */
static void httpd_collect_jobs(struct bw_httpd *h)
{
	struct httpd_job *done, *job;
	struct httpd_conn *c;

	pthread_mutex_lock(&h->pool_lock);
	done = h->done;
	h->done = NULL;
	pthread_mutex_unlock(&h->pool_lock);
	while ((job = done) != NULL) {
		done = job->next;
		c = job->conn; /* only this thread clears it */
		if (c) {
			c->job = NULL;
			response_clear(&c->resp);
			c->resp = job->resp;
			memset(&job->resp, 0, sizeof(job->resp));
			conn_handled(c, job->rc);
			conn_send(h, job->wsi, c);
		}
		job_free(h, job);
	}
}

static int httpd_workers_start(struct bw_httpd *h)
{
	int i;

	h->pool_stop = 0;
	if (h->workers <= 0)
		return 0;
	h->worker_threads = calloc((size_t)h->workers, sizeof(*h->worker_threads));
	if (!h->worker_threads)
		return -1;
	for (i = 0; i < h->workers; i++) {
		if (pthread_create(&h->worker_threads[i], NULL, httpd_worker, h) != 0)
			break;
		h->n_worker_threads++;
	}
	return h->n_worker_threads == h->workers ? 0 : -1;
}

/* Joins the workers and frees what they leave (every connection is gone). */
static void httpd_workers_stop(struct bw_httpd *h)
{
	struct httpd_job *job;
	int i;

	pthread_mutex_lock(&h->pool_lock);
	h->pool_stop = 1;
	pthread_cond_broadcast(&h->pool_cond);
	pthread_mutex_unlock(&h->pool_lock);
	for (i = 0; i < h->n_worker_threads; i++)
		pthread_join(h->worker_threads[i], NULL);
	free(h->worker_threads);
	h->worker_threads = NULL;
	h->n_worker_threads = 0;
	while ((job = h->queue) != NULL) {
		h->queue = job->next;
		job_free(h, job);
	}
	h->queue_tail = NULL;
	while ((job = h->done) != NULL) {
		h->done = job->next;
		job_free(h, job);
	}
}

/* The arguments, joined with '&' (lws_hdr_copy() would join them with ','). */
static char *copy_query(struct lws *wsi)
{
	int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
	char *q = malloc((size_t)total + 2);
	int off = 0, i, n;

	if (!q)
		return NULL;
	q[0] = '\0';
	for (i = 0; total > 0 && off <= total; i++) {
		n = lws_hdr_copy_fragment(wsi, q + off, total + 2 - off, WSI_TOKEN_HTTP_URI_ARGS,
					  i);
		if (n < 0)
			break;
		off += n;
		q[off++] = '&';
		q[off] = '\0';
	}
	if (off > 0)
		q[off - 1] = '\0';
	return q;
}

static char *copy_header(struct lws *wsi, enum lws_token_indexes token)
{
	int n = lws_hdr_total_length(wsi, token);
	char *s = malloc((size_t)n + 1);

	if (!s)
		return NULL;
	s[0] = '\0';
	if (n > 0 && lws_hdr_copy(wsi, s, n + 1, token) < 0)
		s[0] = '\0';
	return s;
}

/* The route for method on c->path; sets c->slot and, for 405, c->allow. */
static const struct httpd_route *find_route(struct bw_httpd *h, struct httpd_conn *c)
{
	size_t i;

	c->slot = 0;
	for (i = 0; i < h->n_routes; i++) {
		if (strcmp(h->routes[i].path, c->path) != 0)
			continue;
		c->slot = h->routes[i].slot;
		if (h->routes[i].method == c->method)
			return &h->routes[i];
	}
	if (c->slot)
		c->allow = h->allow[c->slot];
	return NULL;
}

/* Digits of a Content-Length, at most: lws reads the header itself, with
 * atoll() on a copy of at most 31 bytes, and 19 digits fit a long long. */
#define HTTPD_LENGTH_DIGITS_MAX 19

/* 0: no Content-Length; 1: *len set; -1: malformed.
 *
 * lws decides on its own reading of the header whether a body follows, and
 * a request on which we wait for a body that lws does not deliver spins its
 * service thread: the bytes after the headers stay in lws's buffer, lws
 * polls again at once and never reads the socket (found by fuzz_httpd: a
 * value of 31 bytes, "35" then NULs and junk, which lws could not copy, so
 * it saw no body, while strtoull() stopped at the first NUL and read 35).
 * So only a value lws reads the same is accepted: digits only, all of the
 * header's bytes, at most 19 of them. */
static int content_length(struct lws *wsi, unsigned long long *len)
{
	char buf[HTTPD_LENGTH_DIGITS_MAX + 1], *end;
	int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);

	if (n <= 0)
		return 0;
	if (n > HTTPD_LENGTH_DIGITS_MAX ||
	    lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_CONTENT_LENGTH) != n)
		return -1;
	if (buf[0] < '0' || buf[0] > '9')
		return -1;
	errno = 0;
	*len = strtoull(buf, &end, 10);
	if (errno || end != buf + n)
		return -1;
	return 1;
}

static int on_request(struct bw_httpd *h, struct lws *wsi, struct httpd_conn *c, const char *in,
		      size_t len)
{
	unsigned long long body_len = 0;
	char *uri = NULL, msg[200];
	int uri_len = 0, has_len, body_method;
	size_t room;

	conn_release(h, c);
	c->method = lws_http_get_uri_and_method(wsi, &uri, &uri_len);
	if (c->method < 0 || c->method > LWSHUMETH_HEAD)
		return -1;
	c->path = malloc(len + 1);
	c->query = copy_query(wsi);
	c->content_type = copy_header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
	if (!c->path || !c->query || !c->content_type) {
		bw_log_error(HTTPD_MODULE, "out of memory for a request");
		return -1;
	}
	memcpy(c->path, in, len);
	c->path[len] = '\0';
	c->route = find_route(h, c);

	has_len = content_length(wsi, &body_len);
	body_method = c->method == LWSHUMETH_POST || c->method == LWSHUMETH_PUT ||
		      c->method == LWSHUMETH_PATCH;
	if (has_len < 0) {
		c->route = NULL;
		c->allow = NULL;
		c->close_after = 1;
		if (conn_answer_text(c, 400, "bad Content-Length\n") < 0)
			return -1;
		conn_send(h, wsi, c);
		return 0;
	}
	if ((body_method && !has_len) ||
	    lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
		/* lws 4.1 reads no chunked request bodies */
		c->route = NULL;
		c->allow = NULL;
		c->close_after = 1;
		if (conn_answer_text(c, 411, "a request body needs a Content-Length\n") < 0)
			return -1;
		conn_send(h, wsi, c);
		return 0;
	}
	if (body_len > h->max_body) {
		/* answered at once, and the connection closes after. A client
		 * that does not wait for "100 Continue" is sending the body
		 * already: closing a socket with unread data resets it, and the
		 * reset can beat the answer, so a body not much over the limit
		 * is read and dropped first. */
		c->route = NULL;
		c->allow = NULL;
		c->close_after = 1;
		if (body_len - h->max_body <= HTTPD_DRAIN_MAX) {
			c->waiting_body = 1;
			c->drop_body = 1;
		}
		snprintf(msg, sizeof(msg), "request body too large: %llu bytes, the limit is %zu\n",
			 body_len, h->max_body);
		if (conn_answer_text(c, 413, msg) < 0)
			return -1;
		conn_send(h, wsi, c);
		return 0;
	}
	if (!c->route) {
		if (c->allow) {
			if (conn_answer_text(c, 405, "method not allowed\n") < 0)
				return -1;
		} else if (conn_answer_text(c, 404, "not found\n") < 0) {
			return -1;
		}
		c->drop_body = 1;
	}
	if (body_len > 0 && !c->drop_body) {
		/* the budget is taken for the whole Content-Length at once, so a
		 * body is refused before it is sent rather than cut off half-way;
		 * memory itself grows only as bytes arrive (on_body()) */
		room = bw_httpd_budget_room(h->max_buffered, h->buffered, (size_t)body_len);
		if (room < body_len) {
			c->route = NULL;
			c->allow = NULL;
			c->close_after = 1;
			c->retry_after = 1;
			c->drop_body = 1;
			stats_add(h, &h->stats.requests_busy);
			snprintf(msg, sizeof(msg),
				 "server busy: %zu bytes of request bodies are buffered, the limit "
				 "is %zu; retry later\n",
				 h->buffered, h->max_buffered);
			if (conn_answer_text(c, 503, msg) < 0)
				return -1;
			c->waiting_body = 1; /* read and dropped, as for 413 */
			conn_send(h, wsi, c);
			return 0;
		}
		budget_add(h, (long long)body_len);
		c->reserved = (size_t)body_len;
		c->body.max = (size_t)body_len;
	}
	if (body_len > 0) {
		/* lws calls HTTP_BODY and then HTTP_BODY_COMPLETION */
		c->waiting_body = 1;
		return 0;
	}
	/* no body (for POST with Content-Length: 0 lws still calls
	 * HTTP_BODY_COMPLETION afterwards: c->answered makes us ignore it) */
	conn_dispatch(h, wsi, c);
	return 0;
}

static int on_body(struct httpd_conn *c, const void *in, size_t len)
{
	if (c->answered || c->drop_body || !c->waiting_body || !len)
		return 0;
	if (len > c->body.max - c->body.len) {
		/* lws 4.1 does this on bytes after a body in the same read (see
		 * on_body_done()): a client's doing, so no error; close */
		bw_log_debug(HTTPD_MODULE, "request body longer than its Content-Length");
		return -1;
	}
	if (bw_buf_append(&c->body, in, len) != 0) {
		bw_log_error(HTTPD_MODULE, "out of memory for a %zu-byte body", c->body.max);
		return -1;
	}
	return 0;
}

static int on_body_done(struct bw_httpd *h, struct lws *wsi, struct httpd_conn *c)
{
	/* lws 4.1 loops forever on bytes that follow a body in the same read
	 * (lws_http_action() re-reads the request's own headers, which it never
	 * took off its buffer, as body: HTTP_BODY_COMPLETION again and again,
	 * the service thread stuck). A second completion is that loop: close
	 * the connection, which ends it. (Pipelined requests are refused in
	 * link_request(); this is the first request followed by stray bytes.)
	 * Found by fuzz_httpd. */
	if (++c->completions > 1) {
		bw_log_debug(HTTPD_MODULE, "closing a connection with bytes after a request body");
		return -1;
	}
	if (!c->waiting_body)
		return 0;
	c->waiting_body = 0;
	if (!c->answered) {
		conn_dispatch(h, wsi, c);
		return 0;
	}
	/* a 413 whose body was being drained: close once it is written */
	return c->close_after && c->written ? -1 : 0;
}

static int add_header(struct lws *wsi, enum lws_token_indexes token, const char *value,
		      unsigned char **p, unsigned char *end)
{
	return lws_add_http_header_by_token(wsi, token, (const unsigned char *)value,
					    (int)strlen(value), p, end);
}

static int on_writeable(struct bw_httpd *h, struct lws *wsi, struct httpd_conn *c)
{
	unsigned char *start = h->wbuf + LWS_PRE, *p = start, *end = h->wbuf + sizeof(h->wbuf);
	struct bw_http_response *r = &c->resp;
	int no_body = r->status == 204 || r->status == 304;
	int head = c->method == LWSHUMETH_HEAD; /* the headers a GET would get */
	size_t n;

	if (!c->answered)
		return 0;
	if (!c->headers_sent) {
		if (lws_add_http_header_status(wsi, (unsigned)r->status, &p, end))
			return -1;
		if (!no_body &&
		    (add_header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
				r->content_type ? r->content_type : HTTPD_DEFAULT_TYPE, &p, end) ||
		     lws_add_http_header_content_length(wsi, r->len, &p, end)))
			return -1;
		if (c->allow && add_header(wsi, WSI_TOKEN_HTTP_ALLOW, c->allow, &p, end))
			return -1;
		if (c->close_after && add_header(wsi, WSI_TOKEN_CONNECTION, "close", &p, end))
			return -1;
		if (c->retry_after &&
		    lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:",
						(const unsigned char *)"1", 1, &p, end))
			return -1;
		if (lws_finalize_http_header(wsi, &p, end))
			return -1;
		c->headers_sent = 1;
		if (no_body || head)
			c->sent = r->len;
	}
	/* headers and the body's start go out in one write */
	n = r->len - c->sent;
	if (n > (size_t)(end - p))
		n = (size_t)(end - p);
	if (n)
		memcpy(p, r->body + c->sent, n);
	p += n;
	c->sent += n;
	if (lws_write(wsi, start, (size_t)(p - start),
		      c->sent == r->len ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0)
		return -1;
	if (c->sent < r->len) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	c->written = 1;
	if (c->close_after)
		return c->waiting_body ? 0 : -1; /* draining: on_body_done() closes */
	/* back to waiting for the next request; lws drops c (HTTP_DROP_PROTOCOL) */
	if (lws_http_transaction_completed(wsi))
		return -1;
	link_idle(h, wsi);
	return 0;
}

/* A request asking to upgrade to websocket or h2c (lws answers 403 to any
 * other upgrade itself). lws cannot be told to ignore the header and serve
 * the request as HTTP/1.1, so it gets a 400, written here (lws then finishes
 * the transaction). */
static int on_upgrade(struct bw_httpd *h, struct lws *wsi, const char *protocol)
{
	char *uri = NULL, path[BW_HTTPD_PATH_MAX];
	int uri_len = 0;
	size_t i, slot = 0;

	if (lws_http_get_uri_and_method(wsi, &uri, &uri_len) >= 0 && uri && uri_len > 0 &&
	    (size_t)uri_len < sizeof(path)) {
		memcpy(path, uri, (size_t)uri_len);
		path[uri_len] = '\0';
		for (i = 0; i < h->n_routes && !slot; i++)
			if (strcmp(h->routes[i].path, path) == 0)
				slot = h->routes[i].slot;
	}
	stats_count(h, slot, 400);
	bw_log_debug(HTTPD_MODULE, "refusing an upgrade to %s", protocol ? protocol : "?");
	if (lws_return_http_status(wsi, 400, "this server speaks HTTP/1.1 only"))
		return -1;
	return 1;
}

/* ---- connections ------------------------------------------------------ */

/* The peer of a socket as 16 bytes, IPv4 mapped into IPv6. 0 or -1. */
static int peer_address(int fd, unsigned char out[16])
{
	struct sockaddr_storage ss;
	socklen_t n = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &n) != 0)
		return -1;
	if (ss.ss_family == AF_INET6) {
		memcpy(out, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
		return 0;
	}
	if (ss.ss_family != AF_INET)
		return -1;
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	return 0;
}

static struct httpd_peer *peer_find(struct bw_httpd *h, const unsigned char addr[16])
{
	int i;

	for (i = 0; i < h->n_peers; i++)
		if (memcmp(h->peers[i].addr, addr, 16) == 0)
			return &h->peers[i];
	return NULL;
}

static void peer_count(struct bw_httpd *h, const unsigned char addr[16], int delta)
{
	struct httpd_peer *p = peer_find(h, addr);

	if (!p) {
		if (delta < 0 || h->n_peers >= h->max_connections)
			return;
		p = &h->peers[h->n_peers++];
		memcpy(p->addr, addr, 16);
		p->count = 0;
	}
	p->count += delta;
	if (p->count <= 0)
		*p = h->peers[--h->n_peers]; /* the last one takes its place */
}

static void peer_text(const unsigned char addr[16], char *out, size_t size)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (memcmp(addr, mapped, 12) == 0)
		inet_ntop(AF_INET, addr + 12, out, (socklen_t)size);
	else
		inet_ntop(AF_INET6, addr, out, (socklen_t)size);
}

/* Service thread, from lws's timer: the request deadline or the idle
 * timeout passed. Closes the connection (and so frees the link). */
static void link_expired(lws_sorted_usec_list_t *sul)
{
	struct httpd_link *l = lws_container_of(sul, struct httpd_link, sul);
	char peer[INET6_ADDRSTRLEN];

	if (!l->idle) {
		peer_text(l->addr, peer, sizeof(peer));
		bw_log_debug(HTTPD_MODULE,
			     "closing a connection from %s: its request took longer than %d ms",
			     peer, l->h->request_timeout_ms);
		stats_add(l->h, &l->h->stats.requests_timed_out);
	}
	/* closed here and now, as lws's own timeouts close theirs: an
	 * asynchronous kill would be a timeout that lws resets whenever a byte
	 * arrives (and the link is freed on the way: not touched after) */
	lws_set_timeout(l->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
}

static void link_schedule(struct bw_httpd *h, struct httpd_link *l, int idle)
{
	l->idle = idle;
	lws_sul_schedule(h->context, 0, &l->sul, link_expired,
			 idle ? (lws_usec_t)h->keepalive_s * LWS_US_PER_SEC
			      : (lws_usec_t)h->request_timeout_ms * 1000);
}

/* The link of wsi, or NULL. lws overwrites a connection's opaque user data
 * right after LWS_CALLBACK_WSI_CREATE (adopt.c sets it to the adopter's),
 * so the first look-up finds the link in the list and stores it there. */
static struct httpd_link *link_of(struct bw_httpd *h, struct lws *wsi)
{
	struct httpd_link *l = lws_get_opaque_user_data(wsi);

	if (l)
		return l;
	for (l = h->links; l && l->wsi != wsi; l = l->next)
		;
	if (l)
		lws_set_opaque_user_data(wsi, l);
	return l;
}

/* A transaction ended: the connection waits for the next request. Called
 * for ours from on_writeable(), and for any from HTTP_DROP_PROTOCOL (twice
 * for ours: harmless). */
static void link_idle(struct bw_httpd *h, struct lws *wsi)
{
	struct httpd_link *l = link_of(h, wsi);

	if (!l)
		return;
	l->transactions++;
	l->done_pass = h->passes;
	link_schedule(h, l, 1);
}

/* A request's headers are in. The first request of a connection is timed
 * from the accept (TLS handshake and headers included); a later one from
 * here, its headers bounded by lws's own header timeout (the same length,
 * see httpd_open()) and by the idle timeout before them.
 *
 * Returns -1 for a pipelined request (sent before the answer to the one
 * before it), which closes the connection: lws 4.1 mishandles them (an
 * endless loop, and a body handed over from a buffer it has freed, both
 * found by fuzz_httpd; fixed upstream after 4.1). How it is told: after an
 * answer lws holds the connection one service pass (LRS_DEFERRING_ACTION,
 * in which it reads nothing) until it is writable again, then serves what
 * it buffered already in that same pass; a request a client sends after
 * reading the answer is read two passes after it at the earliest. No
 * ordinary client pipelines (the API server's, curl, browsers). */
static int link_request(struct bw_httpd *h, struct lws *wsi)
{
	struct httpd_link *l = link_of(h, wsi);

	if (!l || l->transactions == 0)
		return 0;
	if (h->passes - l->done_pass <= 1) {
		bw_log_debug(HTTPD_MODULE, "closing a connection with a pipelined request");
		stats_add(h, &h->stats.requests_pipelined);
		return -1;
	}
	link_schedule(h, l, 0);
	return 0;
}

static void link_new(struct bw_httpd *h, struct lws *wsi)
{
	struct httpd_link *l;

	if (!h->pending)
		return; /* not an accepted connection (the listener, lws's pipe) */
	h->pending = 0;
	l = calloc(1, sizeof(*l));
	if (!l) {
		/* counted by nothing, timed by lws alone: better than no service */
		bw_log_error(HTTPD_MODULE, "out of memory for a connection's bookkeeping");
		return;
	}
	l->h = h;
	l->wsi = wsi;
	memcpy(l->addr, h->pending_addr, 16);
	peer_count(h, l->addr, 1);
	l->next = h->links;
	if (h->links)
		h->links->prev = l;
	h->links = l;
	link_schedule(h, l, 0);
}

static void link_free(struct bw_httpd *h, struct lws *wsi)
{
	struct httpd_link *l = link_of(h, wsi);

	if (!l)
		return;
	lws_set_opaque_user_data(wsi, NULL);
	lws_sul_cancel(&l->sul);
	peer_count(h, l->addr, -1);
	if (l->prev)
		l->prev->next = l->next;
	else
		h->links = l->next;
	if (l->next)
		l->next->prev = l->prev;
	free(l);
}

static int on_accept(struct bw_httpd *h, int fd)
{
	int full = h->open_connections >= h->max_connections;
	struct httpd_peer *p;
	char peer[INET6_ADDRSTRLEN];

	h->pending = 0;
	if (!full && peer_address(fd, h->pending_addr) == 0) {
		p = peer_find(h, h->pending_addr);
		if (p && p->count >= h->max_per_peer) {
			stats_add(h, &h->stats.connections_refused_peer);
			peer_text(h->pending_addr, peer, sizeof(peer));
			bw_log_debug(HTTPD_MODULE,
				     "refusing a connection from %s: it has %d open, the limit per "
				     "peer",
				     peer, p->count);
			return 1;
		}
		h->pending = 1;
	}

	if (full) {
		pthread_mutex_lock(&h->lock);
		h->stats.connections_refused++;
		pthread_mutex_unlock(&h->lock);
		if (!h->refusing)
			bw_log_warn(HTTPD_MODULE,
				    "%d connections open, the limit: refusing new ones until "
				    "some close",
				    h->max_connections);
		h->refusing = 1;
	}
	return full;
}

static void count_connection(struct bw_httpd *h, int delta)
{
	h->open_connections += delta;
	if (h->open_connections < h->max_connections)
		h->refusing = 0;
	pthread_mutex_lock(&h->lock);
	if (delta > 0)
		h->stats.connections++;
	h->stats.connections_open = h->open_connections > 0 ? (unsigned)h->open_connections : 0;
	pthread_mutex_unlock(&h->lock);
}

static int httpd_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
			  size_t len)
{
	struct bw_httpd *h = lws_context_user(lws_get_context(wsi));
	struct httpd_conn *c = user;

	switch (reason) {
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
		return httpd_tls_setup(h, user);
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		return on_accept(h, (int)(lws_intptr_t)in);
	case LWS_CALLBACK_WSI_CREATE:
		count_connection(h, 1);
		link_new(h, wsi);
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		link_free(h, wsi);
		count_connection(h, -1);
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		httpd_collect_jobs(h);
		return 0;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return on_upgrade(h, wsi, in);
	case LWS_CALLBACK_RAW_ADOPT:
		return -1; /* lws makes CONNECT requests raw sockets: close them */
	case LWS_CALLBACK_HTTP:
		if (link_request(h, wsi) < 0)
			return -1;
		return c ? on_request(h, wsi, c, in, len) : -1;
	case LWS_CALLBACK_HTTP_BODY:
		return c ? on_body(c, in, len) : -1;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return c ? on_body_done(h, wsi, c) : -1;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return c ? on_writeable(h, wsi, c) : 0;
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		/* lws also ends transactions it answered itself (a 403 to an
		 * unknown upgrade, ...); it names the caller as the reason (and
		 * drops the protocol at a request's start too, for other reasons) */
		if (in && strcmp(in, "lws_http_transaction_completed") == 0)
			link_idle(h, wsi);
		conn_release(h, c);
		return 0;
	case LWS_CALLBACK_CLOSED_HTTP:
		conn_release(h, c);
		return 0;
	default:
		return 0;
	}
}

/* ---- the service thread ----------------------------------------------- */

/* Makes the context and the vhost. Service thread. */
static int httpd_open(struct bw_httpd *h, struct bw_error *err)
{
	struct lws_context_creation_info info;
	struct in6_addr a6;
	struct in_addr a4;
	uint64_t tls = h->use_tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
					LWS_SERVER_OPTION_CREATE_VHOST_SSL_CTX |
					LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS
				  : 0;
	int rc = 0;

	if (!h->peers) {
		h->peers = calloc((size_t)h->max_connections, sizeof(*h->peers));
		if (!h->peers)
			return bw_error_set(err, BW_ENOMEM, "httpd: out of memory");
	}
	memset(&info, 0, sizeof(info));
	info.options =
	    LWS_SERVER_OPTION_EXPLICIT_VHOSTS | (tls & LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.gid = -1;
	info.uid = -1;
	info.user = h;
	info.server_string = "breakwater";
	info.max_http_header_data = HTTPD_HEADER_MAX;
	info.pt_serv_buf_size = HTTPD_WRITE_MAX;
	/* lws sizes its fd tables by this (default: the process's fd limit,
	 * which can be a million in a container); fds of a higher number
	 * still work, found by a slower search */
	info.fd_limit_per_thread = (unsigned)h->max_connections + 16;

	pthread_mutex_lock(&httpd_global_lock);
	h->context = lws_create_context(&info);
	if (!h->context) {
		rc = bw_error_set(err, BW_ENOMEM, "httpd: cannot create the libwebsockets context");
		goto out;
	}

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND | tls;
	info.port = h->port_option;
	info.protocols = httpd_protocols;
	info.vhost_name = "breakwater";
	info.keepalive_timeout = h->keepalive_s;
	/* lws's own limit on receiving a request's headers, from their first
	 * byte: the request deadline, rounded up to whole seconds */
	info.timeout_secs_ah_idle = (unsigned)(h->request_timeout_ms + 999) / 1000;
	info.alpn = "http/1.1";
	info.user = h;
	if (strcmp(h->bind_address, "0.0.0.0") == 0) {
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	} else if (strcmp(h->bind_address, "::") == 0) {
		info.iface = NULL;
	} else {
		info.iface = h->bind_address;
		if (inet_pton(AF_INET, h->bind_address, &a4) == 1)
			info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
		else if (inet_pton(AF_INET6, h->bind_address, &a6) != 1)
			info.iface = NULL; /* checked by bw_httpd_new() */
	}
	h->vhost = lws_create_vhost(h->context, &info);
	if (!h->vhost) {
		rc = bw_error_set(err, BW_EIO, "httpd: cannot listen on %s port %d",
				  h->bind_address, h->port_option);
		lws_context_destroy(h->context);
		h->context = NULL;
		goto out;
	}
out:
	pthread_mutex_unlock(&httpd_global_lock);
	return rc;
}

static void *httpd_thread(void *arg)
{
	struct bw_httpd *h = arg;
	struct bw_error e;
	int rc;

	bw_thread_name("httpd", NULL);
	bw_error_clear(&e);
	rc = httpd_open(h, &e);
	pthread_mutex_lock(&h->lock);
	if (rc < 0) {
		h->start_state = rc;
		h->start_err = e;
	} else {
		h->start_state = 1;
		h->port = lws_get_vhost_listen_port(h->vhost);
		h->live_context = h->context;
	}
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	if (rc < 0)
		return NULL;
	if (httpd_workers_start(h) < 0)
		bw_log_error(HTTPD_MODULE, "could start only %d of %d worker threads%s",
			     h->n_worker_threads, h->workers,
			     h->n_worker_threads ? "" : ": handlers run on the service thread");

	while (!atomic_load(&h->stop_flag)) {
		h->passes++;
		if (lws_service(h->context, 0) < 0) {
			bw_log_error(HTTPD_MODULE,
				     "the libwebsockets service loop failed; the "
				     "server on port %d stops",
				     h->port);
			break;
		}
	}

	pthread_mutex_lock(&h->lock);
	h->live_context = NULL;
	h->port = 0;
	pthread_mutex_unlock(&h->lock);
	pthread_mutex_lock(&httpd_global_lock);
	lws_context_destroy(h->context);
	pthread_mutex_unlock(&httpd_global_lock);
	httpd_workers_stop(h); /* every connection is gone: their jobs are orphans */
	/* lws tells nothing of the connections it drops with the context */
	while (h->links) {
		struct httpd_link *l = h->links;

		h->links = l->next;
		free(l);
	}
	h->context = NULL;
	h->vhost = NULL;
	h->open_connections = 0;
	h->n_peers = 0;
	h->pending = 0;
	h->buffered = 0;
	pthread_mutex_lock(&h->lock);
	h->stats.bytes_buffered = 0;
	pthread_mutex_unlock(&h->lock);
	pthread_mutex_lock(&h->lock);
	h->stats.connections_open = 0;
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int bw_httpd_start(struct bw_httpd *httpd, struct bw_error *err)
{
	sigset_t blocked, old;
	int rc = 0, e;

	pthread_mutex_lock(&httpd->lock);
	if (httpd->running) {
		pthread_mutex_unlock(&httpd->lock);
		return bw_error_set(err, BW_EINVAL, "httpd: already running");
	}
	httpd->running = 1;
	httpd->start_state = 0;
	bw_error_clear(&httpd->start_err);
	atomic_store(&httpd->stop_flag, 0);
	pthread_mutex_unlock(&httpd->lock);

	/* the service thread takes no asynchronous signals */
	sigfillset(&blocked);
	sigdelset(&blocked, SIGSEGV);
	sigdelset(&blocked, SIGBUS);
	sigdelset(&blocked, SIGFPE);
	sigdelset(&blocked, SIGILL);
	pthread_sigmask(SIG_SETMASK, &blocked, &old);
	e = pthread_create(&httpd->thread, NULL, httpd_thread, httpd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	pthread_mutex_lock(&httpd->lock);
	if (e) {
		httpd->running = 0;
		rc = bw_error_set(err, BW_ENOMEM, "httpd: cannot start a thread (error %d)", e);
		goto out;
	}
	while (httpd->start_state == 0)
		pthread_cond_wait(&httpd->cond, &httpd->lock);
	if (httpd->start_state < 0) {
		rc = httpd->start_state;
		if (err)
			*err = httpd->start_err;
		pthread_mutex_unlock(&httpd->lock);
		pthread_join(httpd->thread, NULL);
		pthread_mutex_lock(&httpd->lock);
		httpd->running = 0;
		goto out;
	}
	httpd->started = 1;
out:
	pthread_mutex_unlock(&httpd->lock);
	return rc;
}

void bw_httpd_stop(struct bw_httpd *httpd)
{
	pthread_mutex_lock(&httpd->lock);
	if (!httpd->running) {
		pthread_mutex_unlock(&httpd->lock);
		return;
	}
	if (pthread_equal(pthread_self(), httpd->thread) || httpd_worker_of == httpd) {
		/* from a handler: ask the loop to end; a later stop joins */
		atomic_store(&httpd->stop_flag, 1);
		if (httpd->live_context)
			lws_cancel_service(httpd->live_context);
		pthread_mutex_unlock(&httpd->lock);
		return;
	}
	if (httpd->stopping) {
		/* another thread joins: wait for it */
		while (httpd->running)
			pthread_cond_wait(&httpd->cond, &httpd->lock);
		pthread_mutex_unlock(&httpd->lock);
		return;
	}
	httpd->stopping = 1;
	atomic_store(&httpd->stop_flag, 1);
	if (httpd->live_context)
		lws_cancel_service(httpd->live_context);
	pthread_mutex_unlock(&httpd->lock);

	pthread_join(httpd->thread, NULL);

	pthread_mutex_lock(&httpd->lock);
	httpd->running = 0;
	httpd->stopping = 0;
	pthread_cond_broadcast(&httpd->cond);
	pthread_mutex_unlock(&httpd->lock);
}

int bw_httpd_port(struct bw_httpd *httpd)
{
	int port;

	pthread_mutex_lock(&httpd->lock);
	port = httpd->port;
	pthread_mutex_unlock(&httpd->lock);
	return port;
}

/* ---- set-up ----------------------------------------------------------- */

int bw_httpd_set_tls(struct bw_httpd *httpd, const char *cert_pem, const char *key_pem,
		     struct bw_error *err)
{
	struct httpd_creds *creds = NULL, *old;
	int rc;

	if (!httpd->use_tls)
		return bw_error_set(err, BW_EINVAL, "httpd: the server was made without TLS");
	if (!cert_pem || !key_pem)
		return bw_error_set(err, BW_EINVAL, "httpd: a certificate and a key are needed");
	rc = creds_parse(cert_pem, key_pem, &creds, err);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&httpd->lock);
	old = httpd->creds;
	httpd->creds = creds;
	httpd->stats.tls_reloads++;
	pthread_mutex_unlock(&httpd->lock);
	creds_free(old);
	bw_log_info(HTTPD_MODULE, "TLS certificate replaced; new connections use it");
	return 0;
}

static int method_index(const char *method)
{
	static const int allowed[] = {LWSHUMETH_GET, LWSHUMETH_POST, LWSHUMETH_PUT, LWSHUMETH_PATCH,
				      LWSHUMETH_DELETE};
	size_t i;

	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (strcmp(method, httpd_method_names[allowed[i]]) == 0)
			return allowed[i];
	return -1;
}

int bw_httpd_add_route(struct bw_httpd *httpd, const char *method, const char *path,
		       bw_httpd_handler_fn *handler, void *ctx, struct bw_error *err)
{
	return bw_httpd_add_route_inline(httpd, method, path, handler, ctx, -1, err);
}

int bw_httpd_add_route_inline(struct bw_httpd *httpd, const char *method, const char *path,
			      bw_httpd_handler_fn *handler, void *ctx, long long inline_max,
			      struct bw_error *err)
{
	struct httpd_route *r;
	size_t i, slot = 0, n;
	char *allow;
	int m = method ? method_index(method) : -1;
	int rc = 0;

	pthread_mutex_lock(&httpd->lock);
	if (httpd->started || httpd->running) {
		rc = bw_error_set(err, BW_EINVAL, "httpd: routes are added before the first start");
		goto out;
	}
	if (m < 0 || !handler || !path || path[0] != '/' || strlen(path) >= BW_HTTPD_PATH_MAX) {
		rc = bw_error_set(err, BW_EINVAL, "httpd: bad route %s %s",
				  method ? method : "(null)", path ? path : "(null)");
		goto out;
	}
	if (httpd->n_routes == BW_HTTPD_MAX_ROUTES) {
		rc = bw_error_set(err, BW_ETOOBIG, "httpd: more than %d routes",
				  BW_HTTPD_MAX_ROUTES);
		goto out;
	}
	for (i = 0; i < httpd->n_routes; i++) {
		if (strcmp(httpd->routes[i].path, path) != 0)
			continue;
		if (httpd->routes[i].method == m) {
			rc = bw_error_set(err, BW_EINVAL, "httpd: %s %s is routed already", method,
					  path);
			goto out;
		}
		slot = httpd->routes[i].slot;
	}
	if (!slot) {
		/* a new path: its stats slot (0 is for paths with no route) */
		slot = httpd->stats.n_paths++;
		memcpy(httpd->stats.paths[slot].path, path, strlen(path) + 1);
	}
	r = &httpd->routes[httpd->n_routes++];
	r->method = m;
	memcpy(r->path, path, strlen(path) + 1);
	r->slot = slot;
	r->handler = handler;
	r->ctx = ctx;
	r->inline_ok = inline_max >= 0;
	r->inline_max = inline_max >= 0 ? (size_t)inline_max : 0;
	allow = httpd->allow[slot];
	n = strlen(allow);
	snprintf(allow + n, HTTPD_ALLOW_MAX - n, "%s%s", n ? ", " : "", method);
out:
	pthread_mutex_unlock(&httpd->lock);
	return rc;
}

int bw_httpd_new(struct bw_httpd **out, const struct bw_httpd_options *opts, struct bw_error *err)
{
	static const struct bw_httpd_options defaults;
	struct bw_httpd *h = NULL;
	struct in6_addr a6;
	struct in_addr a4;
	char *cert = NULL, *key = NULL;
	const char *addr;
	int have_lock = 0, have_cond = 0, have_pool_lock = 0, rc = 0, e;

	pthread_once(&httpd_log_once, httpd_log_setup);
	if (!opts)
		opts = &defaults;
	addr = opts->bind_address ? opts->bind_address : "127.0.0.1";
	if (inet_pton(AF_INET, addr, &a4) != 1 && inet_pton(AF_INET6, addr, &a6) != 1) {
		rc = bw_error_set(err, BW_EINVAL, "httpd: bind address %s is not an IP address",
				  addr);
		goto out;
	}
	if (opts->port < 0 || opts->port > 65535 || opts->max_connections < 0 ||
	    opts->keepalive_timeout_s < 0 || opts->max_connections_per_peer < 0 ||
	    opts->request_timeout_ms < 0 || opts->workers < 0 ||
	    opts->workers > BW_HTTPD_MAX_WORKERS) {
		rc = bw_error_set(err, BW_EINVAL,
				  "httpd: bad options (port %d, max_connections %d, "
				  "max_connections_per_peer %d, keepalive %d s, request timeout %d "
				  "ms, workers %d of at most %d)",
				  opts->port, opts->max_connections, opts->max_connections_per_peer,
				  opts->keepalive_timeout_s, opts->request_timeout_ms,
				  opts->workers, BW_HTTPD_MAX_WORKERS);
		goto out;
	}
	if (!opts->tls_cert_pem != !opts->tls_key_pem ||
	    !opts->tls_cert_file != !opts->tls_key_file ||
	    (opts->tls_cert_pem && opts->tls_cert_file)) {
		rc = bw_error_set(err, BW_EINVAL,
				  "httpd: TLS needs a certificate and a key, both as PEM text or "
				  "both as files");
		goto out;
	}

	h = calloc(1, sizeof(*h));
	if (!h || !(h->bind_address = strdup(addr))) {
		rc = bw_error_set(err, BW_ENOMEM, "httpd: out of memory");
		goto out;
	}
	h->port_option = opts->port;
	h->max_body = opts->max_body ? opts->max_body : BW_HTTPD_DEFAULT_MAX_BODY;
	h->max_buffered = opts->max_buffered ? opts->max_buffered
					     : (h->max_body > BW_HTTPD_DEFAULT_MAX_BUFFERED / 2
						    ? 2 * h->max_body
						    : BW_HTTPD_DEFAULT_MAX_BUFFERED);
	h->max_connections =
	    opts->max_connections ? opts->max_connections : BW_HTTPD_DEFAULT_MAX_CONNECTIONS;
	h->max_per_peer = opts->max_connections_per_peer ? opts->max_connections_per_peer
							 : BW_HTTPD_DEFAULT_MAX_PER_PEER;
	h->keepalive_s =
	    opts->keepalive_timeout_s ? opts->keepalive_timeout_s : BW_HTTPD_DEFAULT_KEEPALIVE_S;
	h->request_timeout_ms = opts->request_timeout_ms ? opts->request_timeout_ms
							 : BW_HTTPD_DEFAULT_REQUEST_TIMEOUT_MS;
	h->workers = opts->workers;
	if (h->max_buffered / 2 < h->max_body) {
		rc = bw_error_set(err, BW_EINVAL,
				  "httpd: max_buffered (%zu bytes) must hold two bodies of "
				  "max_body (%zu bytes)",
				  h->max_buffered, h->max_body);
		goto out;
	}
	h->stats.n_paths = 1; /* paths[0]: requests for paths with no route */
	atomic_init(&h->stop_flag, 0);

	if (opts->tls_cert_file) {
		if ((rc = read_pem_file(opts->tls_cert_file, &cert, err)) < 0 ||
		    (rc = read_pem_file(opts->tls_key_file, &key, err)) < 0)
			goto out;
	}
	if (opts->tls_cert_pem || opts->tls_cert_file) {
		h->use_tls = 1;
		rc = creds_parse(cert ? cert : opts->tls_cert_pem, key ? key : opts->tls_key_pem,
				 &h->creds, err);
		if (rc < 0)
			goto out;
	}

	if ((e = pthread_mutex_init(&h->lock, NULL)) != 0)
		goto pthread_failed;
	have_lock = 1;
	if ((e = pthread_cond_init(&h->cond, NULL)) != 0)
		goto pthread_failed;
	have_cond = 1;
	if ((e = pthread_mutex_init(&h->pool_lock, NULL)) != 0)
		goto pthread_failed;
	have_pool_lock = 1;
	if ((e = pthread_cond_init(&h->pool_cond, NULL)) != 0)
		goto pthread_failed;
	*out = h;
	h = NULL;
	goto out;

pthread_failed:
	rc = bw_error_set(err, BW_ENOMEM, "httpd: cannot set up its lock (error %d)", e);
out:
	if (key) {
		OPENSSL_cleanse(key, strlen(key));
		free(key);
	}
	free(cert);
	if (h) {
		if (have_pool_lock)
			pthread_mutex_destroy(&h->pool_lock);
		if (have_cond)
			pthread_cond_destroy(&h->cond);
		if (have_lock)
			pthread_mutex_destroy(&h->lock);
		creds_free(h->creds);
		free(h->bind_address);
		free(h);
	}
	return rc;
}

void bw_httpd_free(struct bw_httpd *httpd)
{
	if (!httpd)
		return;
	bw_httpd_stop(httpd);
	pthread_cond_destroy(&httpd->pool_cond);
	pthread_mutex_destroy(&httpd->pool_lock);
	pthread_cond_destroy(&httpd->cond);
	pthread_mutex_destroy(&httpd->lock);
	free(httpd->peers);
	creds_free(httpd->creds);
	free(httpd->bind_address);
	free(httpd);
}
