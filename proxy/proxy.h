/*
 * `breakwater proxy`: for each dependency, a listener on 127.0.0.1 that
 * forwards HTTP/1.1 to the dependency's URL through the Breaker that
 * protects it (breaker.h). docs/breaker.md, "The sidecar", says what it does
 * and what it does not do yet; in short:
 *
 * - keeps client connections between requests (HTTP/1.1 keep-alive,
 *   pipelined requests served in turn) and keeps idle upstream connections
 *   in a pool per dependency (bounded, each for a bounded time; one the
 *   upstream closed is dropped; one that broke before any answer sends an
 *   idempotent request without a body again, once, on a new connection);
 * - passes request and response bodies through as they come, in both
 *   directions, in fixed buffers (a large upload or download takes bounded
 *   memory; chunked bodies pass as they are), following Content-Length and
 *   chunked framing (body.h) to know where each ends; HEAD, 204 and 304
 *   answers have none; 1xx answers pass before the final one; a 101 to an
 *   Upgrade request turns the connection into a tunnel;
 * - while the breaker refuses, answers 503 with Retry-After, a
 *   `breakwater-breaker: NAME; state=STATE` header and a short JSON body,
 *   and forwards nothing;
 * - counts as failures: connection refused, reset or closed before the
 *   response head, the connect timeout, the request timeout (no response
 *   head that long after the last request byte went out), a 5xx response;
 *   as ignored: the client gone (closed or reset) before the response head;
 *   the call's duration (for slow calls) runs from the breaker's decision
 *   to the response head; an answer pausing longer than the request timeout
 *   is cut;
 * - serves /metrics (Prometheus text), /healthz and /readyz (503 while
 *   stopping) on an admin listener when one is given;
 * - re-reads the breakers file every second (it follows the kubelet's
 *   ..data symlink swap) and applies changed policies
 *   (bw_breaker_set_policy(): the state of an unchanged policy is kept).
 *
 * One thread runs everything: a poll() loop over non-blocking sockets.
 * Ownership: bw_proxy_new() copies the options; the proxy owns its sockets
 * and breakers. Thread-safety: bw_proxy_run() on one thread;
 * bw_proxy_stop() from any thread or a signal handler; the rest before run
 * or after it returned.
 */
#ifndef BW_PROXY_PROXY_H
#define BW_PROXY_PROXY_H

#include <stddef.h>

#include "error.h"

#define BW_PROXY_MAX_DEPENDENCIES 64

struct bw_proxy_dependency {
	const char *name; /* the Service called, which is the Breaker's target */
	int port;	  /* the listener on 127.0.0.1; 0 picks a free one */
	const char *url;  /* http://HOST[:PORT][/] */
};

struct bw_proxy_options {
	const struct bw_proxy_dependency *deps;
	size_t ndeps;
	const char *breakers_file; /* NULL: no breaker, every call forwarded */
	int connect_timeout_ms;	   /* 0: 2000 */
	int request_timeout_ms;	   /* for the head after the last request byte, then
				    * for each pause in the answer; 0: 30000 */
	int max_connections;	   /* client connections at once; 0: 1024 */
	int drain_timeout_ms;	   /* after stop, for calls in flight; 0: 5000 */
	int idle_timeout_ms;	   /* a keep-alive client connection between requests; 0: 60000 */
	int upstream_pool;	   /* idle upstream connections kept per dependency; 0: 32 */
	int upstream_idle_timeout_ms; /* how long one is kept; 0: 2000 */
	const char *admin_address;    /* "IPV4:PORT" for /metrics, /healthz, /readyz; NULL: none */
};

struct bw_proxy;

/* Binds the listeners, reads the breakers file (a file that cannot be read
 * or parsed is an error here; later, on reload, it keeps the policies it
 * had). BW_EINVAL (options, a URL), BW_EIO (a port taken), BW_ENOMEM. */
int bw_proxy_new(const struct bw_proxy_options *o, struct bw_proxy **out, struct bw_error *err);

/* The port the i-th dependency listens on (after bw_proxy_new()). */
int bw_proxy_port(const struct bw_proxy *p, size_t i);

/* The admin listener's port, or -1 when there is none. */
int bw_proxy_admin_port(const struct bw_proxy *p);

/* Serves until bw_proxy_stop(), then stops accepting and waits up to the
 * drain timeout for calls in flight. Returns 0 or BW_EIO (poll failed). */
int bw_proxy_run(struct bw_proxy *p);

/* Asks bw_proxy_run() to return; async-signal-safe. */
void bw_proxy_stop(struct bw_proxy *p);

void bw_proxy_free(struct bw_proxy *p);

/* `breakwater proxy ARGS`: argv[0] is "proxy". Returns the exit code. */
int bw_proxy_main(int argc, char **argv);

#endif
