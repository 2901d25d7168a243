#define _GNU_SOURCE /* POLLRDHUP, accept4 */
/*
 * The forwarding proxy (proxy.h): a poll() loop over non-blocking sockets.
 * Written by hand because none of the dependencies proxies a stream:
 * libwebsockets 4.1 as built by Debian has no HTTP proxy role
 * (LWS_WITH_HTTP_PROXY is off), reads no chunked request bodies and
 * mishandles pipelining (lib/httpd.h); libcurl is a client only.
 *
 * A client connection goes HEAD (reading a request head) -> CONNECTING (a
 * new upstream connection; skipped when the pool has one) -> FORWARD (the
 * request body up, the response head read, rewritten and judged, its body
 * down; body.h says where each body ends) -> HEAD again (keep-alive, the
 * upstream connection back to the dependency's pool) or LINGER (closing).
 * A 101 answer to an Upgrade request turns FORWARD into TUNNEL (bytes both
 * ways until both sides closed). Our own answers go LOCAL (503 while the
 * breaker refuses, 4xx for a bad request, 502/504 when the upstream failed
 * before answering) -> HEAD (a refusal of a request without a body keeps
 * the connection) or LINGER (the rest of the request read and dropped, so
 * the client reads the answer rather than a reset) -> closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "body.h"
#include "breaker.h"
#include "dnsname.h"
#include "file.h"
#include "http.h"
#include "log.h"
#include "policy.h"
#include "proxy.h"

#define BUF_SIZE (2 * BW_PROXY_HEAD_MAX + 1024)
/* A response head is read into u2c at RHEAD_OFF and rewritten to its start. */
#define RHEAD_OFF (BW_PROXY_HEAD_MAX + 1024)
#define LINGER_MS 1000
#define TICK_MS	  1000
#define LOG	  "proxy"

/* The duration histogram's upper bounds, in seconds. */
static const double hist_le[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

struct dep {
	char name[64];
	char host[256];
	char port[8];
	char host_header[272];
	int lfd, bound_port;
	struct addrinfo *addr; /* resolved once, on first use */
	int has_breaker;
	unsigned instance; /* bumped each time a breaker starts: permits of an
			    * earlier one (removed, then added again) count for nothing */
	struct bw_breaker breaker;
	/* idle upstream connections, the most recently used last */
	int *pool;
	int64_t *pool_since;
	size_t npool;
	/* for /metrics: calls by outcome (enum bw_breaker_outcome), refusals,
	 * MetricsOnly's would-be refusals, and the time to the response head */
	uint64_t outcomes[3], refused, would_refuse;
	uint64_t hist[sizeof(hist_le) / sizeof(hist_le[0]) + 1];
	uint64_t hist_count;
	double hist_sum;
	/* upstream connections opened, taken from the pool; requests sent again */
	uint64_t opened, reused, retried;
};

struct buf {
	char d[BUF_SIZE];
	size_t off, len; /* pending bytes: d[off..len) */
};

enum phase { HEAD, CONNECTING, FORWARD, TUNNEL, LOCAL, LINGER };

struct conn {
	struct bw_proxy *p;
	struct dep *dep;
	int cfd, ufd;
	enum phase phase;
	struct buf c2u, u2c;
	char head[BW_PROXY_HEAD_MAX]; /* the request head; then the next request's bytes */
	size_t hlen;
	size_t rhlen;	     /* response head bytes at u2c.d + RHEAD_OFF */
	size_t req_head_len; /* the rewritten request head, c2u.d[0..), for a retry */
	struct bw_body req, resp;
	int upgrade;	   /* the request asks for a tunnel */
	int head_method;   /* HEAD: the response has no body */
	int client_keep;   /* the client can send another request after this one */
	int keep_client;   /* decided at the response head: it will */
	int upstream_keep; /* the upstream connection can serve another request */
	int reused;	   /* the upstream connection came from the pool */
	int retry_safe;	   /* idempotent and bodiless: may go again on a new connection */
	int retried;
	int interim;  /* a 1xx passed to the client */
	int answered; /* the final response head went into u2c */
	int upstream_eof, client_eof;
	int local_keep;	   /* LOCAL: back to HEAD after our answer */
	int pending;	   /* forwarded, its outcome not known yet */
	int has_permit;	   /* and the breaker let it through */
	unsigned instance; /* of the breaker that gave it */
	struct bw_breaker_permit permit;
	int64_t started_ms, deadline_ms;
	char *out; /* our own answer (LOCAL): malloc'd, out[out_off..out_len) to send */
	size_t out_len, out_off;
};

struct bw_proxy {
	struct dep deps[BW_PROXY_MAX_DEPENDENCIES];
	size_t ndeps;
	struct conn **conns;
	size_t nconns;
	int max_conns, connect_timeout_ms, request_timeout_ms, drain_timeout_ms;
	int idle_timeout_ms, pool_size, pool_idle_ms;
	char *breakers_file;
	char *breakers_text;	/* what was last applied */
	char reload_error[512]; /* the last reload's error, said once */
	int wake[2];		/* bw_proxy_stop() writes a byte */
	int admin_fd;		/* /metrics, /healthz, /readyz; -1 when off */
	int admin_port;
	atomic_int stopping; /* set by bw_proxy_stop(), any thread or a signal handler */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* ---- breakers ---- */

static void log_transition(struct dep *d, enum bw_breaker_state before)
{
	const struct bw_breaker *b = &d->breaker;

	if (b->state != before)
		bw_log_info(LOG, "breaker %s (target %s): %s -> %s (%s)", b->policy.name, d->name,
			    bw_breaker_state_name(before), bw_breaker_state_name(b->state),
			    bw_breaker_reason_name(b->reason));
}

/* Applies a policy set: new breakers start, changed ones take the new policy,
 * dependencies no longer protected forward everything. */
static void apply_policies(struct bw_proxy *p, const struct bw_policy_set *set)
{
	const struct bw_breaker_policy *pol;
	enum bw_breaker_state before;
	struct bw_error err = {0};
	size_t i;

	for (i = 0; i < p->ndeps; i++) {
		struct dep *d = &p->deps[i];

		pol = bw_policy_find_target(set, d->name);
		if (!pol && d->has_breaker) {
			bw_log_info(LOG, "breaker %s (target %s): removed, calls are forwarded",
				    d->breaker.policy.name, d->name);
			bw_breaker_release(&d->breaker);
			d->has_breaker = 0;
		} else if (pol && !d->has_breaker) {
			if (bw_breaker_init(&d->breaker, pol, now_ms(), &err) == 0) {
				d->has_breaker = 1;
				d->instance++;
				bw_log_info(LOG, "breaker %s (target %s): %s, mode %s", pol->name,
					    d->name, bw_breaker_state_name(d->breaker.state),
					    bw_policy_mode_name(pol->mode));
			} else {
				bw_log_error(LOG, "%s", err.message);
			}
		} else if (pol) {
			before = d->breaker.state;
			if (bw_breaker_set_policy(&d->breaker, pol, now_ms(), &err) < 0)
				bw_log_error(LOG, "%s", err.message);
			log_transition(d, before);
		}
	}
}

/* Reads the breakers file; applies it when its text changed. */
static int reload(struct bw_proxy *p, struct bw_error *err)
{
	struct bw_policy_set set;
	char *text = NULL;
	size_t len;
	int rc;

	if (!p->breakers_file)
		return 0;
	rc = bw_file_read(p->breakers_file, "breakers file", BW_POLICY_MAX_BYTES,
			  BW_FILE_REGULAR_ONLY, &text, &len, NULL, err);
	if (rc)
		return rc;
	if (p->breakers_text && strcmp(p->breakers_text, text) == 0) {
		free(text);
		return 0;
	}
	rc = bw_policy_parse(text, len, &set, err);
	if (rc) {
		free(text);
		return rc;
	}
	apply_policies(p, &set);
	bw_policy_set_release(&set);
	free(p->breakers_text);
	p->breakers_text = text;
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void settle(struct conn *c, enum bw_breaker_outcome outcome)
{
	struct dep *d = c->dep;
	enum bw_breaker_state before;

	int64_t took = now_ms() - c->started_ms;
	size_t i;

	if (!c->pending)
		return;
	c->pending = 0;
	d->outcomes[outcome]++;
	if (outcome != BW_OUTCOME_IGNORED) {
		for (i = 0; i < sizeof(hist_le) / sizeof(hist_le[0]) && took / 1000.0 > hist_le[i];
		     i++)
			;
		d->hist[i]++;
		d->hist_count++;
		d->hist_sum += took / 1000.0;
	}
	if (!c->has_permit || !d->has_breaker || c->instance != d->instance)
		return;
	before = d->breaker.state;
	bw_breaker_record(&d->breaker, now_ms(), &c->permit, outcome, took);
	log_transition(d, before);
}

/* ---- the upstream pool ---- */

/* An idle connection to d the upstream has not closed, or -1. */
static int pool_take(struct dep *d)
{
	char probe;
	ssize_t n;
	int fd;

	while (d->npool) {
		fd = d->pool[--d->npool];
		/* closed since the last poll(), or bytes nobody asked for: not usable */
		n = recv(fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return fd;
		close(fd);
	}
	return -1;
}

static void pool_put(struct bw_proxy *p, struct dep *d, int fd)
{
	if (d->npool >= (size_t)p->pool_size || atomic_load(&p->stopping)) {
		close(fd);
		return;
	}
	d->pool[d->npool] = fd;
	d->pool_since[d->npool++] = now_ms();
}

/* Drops the pooled connection at index i (the upstream closed it, or it
 * idled too long). */
static void pool_drop(struct dep *d, size_t i)
{
	close(d->pool[i]);
	memmove(d->pool + i, d->pool + i + 1, (d->npool - i - 1) * sizeof(*d->pool));
	memmove(d->pool_since + i, d->pool_since + i + 1,
		(d->npool - i - 1) * sizeof(*d->pool_since));
	d->npool--;
}

/* ---- our own answers ---- */

static void client_head(struct bw_proxy *p, struct conn *c);

/* Our own answer; keep: the connection serves the next request after it. */
static void answer_with(struct conn *c, int status, const char *reason, const char *type,
			const char *extra_headers, const char *body, size_t blen, int keep)
{
	size_t cap = blen + 256 + (extra_headers ? strlen(extra_headers) : 0);
	int n;

	close_fd(&c->ufd);
	free(c->out);
	c->out = malloc(cap);
	c->out_off = c->out_len = 0;
	c->answered = 1;
	c->phase = LOCAL;
	c->local_keep = keep;
	c->deadline_ms = now_ms() + LINGER_MS * 5;
	if (!c->out) {
		close_fd(&c->cfd); /* no memory for an answer: the client sees a close */
		return;
	}
	n = snprintf(c->out, cap,
		     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: "
		     "%s\r\n\r\n",
		     status, reason, type, blen, extra_headers ? extra_headers : "",
		     keep ? "keep-alive" : "close");
	if (n < 0 || (size_t)n + blen > cap) {
		close_fd(&c->cfd);
		return;
	}
	memcpy(c->out + n, body, blen);
	c->out_len = (size_t)n + blen;
}

static void answer(struct conn *c, int status, const char *reason, const char *extra_headers,
		   const char *body, int keep)
{
	answer_with(c, status, reason, "application/json", extra_headers, body, strlen(body), keep);
}

static void answer_error(struct conn *c, int status, const char *reason, const char *what)
{
	char body[512];

	snprintf(body, sizeof(body), "{\"error\":\"%s\",\"dependency\":\"%s\"}\n", what,
		 c->dep ? c->dep->name : "");
	answer(c, status, reason, NULL, body, 0);
}

/* The upstream failed before answering: a failure, and 502 or 504 for the client. */
static void upstream_failed(struct conn *c, int status, const char *what)
{
	settle(c, BW_OUTCOME_FAILURE);
	bw_log_debug(LOG, "%s: %s", c->dep->name, what);
	if (c->answered || c->interim) { /* the client has part of an answer: cut it */
		close_fd(&c->ufd);
		close_fd(&c->cfd);
		return;
	}
	answer_error(c, status, status == 504 ? "Gateway Timeout" : "Bad Gateway", what);
}

static void refuse(struct conn *c, const struct bw_breaker_decision *dec)
{
	const struct bw_breaker *b = &c->dep->breaker;
	int64_t secs = (dec->retry_after_ms + 999) / 1000;
	char headers[512], body[512];

	snprintf(headers, sizeof(headers),
		 "Retry-After: %lld\r\nbreakwater-breaker: %s; state=%s\r\n", (long long)secs,
		 b->policy.name, bw_breaker_state_name(b->state));
	snprintf(body, sizeof(body),
		 "{\"error\":\"circuit open\",\"breaker\":\"%s\",\"dependency\":\"%s\","
		 "\"state\":\"%s\",\"retryAfterSeconds\":%lld}\n",
		 b->policy.name, c->dep->name, bw_breaker_state_name(b->state), (long long)secs);
	c->dep->refused++;
	/* the connection stays when the request had no body left to read */
	answer(c, 503, "Service Unavailable", headers, body,
	       c->req.done && c->client_keep && !atomic_load(&c->p->stopping));
}

/* ---- one exchange ---- */

static int resolve(struct dep *d)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	int rc;

	if (d->addr)
		return 0;
	/* blocking, once per dependency: a ClusterIP Service keeps its address */
	rc = getaddrinfo(d->host, d->port, &hints, &d->addr);
	if (rc) {
		bw_log_warn(LOG, "%s: cannot resolve %s: %s", d->name, d->host, gai_strerror(rc));
		d->addr = NULL;
		return -1;
	}
	return 0;
}

static long flush(int fd, struct buf *b);
static void upstream_lost(struct bw_proxy *p, struct conn *c, const char *what);

/* A new connection to the dependency (CONNECTING), or one from its pool
 * (FORWARD at once, the request head sent). */
static void start_upstream(struct bw_proxy *p, struct conn *c)
{
	struct dep *d = c->dep;
	int one = 1;

	c->reused = 0;
	if (!c->retried && (c->ufd = pool_take(d)) >= 0) {
		c->reused = 1;
		d->reused++;
		c->phase = FORWARD;
		c->deadline_ms = now_ms() + p->request_timeout_ms;
		/* the request goes now, not after another turn of the loop */
		if (flush(c->ufd, &c->c2u) < 0)
			upstream_lost(p, c, "the upstream reset the connection");
		return;
	}
	if (resolve(d)) {
		upstream_failed(c, 502, "cannot resolve the dependency");
		return;
	}
	c->ufd = socket(d->addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->ufd < 0) {
		upstream_failed(c, 502, "no socket");
		return;
	}
	d->opened++;
	setsockopt(c->ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->ufd, d->addr->ai_addr, d->addr->ai_addrlen) && errno != EINPROGRESS) {
		upstream_failed(c, 502,
				errno == ECONNREFUSED ? "connection refused" : "connect failed");
		return;
	}
	c->phase = CONNECTING;
	c->deadline_ms = now_ms() + p->connect_timeout_ms;
}

/* The upstream connection broke before any answer. A pooled connection the
 * upstream closed as the request went out (its keep-alive timeout racing
 * ours) is no news about the dependency: an idempotent request without a
 * body goes again, once, on a new connection. Anything else is a failure. */
static void upstream_lost(struct bw_proxy *p, struct conn *c, const char *what)
{
	if (c->reused && c->retry_safe && !c->retried && !c->answered && !c->interim && !c->rhlen) {
		close_fd(&c->ufd);
		c->retried = 1;
		c->dep->retried++;
		c->c2u.off = 0;
		c->c2u.len = c->req_head_len; /* still there: nothing was read after it */
		bw_log_debug(LOG, "%s: a pooled connection: %s; sent again", c->dep->name, what);
		start_upstream(p, c);
		return;
	}
	upstream_failed(c, 502, what);
}

static int idempotent(const char *head)
{
	static const char *const methods[] = {"GET ",	"HEAD ", "OPTIONS ",
					      "TRACE ", "PUT ",	 "DELETE "};
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strncmp(head, methods[i], strlen(methods[i])) == 0)
			return 1;
	return 0;
}

/* The request head is in c->head[0..end): judge it, ask the breaker, go. */
static void request_head(struct bw_proxy *p, struct conn *c, size_t end)
{
	struct bw_proxy_head_info info;
	struct bw_breaker_decision dec;
	enum bw_breaker_state before;
	struct dep *d = c->dep;
	size_t rest, k;
	long n;

	n = bw_proxy_head_rewrite(c->head, end, 1, d->host_header, "keep-alive", c->c2u.d,
				  RHEAD_OFF, &info);
	if (n >= 0 && info.upgrade)
		n = bw_proxy_head_rewrite(c->head, end, 1, d->host_header, "upgrade", c->c2u.d,
					  RHEAD_OFF, &info);
	if (n < 0) {
		answer_error(c, 400, "Bad Request",
			     "not an HTTP/1.1 request head, or its body's length is ambiguous");
		return;
	}
	c->upgrade = info.upgrade;
	c->head_method = info.head_method;
	c->client_keep = info.minor == 1 && !info.conn_close && !info.upgrade;
	bw_body_start(&c->req,
		      info.chunked		? BW_BODY_CHUNKED
		      : info.content_length > 0 ? BW_BODY_LENGTH
						: BW_BODY_NONE,
		      info.content_length > 0 ? (unsigned long long)info.content_length : 0);
	c->retry_safe = c->req.kind == BW_BODY_NONE && !info.upgrade && idempotent(c->head);
	/* the bytes read with the head: the body's first ones, then the next request's */
	rest = c->hlen - end;
	k = bw_body_feed(&c->req, c->head + end, rest);
	if (c->req.error) {
		answer_error(c, 400, "Bad Request", "a broken chunked body");
		return;
	}
	memcpy(c->c2u.d + n, c->head + end, k);
	memmove(c->head, c->head + end + k, rest - k);
	c->hlen = rest - k;
	c->c2u.off = 0;
	c->c2u.len = (size_t)n + k;
	c->req_head_len = (size_t)n;

	if (d->has_breaker) {
		before = d->breaker.state;
		bw_breaker_acquire(&d->breaker, now_ms(), &dec);
		log_transition(d, before);
		if (!dec.allowed) {
			refuse(c, &dec);
			return;
		}
		d->would_refuse += dec.would_refuse;
		c->permit = dec.permit;
		c->instance = d->instance;
		c->has_permit = 1;
	}
	c->pending = 1;
	c->started_ms = now_ms();
	start_upstream(p, c);
}

/* The response head at u2c.d + RHEAD_OFF, once u2c is empty: judged and
 * rewritten into u2c. A 1xx passes and the next head is read; a 101 to an
 * Upgrade request turns the connection into a tunnel. */
static void response_head(struct bw_proxy *p, struct conn *c)
{
	struct bw_proxy_head_info info;
	char *rh = c->u2c.d + RHEAD_OFF;
	const char *conn;
	size_t end, rest, k;
	long n;

	while (!c->answered && c->u2c.off == c->u2c.len && c->phase == FORWARD) {
		end = bw_proxy_head_end(rh, c->rhlen);
		if (!end) {
			if (c->rhlen == BW_PROXY_HEAD_MAX)
				upstream_failed(c, 502, "a response head over 16 KiB");
			return;
		}
		if (bw_proxy_head_rewrite(rh, end, 0, NULL, NULL, NULL, 0, &info) < 0) {
			upstream_failed(c, 502, "not an HTTP/1.1 response head");
			return;
		}
		if (info.status == 101 && !c->upgrade) {
			upstream_failed(c, 502,
					"101 Switching Protocols to a request without Upgrade");
			return;
		}
		/* the client connection stays when nothing is left of the request,
		 * the response ends by its framing, and we are not stopping */
		c->keep_client =
		    c->client_keep && c->req.done && !atomic_load(&p->stopping) &&
		    (c->head_method || info.status == 204 || info.status == 304 || info.chunked ||
		     (!info.transfer_encoding && info.content_length >= 0));
		conn = info.status == 101		     ? "upgrade"
		       : info.status < 200 || c->keep_client ? "keep-alive"
							     : "close";
		n = bw_proxy_head_rewrite(rh, end, 0, NULL, conn, c->u2c.d, RHEAD_OFF, &info);
		if (n < 0) {
			upstream_failed(c, 502, "a response head over 16 KiB");
			return;
		}
		rest = c->rhlen - end;
		c->u2c.off = 0;
		if (info.status >= 100 && info.status < 200 && info.status != 101) {
			/* interim (100 Continue): passed, and the final head follows */
			c->u2c.len = (size_t)n;
			memmove(rh, rh + end, rest);
			c->rhlen = rest;
			c->interim = 1;
			continue;
		}
		settle(c, info.status >= 500 ? BW_OUTCOME_FAILURE : BW_OUTCOME_SUCCESS);
		c->answered = 1;
		c->rhlen = 0;
		if (info.status == 101) {
			/* a tunnel: the bytes after the head, and the client's early ones */
			memmove(c->u2c.d + n, rh + end, rest);
			c->u2c.len = (size_t)n + rest;
			if (c->hlen <= sizeof(c->c2u.d) - c->c2u.len) {
				memcpy(c->c2u.d + c->c2u.len, c->head, c->hlen);
				c->c2u.len += c->hlen;
			}
			c->hlen = 0;
			c->phase = TUNNEL;
			c->deadline_ms = 0;
			return;
		}
		bw_body_start(
		    &c->resp,
		    c->head_method || info.status == 204 || info.status == 304 ? BW_BODY_NONE
		    : info.chunked					       ? BW_BODY_CHUNKED
		    : info.transfer_encoding				       ? BW_BODY_UNTIL_CLOSE
		    : info.content_length >= 0				       ? BW_BODY_LENGTH
					       : BW_BODY_UNTIL_CLOSE,
		    info.content_length > 0 ? (unsigned long long)info.content_length : 0);
		c->upstream_keep =
		    info.minor == 1 && !info.conn_close && c->resp.kind != BW_BODY_UNTIL_CLOSE;
		k = bw_body_feed(&c->resp, rh + end, rest);
		if (k < rest) /* bytes past the answer, or a broken chunk: not again */
			c->upstream_keep = 0;
		memmove(c->u2c.d + n, rh + end, k);
		c->u2c.len = (size_t)n + k;
	}
}

static void conn_free(struct conn *c)
{
	if (c->pending) /* the client went away before the answer */
		settle(c, BW_OUTCOME_IGNORED);
	close_fd(&c->cfd);
	close_fd(&c->ufd);
	free(c->out);
	free(c);
}

/* Ready for the client's next request (keep-alive), which may be here already. */
static void next_request(struct bw_proxy *p, struct conn *c)
{
	c->phase = HEAD;
	c->answered = c->interim = c->reused = c->retried = c->has_permit = 0;
	c->upstream_eof = c->client_eof = c->local_keep = 0;
	c->rhlen = 0;
	c->c2u.off = c->c2u.len = c->u2c.off = c->u2c.len = 0;
	free(c->out);
	c->out = NULL;
	c->deadline_ms = now_ms() + p->idle_timeout_ms;
	if (c->hlen)
		client_head(p, c);
}

/* The answer is through to the client: the upstream connection to the pool
 * when it can serve again, the client's to its next request or closing. */
static void exchange_done(struct bw_proxy *p, struct conn *c)
{
	if (c->ufd >= 0 && c->upstream_keep && c->req.done && c->resp.done && !c->upstream_eof)
		pool_put(p, c->dep, c->ufd);
	else if (c->ufd >= 0)
		close(c->ufd);
	c->ufd = -1;
	if (c->keep_client) {
		next_request(p, c);
		return;
	}
	shutdown(c->cfd, SHUT_WR);
	c->phase = LINGER;
	c->deadline_ms = now_ms() + LINGER_MS;
}

/* Reads what fits into b from fd; 1 data (the new bytes from *from), 0 EOF,
 * -1 error, -2 would block. */
static int fill(int fd, struct buf *b, size_t *from)
{
	ssize_t n;

	if (b->off == b->len)
		b->off = b->len = 0;
	*from = b->len;
	if (b->len == sizeof(b->d))
		return -2;
	n = recv(fd, b->d + b->len, sizeof(b->d) - b->len, 0);
	if (n > 0) {
		b->len += (size_t)n;
		return 1;
	}
	if (n == 0)
		return 0;
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -2 : -1;
}

/* Writes what it can of b to fd; the bytes written, or -1 on an error. */
static long flush(int fd, struct buf *b)
{
	long sent = 0;
	ssize_t n;

	while (b->off < b->len) {
		n = send(fd, b->d + b->off, b->len - b->off, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? sent
											 : -1;
		b->off += (size_t)n;
		sent += n;
	}
	b->off = b->len = 0;
	return sent;
}

/* A request head is complete in c->head, or not yet: act on it. */
static void admin_request(struct bw_proxy *p, struct conn *c);

static void client_head(struct bw_proxy *p, struct conn *c)
{
	size_t end = bw_proxy_head_end(c->head, c->hlen);

	if (end && !c->dep)
		admin_request(p, c);
	else if (end)
		request_head(p, c, end);
	else if (c->hlen == sizeof(c->head))
		answer_error(c, 431, "Request Header Fields Too Large",
			     "a request head over 16 KiB");
}

/* ---- the admin endpoint ---- */

static void metrics_text(struct bw_proxy *p, FILE *f)
{
	static const char *const outcome_names[] = {"success", "failure", "ignored"};
	static const enum bw_breaker_state states[] = {BW_BREAKER_CLOSED, BW_BREAKER_OPEN,
						       BW_BREAKER_HALF_OPEN, BW_BREAKER_DISABLED};
	size_t i, k;
	uint64_t cum;

	fprintf(f, "# HELP breakwater_proxy_breaker_state The state of the dependency's breaker "
		   "(1 for the current one).\n# TYPE breakwater_proxy_breaker_state gauge\n");
	for (i = 0; i < p->ndeps; i++)
		for (k = 0; p->deps[i].has_breaker && k < 4; k++)
			fprintf(f,
				"breakwater_proxy_breaker_state{dependency=\"%s\",breaker=\"%s\","
				"state=\"%s\"} %d\n",
				p->deps[i].name, p->deps[i].breaker.policy.name,
				bw_breaker_state_name(states[k]),
				p->deps[i].breaker.state == states[k]);
	fprintf(f, "# HELP breakwater_proxy_breaker_transitions_total State transitions of the "
		   "breaker since it started.\n# TYPE breakwater_proxy_breaker_transitions_total "
		   "counter\n");
	for (i = 0; i < p->ndeps; i++)
		if (p->deps[i].has_breaker)
			fprintf(f,
				"breakwater_proxy_breaker_transitions_total{dependency=\"%s\","
				"breaker=\"%s\"} %llu\n",
				p->deps[i].name, p->deps[i].breaker.policy.name,
				(unsigned long long)p->deps[i].breaker.transitions);
	fprintf(f, "# HELP breakwater_proxy_calls_total Calls by outcome: forwarded (success, "
		   "failure, ignored) or refused by the breaker.\n"
		   "# TYPE breakwater_proxy_calls_total counter\n");
	for (i = 0; i < p->ndeps; i++) {
		for (k = 0; k < 3; k++)
			fprintf(f,
				"breakwater_proxy_calls_total{dependency=\"%s\",outcome=\"%s\"} "
				"%llu\n",
				p->deps[i].name, outcome_names[k],
				(unsigned long long)p->deps[i].outcomes[k]);
		fprintf(
		    f, "breakwater_proxy_calls_total{dependency=\"%s\",outcome=\"refused\"} %llu\n",
		    p->deps[i].name, (unsigned long long)p->deps[i].refused);
	}
	fprintf(f, "# HELP breakwater_proxy_would_refuse_total Calls MetricsOnly forwarded that "
		   "Enforce would have refused.\n# TYPE breakwater_proxy_would_refuse_total "
		   "counter\n");
	for (i = 0; i < p->ndeps; i++)
		fprintf(f, "breakwater_proxy_would_refuse_total{dependency=\"%s\"} %llu\n",
			p->deps[i].name, (unsigned long long)p->deps[i].would_refuse);
	fprintf(f, "# HELP breakwater_proxy_upstream_connections_total Connections to the "
		   "dependency: opened, or reused from the pool.\n"
		   "# TYPE breakwater_proxy_upstream_connections_total counter\n");
	for (i = 0; i < p->ndeps; i++)
		fprintf(
		    f,
		    "breakwater_proxy_upstream_connections_total{dependency=\"%s\",how=\"opened\"} "
		    "%llu\n"
		    "breakwater_proxy_upstream_connections_total{dependency=\"%s\",how=\"reused\"} "
		    "%llu\n",
		    p->deps[i].name, (unsigned long long)p->deps[i].opened, p->deps[i].name,
		    (unsigned long long)p->deps[i].reused);
	fprintf(f, "# HELP breakwater_proxy_retries_total Requests sent again on a new "
		   "connection after a pooled one broke before any answer.\n"
		   "# TYPE breakwater_proxy_retries_total counter\n");
	for (i = 0; i < p->ndeps; i++)
		fprintf(f, "breakwater_proxy_retries_total{dependency=\"%s\"} %llu\n",
			p->deps[i].name, (unsigned long long)p->deps[i].retried);
	fprintf(f, "# HELP breakwater_proxy_call_duration_seconds Time from the breaker's "
		   "decision to the response head (or the failure).\n"
		   "# TYPE breakwater_proxy_call_duration_seconds histogram\n");
	for (i = 0; i < p->ndeps; i++) {
		const struct dep *d = &p->deps[i];

		for (k = 0, cum = 0; k < sizeof(hist_le) / sizeof(hist_le[0]); k++) {
			cum += d->hist[k];
			fprintf(f,
				"breakwater_proxy_call_duration_seconds_bucket{dependency=\"%s\","
				"le=\"%g\"} %llu\n",
				d->name, hist_le[k], (unsigned long long)cum);
		}
		fprintf(
		    f,
		    "breakwater_proxy_call_duration_seconds_bucket{dependency=\"%s\",le=\"+Inf\"} "
		    "%llu\n"
		    "breakwater_proxy_call_duration_seconds_sum{dependency=\"%s\"} %.6f\n"
		    "breakwater_proxy_call_duration_seconds_count{dependency=\"%s\"} %llu\n",
		    d->name, (unsigned long long)d->hist_count, d->name, d->hist_sum, d->name,
		    (unsigned long long)d->hist_count);
	}
}

/* A request on the admin listener: GET /metrics, /healthz or /readyz. */
static void admin_request(struct bw_proxy *p, struct conn *c)
{
	char method[16], path[256], *text = NULL;
	size_t len = 0;
	FILE *f;

	if (sscanf(c->head, "%15s %255s HTTP/1.", method, path) != 2) {
		answer_with(c, 400, "Bad Request", "text/plain", NULL, "bad request\n", 12, 0);
		return;
	}
	if (strcmp(method, "GET") != 0) {
		answer_with(c, 405, "Method Not Allowed", "text/plain", "Allow: GET\r\n",
			    "GET only\n", 9, 0);
	} else if (strcmp(path, "/healthz") == 0) {
		answer_with(c, 200, "OK", "text/plain", NULL, "ok\n", 3, 0);
	} else if (strcmp(path, "/readyz") == 0) {
		if (atomic_load(&p->stopping))
			answer_with(c, 503, "Service Unavailable", "text/plain", NULL, "stopping\n",
				    9, 0);
		else
			answer_with(c, 200, "OK", "text/plain", NULL, "ok\n", 3, 0);
	} else if (strcmp(path, "/metrics") == 0 && (f = open_memstream(&text, &len))) {
		metrics_text(p, f);
		fclose(f);
		answer_with(c, 200, "OK", "text/plain; version=0.0.4", NULL, text, len, 0);
		free(text);
	} else {
		answer_with(c, 404, "Not Found", "text/plain", NULL, "not found\n", 10, 0);
	}
}

/* One step of a connection after poll; returns 0 to keep it, -1 to free it. */
/* FORWARD: the request up, the response down. 0 to keep the connection, -1 to free it. */
static int forward(struct bw_proxy *p, struct conn *c, short cev, short uev)
{
	long moved = 0, more;
	size_t from, k, extra;
	ssize_t n;
	int rc;

	/* client -> upstream */
	if (c->c2u.off < c->c2u.len && (moved = flush(c->ufd, &c->c2u)) < 0) {
		upstream_lost(p, c, "the upstream reset the connection");
		return 0;
	}
	if (!c->req.done && (cev & (POLLIN | POLLHUP | POLLERR))) {
		rc = fill(c->cfd, &c->c2u, &from);
		/* the client closed or reset: it is gone (HTTP clients do not
		 * half-close), ignored when it had no answer yet, as nginx does */
		if (rc == 0 || rc == -1)
			return -1;
		if (rc == 1) {
			k = bw_body_feed(&c->req, c->c2u.d + from, c->c2u.len - from);
			if (c->req.error)
				return -1; /* a broken chunked body: nothing sensible to forward */
			extra = c->c2u.len - from - k;
			if (extra && extra <= sizeof(c->head) - c->hlen) {
				/* the next request, pipelined: kept for after this answer */
				memcpy(c->head + c->hlen, c->c2u.d + from + k, extra);
				c->hlen += extra;
			} else if (extra) {
				c->client_keep = 0;
			}
			c->c2u.len = from + k;
			if ((more = flush(c->ufd, &c->c2u)) < 0) {
				upstream_lost(p, c, "the upstream reset the connection");
				return 0;
			}
			moved += more;
		}
	} else if (c->req.done && (cev & (POLLRDHUP | POLLHUP | POLLERR))) {
		return -1; /* the client is gone while its call was under way */
	}
	/* the request timeout runs from the last request byte sent */
	if (moved > 0 && !c->answered)
		c->deadline_ms = now_ms() + p->request_timeout_ms;

	/* upstream -> client */
	moved = 0;
	if (!c->answered) {
		if ((uev & (POLLIN | POLLHUP | POLLERR)) && c->rhlen < BW_PROXY_HEAD_MAX) {
			n = recv(c->ufd, c->u2c.d + RHEAD_OFF + c->rhlen,
				 BW_PROXY_HEAD_MAX - c->rhlen, 0);
			if (n == 0 ||
			    (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
				upstream_lost(p, c,
					      n == 0 ? "the upstream closed before answering"
						     : "the upstream reset the connection");
				return 0;
			}
			if (n > 0)
				c->rhlen += (size_t)n;
		}
		response_head(p, c);
		if (c->phase != FORWARD)
			return c->cfd < 0 ? -1 : 0;
		moved = c->answered;
	} else if (!c->resp.done && !c->upstream_eof && (uev & (POLLIN | POLLHUP | POLLERR))) {
		rc = fill(c->ufd, &c->u2c, &from);
		if (rc == 1) {
			k = bw_body_feed(&c->resp, c->u2c.d + from, c->u2c.len - from);
			if (k < c->u2c.len - from) { /* past the answer, or broken */
				c->upstream_keep = 0;
				c->u2c.len = from + k;
				if (c->resp.error)
					c->upstream_eof = 1;
			}
			moved = 1;
		} else if (rc == 0 || rc == -1) {
			c->upstream_eof = 1;
			bw_body_eof(&c->resp); /* an answer until close is over; another is cut */
		}
	}
	if (c->u2c.off < c->u2c.len) {
		more = flush(c->cfd, &c->u2c);
		if (more < 0)
			return -1;
		moved += more;
	}
	if (c->u2c.off == c->u2c.len) {
		if (c->answered && c->resp.done) {
			exchange_done(p, c);
			return c->cfd < 0 ? -1 : 0;
		}
		if (c->upstream_eof)
			return -1; /* cut short: the client sees the close */
		if (!c->answered && c->rhlen)
			response_head(p, c); /* a head waiting behind a 1xx */
	}
	/* once answered, the same timeout for a pause in the answer */
	if (moved > 0 && c->answered)
		c->deadline_ms = now_ms() + p->request_timeout_ms;
	return c->cfd < 0 ? -1 : 0;
}

/* TUNNEL: bytes both ways; each side's close is passed on as a half-close. */
static int tunnel(struct conn *c, short cev, short uev)
{
	size_t from;
	int rc;

	if (!c->client_eof && (cev & (POLLIN | POLLHUP | POLLERR))) {
		rc = fill(c->cfd, &c->c2u, &from);
		if (rc == -1)
			return -1;
		c->client_eof = rc == 0;
	}
	if (c->c2u.off < c->c2u.len && flush(c->ufd, &c->c2u) < 0)
		return -1;
	if (!c->upstream_eof && (uev & (POLLIN | POLLHUP | POLLERR))) {
		rc = fill(c->ufd, &c->u2c, &from);
		if (rc == -1)
			return -1;
		c->upstream_eof = rc == 0;
	}
	if (c->u2c.off < c->u2c.len && flush(c->cfd, &c->u2c) < 0)
		return -1;
	if (c->client_eof && c->c2u.off == c->c2u.len)
		shutdown(c->ufd, SHUT_WR);
	if (c->upstream_eof && c->u2c.off == c->u2c.len)
		shutdown(c->cfd, SHUT_WR);
	if (c->client_eof && c->upstream_eof && c->c2u.off == c->c2u.len &&
	    c->u2c.off == c->u2c.len)
		return -1;
	return 0;
}

/* LOCAL: our own answer out; then the next request or closing. */
static int send_local(struct bw_proxy *p, struct conn *c)
{
	ssize_t n;

	if (c->cfd < 0)
		return -1;
	while (c->out_off < c->out_len) {
		n = send(c->cfd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return 0;
		if (n < 0)
			return -1;
		c->out_off += (size_t)n;
	}
	if (c->local_keep) {
		next_request(p, c);
		return c->cfd < 0 ? -1 : 0;
	}
	shutdown(c->cfd, SHUT_WR);
	c->phase = LINGER;
	c->deadline_ms = now_ms() + LINGER_MS;
	return 0;
}

/* One step of a connection after poll; returns 0 to keep it, -1 to free it. */
static int step(struct bw_proxy *p, struct conn *c, short cev, short uev)
{
	ssize_t n;
	int err = 0;
	socklen_t len = sizeof(err);
	char sink[4096];

	switch (c->phase) {
	case HEAD:
		if (!(cev & (POLLIN | POLLHUP | POLLERR)))
			break;
		n = recv(c->cfd, c->head + c->hlen, sizeof(c->head) - c->hlen, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return -1;
		if (n < 0)
			break;
		if (!c->hlen) /* the first bytes: the head has the request timeout to come */
			c->deadline_ms = now_ms() + p->request_timeout_ms;
		c->hlen += (size_t)n;
		client_head(p, c);
		if (c->phase == LOCAL) /* our answer (a refusal, say) goes now */
			return send_local(p, c);
		break;
	case CONNECTING:
		if (!(uev & (POLLOUT | POLLERR | POLLHUP)))
			break;
		getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			upstream_failed(
			    c, 502, err == ECONNREFUSED ? "connection refused" : "connect failed");
			break;
		}
		c->phase = FORWARD;
		c->deadline_ms = now_ms() + p->request_timeout_ms;
		/* the request head is waiting */
		return forward(p, c, 0, POLLOUT);
	case FORWARD:
		return forward(p, c, cev, uev);
	case TUNNEL:
		return tunnel(c, cev, uev);
	case LOCAL:
		return send_local(p, c);
	case LINGER:
		if (cev & (POLLIN | POLLHUP | POLLERR)) {
			n = recv(c->cfd, sink, sizeof(sink), 0);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				return -1;
		}
		break;
	}
	if (c->cfd < 0)
		return -1;
	return 0;
}

/* Deadlines: connect and request timeouts count as failures. */
static int expire(struct bw_proxy *p, struct conn *c, int64_t now)
{
	(void)p;
	if (!c->deadline_ms || now < c->deadline_ms)
		return 0;
	switch (c->phase) {
	case CONNECTING:
		upstream_failed(c, 504, "connect timeout");
		return 0;
	case FORWARD:
		if (c->answered)
			return -1; /* the answer paused too long: cut it (the outcome stands) */
		upstream_failed(c, 504, "request timeout");
		return 0;
	case HEAD:
		return -1; /* a client that does not send its head, or idle too long */
	default:
		return -1; /* LOCAL or LINGER overdue */
	}
}

/* Accepts on lfd for dependency d (NULL: the admin listener). */
static void accept_all(struct bw_proxy *p, int lfd, struct dep *d)
{
	struct conn *c, **grown;
	int fd, one = 1;

	while (p->nconns < (size_t)p->max_conns) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		c = calloc(1, sizeof(*c));
		grown = c ? realloc(p->conns, (p->nconns + 1) * sizeof(*p->conns)) : NULL;
		if (!grown) {
			free(c);
			close(fd);
			return;
		}
		p->conns = grown;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->p = p;
		c->dep = d;
		c->cfd = fd;
		c->ufd = -1;
		c->phase = HEAD;
		c->deadline_ms = now_ms() + p->request_timeout_ms;
		p->conns[p->nconns++] = c;
	}
}

/* ---- setup ---- */

/* http://HOST[:PORT][/] into d. */
static int parse_url(struct dep *d, const char *url, struct bw_error *err)
{
	const char *h, *colon, *slash, *end;
	size_t hlen;

	if (strncmp(url, "http://", 7) != 0)
		return bw_error_set(err, BW_EINVAL, "dependency %s: URL %s: only http:// URLs",
				    d->name, url);
	h = url + 7;
	end = h + strlen(h);
	slash = strchr(h, '/');
	if (slash && slash[1] != '\0')
		return bw_error_set(err, BW_EINVAL,
				    "dependency %s: URL %s: a path is not supported", d->name, url);
	if (slash)
		end = slash;
	colon = memchr(h, ':', (size_t)(end - h));
	hlen = (size_t)((colon ? colon : end) - h);
	if (!hlen || hlen >= sizeof(d->host))
		return bw_error_set(err, BW_EINVAL, "dependency %s: URL %s: no host", d->name, url);
	memcpy(d->host, h, hlen);
	d->host[hlen] = '\0';
	if (colon) {
		size_t plen = (size_t)(end - colon - 1);

		if (!plen || plen >= sizeof(d->port) || strspn(colon + 1, "0123456789") < plen)
			return bw_error_set(err, BW_EINVAL, "dependency %s: URL %s: bad port",
					    d->name, url);
		memcpy(d->port, colon + 1, plen);
		d->port[plen] = '\0';
	} else {
		snprintf(d->port, sizeof(d->port), "80");
	}
	snprintf(d->host_header, sizeof(d->host_header), "%s%s%s", d->host,
		 strcmp(d->port, "80") ? ":" : "", strcmp(d->port, "80") ? d->port : "");
	return 0;
}

/* A listener on ip:port (IPv4; port 0 picks one) for `what` (messages). */
static int listen_on(const char *what, struct in_addr ip, int port, int *fd, int *bound,
		     struct bw_error *err)
{
	struct sockaddr_in a = {
	    .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = ip};
	socklen_t alen = sizeof(a);
	char shown[INET_ADDRSTRLEN] = "?";
	int one = 1;

	inet_ntop(AF_INET, &ip, shown, sizeof(shown));
	*fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return bw_error_set(err, BW_EIO, "%s: socket: %s", what, strerror(errno));
	setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(*fd, (struct sockaddr *)&a, sizeof(a)) || listen(*fd, 128) ||
	    getsockname(*fd, (struct sockaddr *)&a, &alen))
		return bw_error_set(err, BW_EIO, "%s: listen on %s:%d: %s", what, shown, port,
				    strerror(errno));
	*bound = ntohs(a.sin_port);
	return 0;
}

/* "IPV4:PORT" for the admin listener. */
static int admin_listener(struct bw_proxy *p, const char *addr, struct bw_error *err)
{
	const char *colon = strrchr(addr, ':');
	char ip[INET_ADDRSTRLEN];
	struct in_addr in;
	char *end;
	long port = colon ? strtol(colon + 1, &end, 10) : -1;

	if (!colon || (size_t)(colon - addr) >= sizeof(ip) || *end || end == colon + 1 ||
	    port < 0 || port > 65535)
		return bw_error_set(err, BW_EINVAL, "admin address %s: IPV4:PORT expected", addr);
	memcpy(ip, addr, (size_t)(colon - addr));
	ip[colon - addr] = '\0';
	if (inet_pton(AF_INET, ip, &in) != 1)
		return bw_error_set(err, BW_EINVAL, "admin address %s: not an IPv4 address", addr);
	return listen_on("admin", in, (int)port, &p->admin_fd, &p->admin_port, err);
}

int bw_proxy_new(const struct bw_proxy_options *o, struct bw_proxy **out, struct bw_error *err)
{
	struct bw_proxy *p;
	size_t i, j;
	int rc;

	*out = NULL;
	if (!o || !o->ndeps || o->ndeps > BW_PROXY_MAX_DEPENDENCIES)
		return bw_error_set(err, BW_EINVAL, "proxy: 1..%d dependencies",
				    BW_PROXY_MAX_DEPENDENCIES);
	p = calloc(1, sizeof(*p));
	if (!p)
		return bw_error_set(err, BW_ENOMEM, "proxy: out of memory");
	p->wake[0] = p->wake[1] = p->admin_fd = -1;
	for (i = 0; i < BW_PROXY_MAX_DEPENDENCIES; i++)
		p->deps[i].lfd = -1;
	p->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 2000;
	p->request_timeout_ms = o->request_timeout_ms > 0 ? o->request_timeout_ms : 30000;
	p->max_conns = o->max_connections > 0 ? o->max_connections : 1024;
	p->drain_timeout_ms = o->drain_timeout_ms > 0 ? o->drain_timeout_ms : 5000;
	p->idle_timeout_ms = o->idle_timeout_ms > 0 ? o->idle_timeout_ms : 60000;
	p->pool_size = o->upstream_pool > 0 ? o->upstream_pool : 32;
	p->pool_idle_ms = o->upstream_idle_timeout_ms > 0 ? o->upstream_idle_timeout_ms : 2000;
	p->ndeps = o->ndeps;
	if (pipe(p->wake) || nonblocking(p->wake[0]) || nonblocking(p->wake[1])) {
		rc = bw_error_set(err, BW_EIO, "proxy: pipe: %s", strerror(errno));
		goto fail;
	}
	for (i = 0; i < o->ndeps; i++) {
		struct dep *d = &p->deps[i];

		/* a Service name: it goes into JSON bodies and metric labels as it is */
		if (!o->deps[i].name || !bw_is_dns1035_label(o->deps[i].name) || !o->deps[i].url) {
			rc =
			    bw_error_set(err, BW_EINVAL,
					 "proxy: dependency %zu: a Service name (a DNS-1035 label) "
					 "and a URL",
					 i);
			goto fail;
		}
		snprintf(d->name, sizeof(d->name), "%s", o->deps[i].name);
		d->pool = calloc((size_t)p->pool_size, sizeof(*d->pool));
		d->pool_since = calloc((size_t)p->pool_size, sizeof(*d->pool_since));
		if (!d->pool || !d->pool_since) {
			rc = bw_error_set(err, BW_ENOMEM, "proxy: out of memory");
			goto fail;
		}
		for (j = 0; j < i; j++)
			if (strcmp(p->deps[j].name, d->name) == 0) {
				rc = bw_error_set(err, BW_EINVAL, "proxy: dependency %s twice",
						  d->name);
				goto fail;
			}
		if ((rc = parse_url(d, o->deps[i].url, err)) ||
		    (rc = listen_on(d->name, (struct in_addr){htonl(INADDR_LOOPBACK)},
				    o->deps[i].port, &d->lfd, &d->bound_port, err)))
			goto fail;
	}
	if (o->admin_address && (rc = admin_listener(p, o->admin_address, err)))
		goto fail;
	if (o->breakers_file && !(p->breakers_file = strdup(o->breakers_file))) {
		rc = bw_error_set(err, BW_ENOMEM, "proxy: out of memory");
		goto fail;
	}
	if ((rc = reload(p, err)))
		goto fail;
	*out = p;
	return 0;
fail:
	bw_proxy_free(p);
	return rc;
}

int bw_proxy_port(const struct bw_proxy *p, size_t i)
{
	return i < p->ndeps ? p->deps[i].bound_port : -1;
}

int bw_proxy_admin_port(const struct bw_proxy *p)
{
	return p->admin_fd >= 0 ? p->admin_port : -1;
}

void bw_proxy_stop(struct bw_proxy *p)
{
	char one = 1;

	atomic_store(&p->stopping, 1);
	if (write(p->wake[1], &one, 1) < 0) {
		/* full pipe: a wake-up is pending already */
	}
}

void bw_proxy_free(struct bw_proxy *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->nconns; i++)
		conn_free(p->conns[i]);
	free(p->conns);
	for (i = 0; i < BW_PROXY_MAX_DEPENDENCIES; i++) {
		close_fd(&p->deps[i].lfd);
		while (p->deps[i].npool)
			close(p->deps[i].pool[--p->deps[i].npool]);
		free(p->deps[i].pool);
		free(p->deps[i].pool_since);
		if (p->deps[i].addr)
			freeaddrinfo(p->deps[i].addr);
		if (p->deps[i].has_breaker)
			bw_breaker_release(&p->deps[i].breaker);
	}
	close_fd(&p->wake[0]);
	close_fd(&p->wake[1]);
	close_fd(&p->admin_fd);
	free(p->breakers_file);
	free(p->breakers_text);
	free(p);
}

/* ---- the loop ---- */

static void client_events(const struct conn *c, struct pollfd *pc, struct pollfd *pu)
{
	pc->fd = c->cfd;
	pu->fd = c->ufd;
	pc->events = pu->events = 0;
	switch (c->phase) {
	case HEAD:
	case LINGER:
		pc->events = POLLIN;
		break;
	case CONNECTING:
		pu->events = POLLOUT;
		break;
	case FORWARD:
		if (!c->req.done && c->c2u.len < sizeof(c->c2u.d))
			pc->events |= POLLIN;
		else if (c->req.done)
			pc->events |= POLLRDHUP; /* only to see the client go */
		if (c->c2u.off < c->c2u.len)
			pu->events |= POLLOUT;
		if (!c->answered
			? c->rhlen < BW_PROXY_HEAD_MAX
			: !c->resp.done && !c->upstream_eof && c->u2c.len < sizeof(c->u2c.d))
			pu->events |= POLLIN;
		if (c->u2c.off < c->u2c.len)
			pc->events |= POLLOUT;
		break;
	case TUNNEL:
		if (!c->client_eof && c->c2u.len < sizeof(c->c2u.d))
			pc->events |= POLLIN;
		if (c->c2u.off < c->c2u.len)
			pu->events |= POLLOUT;
		if (!c->upstream_eof && c->u2c.len < sizeof(c->u2c.d))
			pu->events |= POLLIN;
		if (c->u2c.off < c->u2c.len)
			pc->events |= POLLOUT;
		if (!pc->events) /* a half-closed side with nothing to say: not polled */
			pc->fd = -1;
		if (!pu->events)
			pu->fd = -1;
		break;
	case LOCAL:
		pc->events = POLLOUT;
		break;
	}
	if (pu->fd < 0)
		pu->events = 0;
}

/* Pooled connections: one the upstream closed (or wrote to unasked) is
 * dropped, as is one idle past the pool's idle time. */
static void pool_events(struct bw_proxy *p, const struct pollfd *fds, int64_t now)
{
	size_t i, k, j = 0;

	for (i = 0; i < p->ndeps; i++) {
		struct dep *d = &p->deps[i];
		size_t n = d->npool;

		for (k = 0; k < n; k++, j++)
			if (fds[j].revents || now - d->pool_since[n - 1 - k] >= p->pool_idle_ms)
				pool_drop(d, n - 1 - k);
	}
}

int bw_proxy_run(struct bw_proxy *p)
{
	struct pollfd *fds = NULL, *grown;
	size_t cap = 0, n, i, k, base, pooled, pbase;
	int64_t now, next_tick = now_ms() + TICK_MS, drain_until = 0, wait;
	struct bw_error err = {0};
	char drain[64];
	int rc = 0;

	for (;;) {
		if (atomic_load(&p->stopping) && !drain_until) {
			drain_until = now_ms() + p->drain_timeout_ms;
			for (i = 0; i < p->ndeps; i++)
				close_fd(&p->deps[i].lfd);
			/* idle keep-alive connections close now; the others after their answer */
			for (i = 0, k = 0; i < p->nconns; i++) {
				if (p->conns[i]->phase == HEAD && !p->conns[i]->hlen)
					conn_free(p->conns[i]);
				else
					p->conns[k++] = p->conns[i];
			}
			p->nconns = k;
			bw_log_info(LOG, "stopping: %zu connections to drain", p->nconns);
		}
		if (drain_until && (!p->nconns || now_ms() >= drain_until))
			break;
		for (i = 0, pooled = 0; i < p->ndeps; i++)
			pooled += p->deps[i].npool;
		n = 2 + p->ndeps + 2 * p->nconns + pooled;
		if (n > cap) {
			grown = realloc(fds, n * sizeof(*fds));
			if (!grown) {
				rc = BW_ENOMEM;
				break;
			}
			fds = grown;
			cap = n;
		}
		fds[0] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
		for (i = 0; i < p->ndeps; i++)
			fds[1 + i] = (struct pollfd){
			    .fd = p->nconns < (size_t)p->max_conns ? p->deps[i].lfd : -1,
			    .events = POLLIN};
		fds[1 + p->ndeps] = (struct pollfd){
		    .fd = p->nconns < (size_t)p->max_conns ? p->admin_fd : -1, .events = POLLIN};
		base = 2 + p->ndeps;
		now = now_ms();
		wait = next_tick - now;
		for (i = 0; i < p->nconns; i++) {
			client_events(p->conns[i], &fds[base + 2 * i], &fds[base + 2 * i + 1]);
			if (p->conns[i]->deadline_ms && p->conns[i]->deadline_ms - now < wait)
				wait = p->conns[i]->deadline_ms - now;
		}
		/* pooled connections, newest first (pool_events() walks them so) */
		pbase = base + 2 * p->nconns;
		for (i = 0, k = 0; i < p->ndeps; i++) {
			size_t j;

			for (j = p->deps[i].npool; j > 0; j--)
				fds[pbase + k++] = (struct pollfd){.fd = p->deps[i].pool[j - 1],
								   .events = POLLIN | POLLRDHUP};
		}
		if (drain_until && drain_until - now < wait)
			wait = drain_until - now;
		if (poll(fds, n, wait < 0 ? 0 : (int)wait) < 0 && errno != EINTR) {
			rc = BW_EIO;
			break;
		}
		if (fds[0].revents & POLLIN)
			while (read(p->wake[0], drain, sizeof(drain)) > 0)
				;
		now = now_ms();
		/* the pool first: steps below take from it and put into it */
		pool_events(p, fds + pbase, now);
		/* connections: fds[] indexes them as they are now */
		for (i = 0, k = 0; i < p->nconns; i++) {
			struct conn *c = p->conns[i];
			int keep = step(p, c, fds[base + 2 * i].revents,
					fds[base + 2 * i + 1].revents) == 0 &&
				   expire(p, c, now) == 0 && c->cfd >= 0;

			if (keep)
				p->conns[k++] = c;
			else
				conn_free(c);
		}
		p->nconns = k;
		for (i = 0; i < p->ndeps; i++)
			if (fds[1 + i].revents & POLLIN)
				accept_all(p, p->deps[i].lfd, &p->deps[i]);
		if (fds[1 + p->ndeps].revents & POLLIN)
			accept_all(p, p->admin_fd, NULL);
		if (now >= next_tick) {
			next_tick = now + TICK_MS;
			if (reload(p, &err) && strcmp(err.message, p->reload_error) != 0)
				bw_log_warn(LOG, "keeping the policies: %s", err.message);
			snprintf(p->reload_error, sizeof(p->reload_error), "%s",
				 err.code ? err.message : "");
			bw_error_clear(&err);
			for (i = 0; i < p->ndeps; i++)
				if (p->deps[i].has_breaker) {
					enum bw_breaker_state before = p->deps[i].breaker.state;

					bw_breaker_advance(&p->deps[i].breaker, now);
					log_transition(&p->deps[i], before);
				}
		}
	}
	free(fds);
	return rc;
}
