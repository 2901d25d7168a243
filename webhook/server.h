/*
 * The admission webhook's HTTPS server: /mutate-pods, /validate-services,
 * /validate-breakers and /healthz, on lib/httpd (libwebsockets), TLS 1.2 or
 * newer. Every decision reads the operator's caches: no API call is made on
 * the admission path.
 *
 * Ownership: the caches and the metrics registry are borrowed and must
 * outlive the server; certificate strings are copied.
 * Thread-safety: handlers run on BW_WEBHOOK_WORKERS threads of the server's
 * own, small mutations on its service thread (they read the caches, which
 * are thread-safe); set_cert may be
 * called from any thread (new connections get the new certificate, open
 * ones keep theirs, no request is dropped).
 */
#ifndef BW_WEBHOOK_SERVER_H
#define BW_WEBHOOK_SERVER_H

#include <stddef.h>

#include "admission.h"
#include "error.h"
#include "metrics.h"
#include "store.h"

/* Request bodies are capped at BW_ADMISSION_MAX_BYTES (admission.h), the
 * parser's own cap; bodies buffered at once, all connections together, at
 * BW_WEBHOOK_MAX_BUFFERED (a fourth of it kept for bodies up to 64 KiB, so
 * ordinary reviews find room while large ones wait: see lib/httpd.h). */
#define BW_WEBHOOK_MAX_BUFFERED (4 * BW_ADMISSION_MAX_BYTES)
/* Threads deciding admissions: a large review parses on one while the
 * other answers, and the service thread keeps accepting and reading. */
#define BW_WEBHOOK_WORKERS 2
/* Pod mutations (and /healthz) of bodies up to this size are decided on the
 * server's own thread instead (lib/httpd.h, bw_httpd_add_route_inline()): a
 * mutation costs tens of microseconds, less than handing it to a worker and
 * back, which costs two thread wake-ups. 16 KiB holds a large Pod with its
 * managedFields; its parse takes well under a millisecond. Validations stay
 * on the workers whatever their size: the cross-namespace route check reads
 * every cached Service that may hold the route. */
#define BW_WEBHOOK_INLINE_MAX (16 * 1024)

struct bw_webhook_options {
	const char *bind_address;	/* default 127.0.0.1 */
	int port;			/* default 9443; 0: any free port */
	const char *cert_pem, *key_pem; /* the serving certificate (required) */
	/* 0 takes lib/httpd's default (httpd.h): 10 s for a request's
	 * headers, body and answer; 256 connections per source address; idle
	 * keep-alive closed after 30 s */
	int request_timeout_ms;
	int max_connections_per_peer;
	int idle_timeout_s;
	/* 1: no review memo (review_memo.h), every pod review is decided; for
	 * benchmarks of the decision itself */
	int no_review_memo;
};

/* The caches decisions read: stores filled with model/cached.h's
 * projections (bw_project_service, bw_project_breaker, bw_project_namespace). */
struct bw_webhook_caches {
	struct bw_store *services, *breakers, *namespaces;
	/* Not a cache but read with them: the breaker sidecar's image (the
	 * operator's --proxy-image, borrowed for the server's life); NULL: no
	 * sidecar is ever injected (mutate.h). */
	const char *proxy_image;
};

struct bw_webhook;

int bw_webhook_new(struct bw_webhook **out, const struct bw_webhook_options *opts,
		   const struct bw_webhook_caches *caches, struct bw_metrics *metrics,
		   struct bw_error *err);
int bw_webhook_start(struct bw_webhook *wh, struct bw_error *err);
int bw_webhook_port(struct bw_webhook *wh);
int bw_webhook_set_cert(struct bw_webhook *wh, const char *cert_pem, const char *key_pem,
			struct bw_error *err);
/* The injection generation a pod of Service `service` in ns gets now (the
 * breakwater.io/injected value), into out: 0, or BW_ENOTFOUND when the
 * Service is not cached. Reads the caches only; any thread. */
int bw_webhook_injection_generation(const struct bw_webhook_caches *caches, const char *ns,
				    const char *service, char *out, size_t size);

/* Stops and frees; NULL is a no-op. */
void bw_webhook_free(struct bw_webhook *wh);

#endif
