/*
 * A small HTTP/1.1 server on libwebsockets, with optional TLS: the operator's
 * /healthz, /readyz and /metrics endpoints, and the webhook's HTTPS endpoints.
 *
 *   static int healthz(const struct bw_http_request *req, struct bw_http_response *resp,
 *                      void *ctx)
 *   {
 *           return bw_httpd_response_set_body(resp, "text/plain", "ok\n", 3);
 *   }
 *
 *   struct bw_httpd_options o = {.port = 8081};
 *   struct bw_httpd *h;
 *   if (bw_httpd_new(&h, &o, &err) < 0 ||
 *       bw_httpd_add_route(h, "GET", "/healthz", healthz, NULL, &err) < 0 ||
 *       bw_httpd_start(h, &err) < 0)
 *           ...
 *   ...
 *   bw_httpd_stop(h);
 *   bw_httpd_free(h);
 *
 * Requests: routes match a method and an exact path (no prefixes, no
 * patterns). A path with no route gets 404; a path with routes for other
 * methods gets 405 with an Allow header (HEAD included: it gets the headers
 * only). A handler that returns a negative value gets its client a 500,
 * whatever it set in the response. HTTP/1.1 keep-alive is on. HTTP/2 is not
 * offered (ALPN advertises http/1.1 only), and a request asking to upgrade
 * to websocket or h2c gets 400 (lws cannot be told to ignore the header).
 *
 * Request bodies: a body needs a Content-Length (411 and close otherwise: lws
 * 4.1 reads no chunked request bodies). One longer than max_body gets 413 as
 * soon as its headers are in, without waiting for it, and the connection
 * closes after the answer; if the body is at most 16 MiB over the limit it
 * is read and dropped first, so that a client sending it without waiting for
 * "100 Continue" reads the 413 rather than a reset. A body is never buffered
 * past max_body, whatever the client claims or sends, and its buffer grows
 * as bytes arrive (from 16 KiB, doubling), never from the Content-Length
 * alone.
 *
 * Memory budget: the bodies of all connections together (those being
 * received and those a handler still holds) take at most max_buffered bytes.
 * A request's Content-Length is charged in full when its headers are in; one
 * that does not fit gets 503 with Retry-After: 1 at once (its body, if sent,
 * is read and dropped) and the connection closes. Bodies larger than
 * BW_HTTPD_SMALL_BODY may fill only three quarters of the budget, so that
 * small requests still find room while large ones wait.
 *
 * Slow clients: each request has a deadline, request_timeout_ms, for its
 * headers, body and answer together: the first request of a connection from
 * the accept (TLS handshake included), a later one from the moment its
 * headers are in (its headers themselves get the same time, rounded up to
 * whole seconds, from their first byte: lws's own header timeout). Past it
 * the connection is closed, whatever the client is still sending. An idle
 * keep-alive connection is closed after keepalive_timeout_s. A peer (a
 * source IP address) may hold max_connections_per_peer connections at once;
 * more are closed as soon as accepted, without touching the others.
 *
 * Pipelining: a request sent before the answer to the one before it on the
 * same connection closes the connection unanswered (libwebsockets 4.1
 * mishandles pipelined requests: an endless loop and a use after free), and
 * so do bytes after a request body in the same read. No ordinary HTTP client
 * pipelines.
 *
 * Workers: with workers > 0, handlers run on that many threads of the
 * server's own, so that a slow handler (a large JSON parse) delays neither
 * the service thread (accepting, TLS, reading other requests) nor the
 * requests on the other workers; the answer goes back to the service thread
 * through lws_cancel_service(). With 0 (the default) handlers run on the
 * service thread. A route added with bw_httpd_add_route_inline() runs on the
 * service thread all the same when its request body is small enough: for a
 * handler of tens of microseconds, the hand-off to a worker and back (two
 * thread wake-ups, a pipe write, a second poll pass) costs more than the
 * handler, and every request waits for it.
 *
 * TLS: a certificate (PEM, the leaf first, then any intermediates) and its
 * private key (PEM, any type OpenSSL reads), given as strings or as file
 * paths read once by bw_httpd_new(). TLS 1.2 is the minimum; TLS 1.3 is
 * offered. bw_httpd_set_tls() replaces them at any time: connections made
 * after it returns use the new ones, established connections keep theirs.
 * How: lws makes the vhost's SSL_CTX without a certificate and hands it to
 * us once (LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS, service
 * thread); we set the minimum version, load the certificate, and install a
 * certificate callback (SSL_CTX_set_cert_cb()). That callback runs on the
 * service thread in every full handshake and gives the connection the
 * certificate, chain and key current at that moment (clearing what it
 * inherited, so an old key of another type cannot linger).
 * bw_httpd_set_tls() parses and checks the new ones on the calling thread and
 * swaps them in under a mutex; no lws object is touched outside the service
 * thread, and nothing is written to disk. (lws_tls_cert_updated() was no
 * use: in lws 4.1 it reloads only vhosts made from files, from those files.)
 *
 * Ownership: bw_httpd_new() copies everything in the options (strings, PEMs;
 * files are read then). Handlers and their ctx are borrowed and must outlive
 * the server's last stop. In a handler, the request and everything it points
 * to are borrowed for the call; the response belongs to the server, and
 * bw_httpd_response_set_body() copies the body while
 * bw_httpd_response_take_body() takes over a malloc()ed one. Stats are
 * copied out into the caller's struct.
 *
 * Threading: bw_httpd_start() runs the libwebsockets context on a thread of
 * its own; only that thread touches lws objects. Handlers run on it, one at a
 * time, or, with workers, on the workers, as many at a time as there are
 * workers, and inline routes' small requests on the service thread beside
 * them (a handler must then be thread-safe). A handler must be quick (no
 * blocking I/O, no API calls, no long locks): the requests behind it wait;
 * hand slow work to another thread and answer from a cache. bw_httpd_stop(),
 * bw_httpd_set_tls(), bw_httpd_port() and bw_httpd_stats() may be called from
 * any thread at any time, handlers included; bw_httpd_stop() from a handler
 * only asks the loop to end, and a later call from another thread waits for
 * it. bw_httpd_add_route() only before the first start; bw_httpd_free() when
 * no other call runs, never from a handler. A stopped server may start again.
 *
 * Counting: a request is counted, under its route's path (or "" for a path
 * with no route) and its status, when its answer is decided, whether or not
 * the client stays to read it.
 *
 * libwebsockets logs through log.h (module "httpd"), its errors and warnings
 * only; that setting, like lws's, is process-wide. Creating and destroying
 * lws contexts is serialized process-wide (lws keeps global OpenSSL state).
 */
#ifndef BW_HTTPD_H
#define BW_HTTPD_H

#include <stddef.h>

#include "error.h"

/* Routes per server, and the longest route path, in bytes. */
#define BW_HTTPD_MAX_ROUTES 32
#define BW_HTTPD_PATH_MAX   128
/* Distinct status codes counted per path (others go to `other`). */
#define BW_HTTPD_STATUS_SLOTS 8

#define BW_HTTPD_DEFAULT_MAX_BODY	 (1024 * 1024)
#define BW_HTTPD_DEFAULT_MAX_BUFFERED	 (16 * 1024 * 1024)
#define BW_HTTPD_DEFAULT_MAX_CONNECTIONS 1024
/* A quarter of the connections: one source cannot take them all. */
#define BW_HTTPD_DEFAULT_MAX_PER_PEER 256
/* Idle keep-alive: closed well before the 90 s after which the API server's
 * HTTP client (Go's http.Transport IdleConnTimeout) drops idle connections,
 * so idle slots free up sooner than any client would give them back. */
#define BW_HTTPD_DEFAULT_KEEPALIVE_S	    30
#define BW_HTTPD_DEFAULT_REQUEST_TIMEOUT_MS 10000
#define BW_HTTPD_MAX_WORKERS		    64
/* Bodies up to this size always find room in the budget's last quarter. */
#define BW_HTTPD_SMALL_BODY (64 * 1024)

struct bw_httpd;

/* Settings for bw_httpd_new(); a zero field takes its default. */
struct bw_httpd_options {
	/* An IPv4 or IPv6 address literal. Default "127.0.0.1"; "0.0.0.0"
	 * listens on every IPv4 address, "::" on every address. */
	const char *bind_address;
	/* 0 picks a free port, again at each start: see bw_httpd_port(). */
	int port;
	/* TLS, when a certificate is given: either the PEM texts or the file
	 * paths of both (not a mix). Without them the server speaks plain HTTP. */
	const char *tls_cert_pem;
	const char *tls_key_pem;
	const char *tls_cert_file;
	const char *tls_key_file;
	/* The largest request body accepted. Default BW_HTTPD_DEFAULT_MAX_BODY. */
	size_t max_body;
	/* Request body bytes buffered at once, all connections together (see
	 * Memory budget); at least twice max_body. Default
	 * BW_HTTPD_DEFAULT_MAX_BUFFERED, or twice max_body when that is more. */
	size_t max_buffered;
	/* Open connections at most; more are closed as soon as accepted.
	 * Default BW_HTTPD_DEFAULT_MAX_CONNECTIONS. It also sizes lws's fd
	 * tables (which would otherwise follow the process's fd limit). */
	int max_connections;
	/* Open connections from one source address at most. Default
	 * BW_HTTPD_DEFAULT_MAX_PER_PEER. */
	int max_connections_per_peer;
	/* Seconds an idle keep-alive connection stays open. Default
	 * BW_HTTPD_DEFAULT_KEEPALIVE_S. */
	int keepalive_timeout_s;
	/* Milliseconds for a request's headers, body and answer (see Slow
	 * clients). Default BW_HTTPD_DEFAULT_REQUEST_TIMEOUT_MS. */
	int request_timeout_ms;
	/* Threads that run the handlers (see Workers); 0, the default, runs
	 * them on the service thread. At most BW_HTTPD_MAX_WORKERS. */
	int workers;
};

/* What a handler gets. Strings are NUL-terminated and never NULL. */
struct bw_http_request {
	const char *method;	  /* "GET", "POST", "PUT", "PATCH", "DELETE" */
	const char *path;	  /* %-decoded, without the query: "/healthz" */
	const char *query;	  /* "" when none; as libwebsockets parses it: each
				     argument %-decoded with '+' as a space, joined
				     with '&' (so an encoded '&' cannot be told apart) */
	const char *content_type; /* the Content-Type header, "" when none */
	const char *body;	  /* a copy of the body, NUL-terminated ("" when none) */
	size_t body_len;	  /* its length, without the NUL */
};

/* What a handler fills: status 200 and an empty body until it says more. */
struct bw_http_response;

/* A handler returns 0 to send what it put in resp, or a negative BW_E* code
 * to send a plain 500 (the code is logged). It runs on the service thread. */
typedef int bw_httpd_handler_fn(const struct bw_http_request *req, struct bw_http_response *resp,
				void *ctx);

/* Per-path request counts by response status. */
struct bw_httpd_status_count {
	int status; /* 0: unused slot */
	unsigned long long count;
};

struct bw_httpd_path_stats {
	char path[BW_HTTPD_PATH_MAX]; /* a route's path; "" for paths with no route */
	struct bw_httpd_status_count statuses[BW_HTTPD_STATUS_SLOTS];
	unsigned long long other; /* answers whose status found no free slot */
};

struct bw_httpd_stats {
	unsigned long long requests;		     /* counted (see Counting), all paths */
	unsigned long long connections;		     /* accepted */
	unsigned long long connections_refused;	     /* closed at once: over max_connections */
	unsigned long long connections_refused_peer; /* ... over max_connections_per_peer */
	unsigned long long connections_open;	     /* now */
	unsigned long long requests_busy;	     /* 503: over the body budget */
	unsigned long long requests_timed_out;	     /* closed at the request deadline */
	unsigned long long requests_pipelined;	     /* closed: pipelined (see Pipelining) */
	size_t bytes_buffered;		/* the body budget in use now (see Memory budget) */
	unsigned long long tls_reloads; /* successful bw_httpd_set_tls() calls */
	size_t n_paths;			/* entries used in paths[] */
	struct bw_httpd_path_stats paths[BW_HTTPD_MAX_ROUTES + 1];
};

/* Creates a stopped server in *out. Fails with BW_EINVAL for bad options
 * (an address that is not a literal, half a TLS pair, a negative number),
 * BW_EIO when a certificate file cannot be read, BW_EPARSE when the
 * certificate or key does not parse or they do not match, BW_ENOMEM. */
int bw_httpd_new(struct bw_httpd **out, const struct bw_httpd_options *opts, struct bw_error *err);

/* Stops the server if it runs, then frees it. NULL is a no-op. */
void bw_httpd_free(struct bw_httpd *httpd);

/* Routes method ("GET", "POST", "PUT", "PATCH" or "DELETE") on the exact
 * path (starting with '/', shorter than BW_HTTPD_PATH_MAX) to handler, called
 * with ctx. Before the first start only. BW_EINVAL for a bad method or path,
 * a route already there, or a server that has started; BW_ETOOBIG past
 * BW_HTTPD_MAX_ROUTES. */
int bw_httpd_add_route(struct bw_httpd *httpd, const char *method, const char *path,
		       bw_httpd_handler_fn *handler, void *ctx, struct bw_error *err);

/* Like bw_httpd_add_route(), for a quick handler: with workers, a request
 * whose body is at most inline_max bytes is handled on the service thread
 * itself, without the hand-off (see Workers); larger ones go to the workers.
 * The handler must then be quick at that size, as every other connection
 * waits for it. A negative inline_max is bw_httpd_add_route(). */
int bw_httpd_add_route_inline(struct bw_httpd *httpd, const char *method, const char *path,
			      bw_httpd_handler_fn *handler, void *ctx, long long inline_max,
			      struct bw_error *err);

/* Starts the service thread and returns once the server listens (or could
 * not: BW_EIO when the address cannot be bound, BW_EINVAL when it runs
 * already, BW_ENOMEM). */
int bw_httpd_start(struct bw_httpd *httpd, struct bw_error *err);

/* Stops the service thread and waits for it: open connections are closed,
 * requests in flight get no answer. No-op when not running. From a handler,
 * it only asks the service loop to end (see Threading). */
void bw_httpd_stop(struct bw_httpd *httpd);

/* The port the server listens on while it runs (the one picked when the
 * options said 0), else 0. */
int bw_httpd_port(struct bw_httpd *httpd);

/* Replaces the TLS certificate (PEM, leaf first, then intermediates) and key
 * (PEM) for connections made from now on; both are copied, and checked to
 * parse and match before anything changes. BW_EINVAL when the server was
 * made without TLS, BW_EPARSE when the PEMs are bad, BW_ENOMEM. The server
 * may be running or not. */
int bw_httpd_set_tls(struct bw_httpd *httpd, const char *cert_pem, const char *key_pem,
		     struct bw_error *err);

/* Copies the counters into *out (consistent with one another). */
void bw_httpd_stats(struct bw_httpd *httpd, struct bw_httpd_stats *out);

/* The count for path ("" for unrouted paths) and status in *stats; 0 when
 * none. */
unsigned long long bw_httpd_stats_count(const struct bw_httpd_stats *stats, const char *path,
					int status);

/* Pure: how many more body bytes a request of len bytes may be charged
 * while `buffered` of max_buffered are in use (see Memory budget); the body
 * fits when the result is at least len. */
size_t bw_httpd_budget_room(size_t max_buffered, size_t buffered, size_t len);

/* In a handler: the status to answer with (200 unless set; one outside
 * 200..599 becomes a 500). 204 and 304 answers carry no body. */
void bw_httpd_response_set_status(struct bw_http_response *resp, int status);

/* In a handler: the body, copied, and its content type (copied; NULL means
 * "text/plain; charset=utf-8"). Replaces an earlier body. 0 or BW_ENOMEM. */
int bw_httpd_response_set_body(struct bw_http_response *resp, const char *content_type,
			       const char *body, size_t len);

/* In a handler: like set_body, but takes over body, which must come from
 * malloc() (the server frees it with free(), even when this fails). */
int bw_httpd_response_take_body(struct bw_http_response *resp, const char *content_type, char *body,
				size_t len);

#endif
