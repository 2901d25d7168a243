/*
 * The breaker sidecar (proxy/proxy.c) against real HTTP servers on
 * loopback: an upstream this test controls (it answers 200, 500, resets, or
 * stalls, on command, and counts the requests it gets) and a port where
 * nothing listens. No cluster needed; real sockets, real clock.
 *
 * Shows, through the proxy's own answers and the upstream's request count:
 * forwarding with the head rewritten (Host, Connection); a 5xx, a reset and
 * a request timeout counted as failures; CLOSED -> OPEN (503, Retry-After,
 * the breakwater-breaker header, a JSON body, nothing forwarded) ->
 * HALF_OPEN (one trial forwarded, a second call refused with
 * state=HALF_OPEN) -> OPEN again with the back-off when the trial fails ->
 * HALF_OPEN -> CLOSED; connection refused counted as a failure; a policy
 * change picked up from an atomic symlink swap, as the kubelet does it; a
 * client gone before its answer counted nowhere (its HALF_OPEN trial slot
 * freed); 128 MiB up (Content-Length) and down (chunked) with the peak
 * memory of the process (the proxy runs in it) growing less than 32 MiB;
 * MetricsOnly forwarding while OPEN; 400 and 431 answered without
 * forwarding; /metrics (values after known calls), /healthz, /readyz;
 * stopping with a call in flight.
 *
 * A second upstream keeps its connections (a thread per connection,
 * requests in a loop, counting the connections it accepts) and shows
 * keep-alive: five calls on one client connection over one upstream
 * connection; a new client connection reusing the pooled one; a pooled
 * connection the upstream closed dropped before use; one closed as the
 * request arrived: a GET sent again on a new connection (no failure
 * counted), a POST with a body not (502); chunked bodies up and down with
 * trailers; HEAD, 204 and 304 followed by another call on the same
 * connections; two pipelined requests; 100-continue; an Upgrade tunnel;
 * a client gone mid-body and before its answer, each closing the upstream
 * connection. Refusals (ForcedOpen) keep the client connection of requests
 * without a body, and close it after one whose body was still to come.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../unit/check.h"
#include "log.h"
#include "../../proxy/proxy.h"

enum mode { OK, FAIL, RESET, STALL, SLOW, UPLOAD, DOWNLOAD, PAUSE };

#define STREAM_BYTES (128LL * 1024 * 1024)
#define STREAM_CHUNK 65536

#define SLOW_HOLD_MAX_MS 850

struct upstream {
	int lfd, port;
	atomic_int mode, requests, stop, stall_ms;
	/* SLOW answers wait while this is set, at most SLOW_HOLD_MAX_MS (under
	 * the proxy's 1 s timeout): the test lets go once it has done what it
	 * does beside them */
	atomic_int slow_held;
	char last_head[4096]; /* written by the upstream thread, read after a call returned */
	pthread_t thread;
};

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static int listen_loopback(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 64) ||
	    getsockname(fd, (struct sockaddr *)&a, &len))
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

static unsigned char pattern(long long i)
{
	return (unsigned char)(i * 31 + 7);
}

/* Reads a Content-Length body (part of it may be in buf after the head) and
 * answers with how many bytes came and their sum. */
static void upload(int fd, const char *buf, size_t n)
{
	const char *cl = strstr(buf, "Content-Length: "), *end = strstr(buf, "\r\n\r\n");
	long long want = cl ? atoll(cl + 16) : 0, got = 0, sum = 0;
	static char chunk[STREAM_CHUNK];
	char reply[256], body[64];
	size_t i;
	ssize_t r;

	for (i = end ? (size_t)(end + 4 - buf) : n; i < n; i++, got++)
		sum += (unsigned char)buf[i] == pattern(got);
	while (got < want && (r = recv(fd, chunk, sizeof(chunk), 0)) > 0)
		for (i = 0; i < (size_t)r; i++, got++)
			sum += (unsigned char)chunk[i] == pattern(got);
	snprintf(body, sizeof(body), "%lld %lld\n", got, sum);
	snprintf(reply, sizeof(reply), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(body), body);
	send(fd, reply, strlen(reply), MSG_NOSIGNAL);
}

/* A chunked body of STREAM_BYTES in STREAM_CHUNK pieces. */
static void download(int fd)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
	static char chunk[STREAM_CHUNK];
	long long sent;
	char size[16];

	memset(chunk, 'x', sizeof(chunk));
	if (send(fd, head, sizeof(head) - 1, MSG_NOSIGNAL) < 0)
		return;
	snprintf(size, sizeof(size), "%x\r\n", STREAM_CHUNK);
	for (sent = 0; sent < STREAM_BYTES; sent += STREAM_CHUNK)
		if (send(fd, size, strlen(size), MSG_NOSIGNAL) < 0 ||
		    send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL) < 0 ||
		    send(fd, "\r\n", 2, MSG_NOSIGNAL) < 0)
			return;
	send(fd, "0\r\n\r\n", 5, MSG_NOSIGNAL);
}

/* One request at a time: read the head, answer as the mode says, close. */
static void *upstream_main(void *arg)
{
	struct upstream *u = arg;
	char buf[4096];
	size_t n;
	ssize_t r;
	int fd;

	while (!atomic_load(&u->stop)) {
		fd = accept(u->lfd, NULL, NULL);
		if (fd < 0 || atomic_load(&u->stop)) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		n = 0;
		while (n < sizeof(buf) - 1 && (r = recv(fd, buf + n, sizeof(buf) - 1 - n, 0)) > 0) {
			n += (size_t)r;
			buf[n] = '\0';
			if (strstr(buf, "\r\n\r\n"))
				break;
		}
		buf[n] = '\0';
		snprintf(u->last_head, sizeof(u->last_head), "%s", buf);
		atomic_fetch_add(&u->requests, 1);
		switch (atomic_load(&u->mode)) {
		case UPLOAD:
			upload(fd, buf, n);
			break;
		case DOWNLOAD:
			download(fd);
			break;
		case OK:
		case SLOW: {
			static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
						 "Connection: keep-alive\r\n\r\nok\n";

			if (atomic_load(&u->mode) == SLOW) {
				sleep_ms(100);
				for (int i = 0;
				     i < SLOW_HOLD_MAX_MS / 10 && atomic_load(&u->slow_held); i++)
					sleep_ms(10);
			}
			send(fd, ok, sizeof(ok) - 1, MSG_NOSIGNAL);
			break;
		}
		case FAIL: {
			static const char fail[] = "HTTP/1.1 500 Internal Server Error\r\n"
						   "Content-Length: 5\r\n\r\nfail\n";

			send(fd, fail, sizeof(fail) - 1, MSG_NOSIGNAL);
			break;
		}
		case RESET: {
			struct linger l = {1, 0};

			setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
			break;
		}
		case STALL:
			sleep_ms(atomic_load(&u->stall_ms));
			break;
		case PAUSE: { /* the head and part of the body, then a pause */
			static const char part[] =
			    "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc";

			send(fd, part, sizeof(part) - 1, MSG_NOSIGNAL);
			sleep_ms(atomic_load(&u->stall_ms));
			break;
		}
		}
		close(fd);
	}
	return NULL;
}

struct reply {
	int status;
	char text[8192];
};

/* GET / through the proxy on port, asking it to close; the whole answer. */
static int get(int port, struct reply *r)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	static const char req[] = "GET /api/pay HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				  "Connection: close\r\nX-Trace: 7\r\n\r\n";
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t n = 0;
	ssize_t got;

	memset(r, 0, sizeof(*r));
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while (n < sizeof(r->text) - 1 &&
	       (got = recv(fd, r->text + n, sizeof(r->text) - 1 - n, 0)) > 0)
		n += (size_t)got;
	close(fd);
	if (sscanf(r->text, "HTTP/1.1 %d", &r->status) != 1)
		r->status = 0;
	return r->status;
}

static int connect_to(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* The peak resident memory of this process (the proxy runs in it), in KiB. */
static long hwm_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			kib = atol(line + 6);
	if (f)
		fclose(f);
	return kib;
}

/* POSTs STREAM_BYTES of pattern() with a Content-Length; the reply in r. */
static void stream_upload(int port, struct reply *r)
{
	static unsigned char chunk[STREAM_CHUNK];
	char head[256];
	long long sent, i;
	size_t n = 0;
	ssize_t got;
	int fd = connect_to(port);

	memset(r, 0, sizeof(*r));
	if (fd < 0)
		return;
	snprintf(head, sizeof(head),
		 "POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
		 "Content-Length: %lld\r\n\r\n",
		 STREAM_BYTES);
	send(fd, head, strlen(head), MSG_NOSIGNAL);
	for (sent = 0; sent < STREAM_BYTES; sent += STREAM_CHUNK) {
		for (i = 0; i < STREAM_CHUNK; i++)
			chunk[i] = pattern(sent + i);
		if (send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL) < 0)
			break;
	}
	while (n < sizeof(r->text) - 1 &&
	       (got = recv(fd, r->text + n, sizeof(r->text) - 1 - n, 0)) > 0)
		n += (size_t)got;
	close(fd);
	sscanf(r->text, "HTTP/1.1 %d", &r->status);
}

/* GETs the chunked download; the bytes after the head, and whether they end
 * with the last chunk. */
static long long stream_download(int port, int *status, int *ends)
{
	static char buf[STREAM_CHUNK];
	static const char req[] = "GET /download HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	char head[512] = "", tail[5] = {0};
	long long body = -1, total = 0;
	size_t hl = 0, k;
	ssize_t got;
	int fd = connect_to(port);

	*status = *ends = 0;
	if (fd < 0 || send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) < 0)
		return -1;
	while ((got = recv(fd, buf, sizeof(buf), 0)) > 0) {
		for (k = 0; body < 0 && k < (size_t)got && hl < sizeof(head) - 1; k++) {
			head[hl++] = buf[k];
			if (hl >= 4 && memcmp(head + hl - 4, "\r\n\r\n", 4) == 0)
				body = 0;
		}
		if (body < 0)
			continue;
		for (; k < (size_t)got; k++, total++) {
			memmove(tail, tail + 1, 4);
			tail[4] = buf[k];
		}
	}
	close(fd);
	sscanf(head, "HTTP/1.1 %d", status);
	*ends = memcmp(tail, "0\r\n\r\n", 5) == 0;
	return total;
}

/* Sends bytes as they are; the whole answer. */
static int raw(int port, const char *bytes, size_t n, struct reply *r)
{
	size_t got = 0;
	ssize_t k;
	int fd = connect_to(port);

	memset(r, 0, sizeof(*r));
	if (fd < 0)
		return -1;
	send(fd, bytes, n, MSG_NOSIGNAL);
	while (got < sizeof(r->text) - 1 &&
	       (k = recv(fd, r->text + got, sizeof(r->text) - 1 - got, 0)) > 0)
		got += (size_t)k;
	close(fd);
	if (sscanf(r->text, "HTTP/1.1 %d", &r->status) != 1)
		r->status = 0;
	return r->status;
}

/* ---- a keep-alive upstream: a thread per connection, requests in a loop ---- */

struct ka {
	int lfd, port;
	atomic_int accepts, requests, stop;
	atomic_int drop_reused;	   /* this many requests on a used connection: closed unanswered */
	atomic_int close_after_ms; /* after an answer, close the connection that much later */
	atomic_int released;	   /* connections that saw the proxy close mid-request */
	atomic_int closed_idle;	   /* connections closed by close_after_ms */
};

struct reader {
	int fd;
	char buf[65536];
	size_t off, len;
};

static int rd_more(struct reader *r)
{
	ssize_t n;

	if (r->off == r->len)
		r->off = r->len = 0;
	if (r->len == sizeof(r->buf))
		return -1;
	n = recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, 0);
	if (n <= 0)
		return -1;
	r->len += (size_t)n;
	return 0;
}

/* A line without its CRLF into out (size bytes); -1 at EOF. */
static int rd_line(struct reader *r, char *out, size_t size)
{
	char *lf;
	size_t n;

	while (!(lf = memchr(r->buf + r->off, '\n', r->len - r->off)))
		if (rd_more(r))
			return -1;
	n = (size_t)(lf - (r->buf + r->off));
	if (n && lf[-1] == '\r')
		n--;
	snprintf(out, size, "%.*s", (int)n, r->buf + r->off);
	r->off = (size_t)(lf + 1 - r->buf);
	return 0;
}

/* n bytes into out (NULL: dropped); -1 at EOF. */
static int rd_bytes(struct reader *r, char *out, size_t n)
{
	size_t k;

	while (n) {
		if (r->off == r->len && rd_more(r))
			return -1;
		k = r->len - r->off < n ? r->len - r->off : n;
		if (out) {
			memcpy(out, r->buf + r->off, k);
			out += k;
		}
		r->off += k;
		n -= k;
	}
	return 0;
}

struct message {
	char head[4096]; /* the start line and headers, CRLF each */
	int status;
	long long length; /* Content-Length, -1 none */
	int chunked;
	char body[65536];
	size_t blen;
	char trailer[256];
};

/* A head into m (the blank line read); -1 at EOF. */
static int rd_head(struct reader *r, struct message *m)
{
	char line[2048];
	size_t hl = 0;

	memset(m, 0, sizeof(*m));
	m->length = -1;
	for (;;) {
		if (rd_line(r, line, sizeof(line)))
			return -1;
		if (!line[0])
			break;
		hl += (size_t)snprintf(m->head + hl, sizeof(m->head) - hl, "%s\r\n", line);
		if (hl >= sizeof(m->head))
			hl = sizeof(m->head) - 1;
		if (strncasecmp(line, "Content-Length:", 15) == 0)
			m->length = atoll(line + 15);
		if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 && strstr(line, "chunked"))
			m->chunked = 1;
	}
	sscanf(m->head, "HTTP/1.%*d %d", &m->status);
	return 0;
}

/* The body m's head announces (chunked decoded, its trailer kept); -1 at EOF. */
static int rd_body(struct reader *r, struct message *m)
{
	char line[256];
	long size;

	if (!m->chunked) {
		if (m->length < 0 || (size_t)m->length >= sizeof(m->body))
			return m->length < 0 ? 0 : -1;
		m->blen = (size_t)m->length;
		return rd_bytes(r, m->body, m->blen);
	}
	for (;;) {
		if (rd_line(r, line, sizeof(line)))
			return -1;
		size = strtol(line, NULL, 16);
		if (size == 0)
			break;
		if (m->blen + (size_t)size >= sizeof(m->body) ||
		    rd_bytes(r, m->body + m->blen, (size_t)size) || rd_line(r, line, sizeof(line)))
			return -1;
		m->blen += (size_t)size;
	}
	for (;;) { /* trailers up to the blank line */
		if (rd_line(r, line, sizeof(line)))
			return -1;
		if (!line[0])
			return 0;
		snprintf(m->trailer, sizeof(m->trailer), "%s", line);
	}
}

static void send_all(int fd, const char *s, size_t n)
{
	ssize_t k;

	while (n && (k = send(fd, s, n, MSG_NOSIGNAL)) > 0) {
		s += k;
		n -= (size_t)k;
	}
}

static void send_str(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
}

struct ka_conn {
	struct ka *ka;
	int fd;
};

static void *ka_conn_main(void *arg)
{
	struct ka_conn *kc = arg;
	struct ka *ka = kc->ka;
	static __thread struct reader r;
	static __thread struct message m;
	struct timeval tv = {3, 0};
	char reply[1024], body[512], method[16] = "", path[256] = "", chunk[32];
	int nreq = 0, delay;
	size_t i;

	r.fd = kc->fd;
	r.off = r.len = 0;
	setsockopt(r.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (!atomic_load(&ka->stop) && rd_head(&r, &m) == 0) {
		nreq++;
		atomic_fetch_add(&ka->requests, 1);
		sscanf(m.head, "%15s %255s", method, path);
		if (nreq >= 2 && atomic_load(&ka->drop_reused) > 0) {
			atomic_fetch_sub(&ka->drop_reused, 1);
			break; /* closed as if its keep-alive timeout had just passed */
		}
		if (strstr(m.head, "Expect: 100-continue\r\n"))
			send_str(r.fd, "HTTP/1.1 100 Continue\r\n\r\n");
		if (rd_body(&r, &m)) {
			atomic_fetch_add(&ka->released, 1); /* the proxy closed mid-body */
			break;
		}
		if (strcmp(path, "/stall") == 0) {
			/* no answer: the proxy closing is what the test waits for */
			if (recv(r.fd, chunk, 1, 0) == 0)
				atomic_fetch_add(&ka->released, 1);
			break;
		}
		if (strcmp(path, "/ws") == 0) {
			ssize_t n;

			send_str(r.fd, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
				       "Connection: Upgrade\r\n\r\n");
			if (r.len > r.off)
				send_all(r.fd, r.buf + r.off, r.len - r.off);
			while ((n = recv(r.fd, r.buf, sizeof(r.buf), 0)) > 0)
				send_all(r.fd, r.buf, (size_t)n);
			break;
		}
		if (strcmp(method, "HEAD") == 0) {
			send_str(r.fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
		} else if (strcmp(path, "/204") == 0) {
			send_str(r.fd, "HTTP/1.1 204 No Content\r\n\r\n");
		} else if (strcmp(path, "/304") == 0) {
			send_str(r.fd, "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n");
		} else if (strcmp(path, "/chunked") == 0) {
			/* the body back in chunks of 7, and a trailer */
			send_str(r.fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
			for (i = 0; i < m.blen; i += 7) {
				size_t k = m.blen - i < 7 ? m.blen - i : 7;

				snprintf(chunk, sizeof(chunk), "%zx\r\n", k);
				send_str(r.fd, chunk);
				send_all(r.fd, m.body + i, k);
				send_str(r.fd, "\r\n");
			}
			snprintf(reply, sizeof(reply), "0\r\nX-Echo-Bytes: %zu\r\n\r\n", m.blen);
			send_str(r.fd, reply);
		} else {
			snprintf(body, sizeof(body), "n=%d bytes=%zu trailer=%s\n", nreq, m.blen,
				 m.trailer);
			snprintf(reply, sizeof(reply),
				 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(body),
				 body);
			send_str(r.fd, reply);
		}
		if ((delay = atomic_load(&ka->close_after_ms)) > 0) {
			atomic_store(&ka->close_after_ms, 0);
			sleep_ms(delay);
			close(r.fd);
			atomic_fetch_add(&ka->closed_idle, 1);
			free(kc);
			return NULL;
		}
	}
	close(r.fd);
	free(kc);
	return NULL;
}

static void *ka_main(void *arg)
{
	struct ka *ka = arg;
	struct ka_conn *kc;
	pthread_t t;
	int fd;

	while (!atomic_load(&ka->stop)) {
		fd = accept(ka->lfd, NULL, NULL);
		if (fd < 0 || atomic_load(&ka->stop)) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		atomic_fetch_add(&ka->accepts, 1);
		kc = malloc(sizeof(*kc));
		kc->ka = ka;
		kc->fd = fd;
		if (pthread_create(&t, NULL, ka_conn_main, kc) == 0)
			pthread_detach(t);
	}
	return NULL;
}

/* A client connection to the proxy, reading with a 3 s timeout. */
static struct reader *client(int port)
{
	static struct reader readers[4];
	static int next;
	struct reader *r = &readers[next++ % 4];
	struct timeval tv = {3, 0};

	r->fd = connect_to(port);
	r->off = r->len = 0;
	if (r->fd >= 0)
		setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return r;
}

/* Sends req on r and reads one final answer into m (interim ones skipped,
 * counted in *interim when not NULL); its status, or -1. */
static int call(struct reader *r, const char *req, int head_method, struct message *m)
{
	send_str(r->fd, req);
	if (rd_head(r, m))
		return -1;
	if (!head_method && m->status != 204 && m->status != 304 && m->status != 101 &&
	    rd_body(r, m))
		return -1;
	return m->status;
}

/* The value of a metric line (its name and labels exactly), or -1. */
static long long metric(int admin, const char *series)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	struct reply r;
	char want[512];
	const char *at;

	raw(admin, req, sizeof(req) - 1, &r);
	snprintf(want, sizeof(want), "\n%s ", series);
	at = strstr(r.text, want);
	return at ? atoll(at + strlen(want)) : -1;
}

/* Keep-alive on both sides, the pool, framing, 1xx, Upgrade, clients gone. */
static void test_keep_alive(int port, int admin, struct ka *ka)
{
	static struct message m;
	struct reader *c = client(port), *c2;
	int accepts, i, ok = 1, fails0, closed;
	static const char get_req[] = "GET /k HTTP/1.1\r\nHost: x\r\n\r\n";

	fails0 = (int)metric(admin, "breakwater_proxy_calls_total{dependency=\"catalog\","
				    "outcome=\"failure\"}");
	/* five calls on one client connection: one upstream connection */
	for (i = 1; i <= 5; i++) {
		char want[32];

		snprintf(want, sizeof(want), "n=%d ", i);
		ok &= call(c, get_req, 0, &m) == 200 && strstr(m.body, want) &&
		      strstr(m.head, "Connection: keep-alive\r\n");
	}
	CHECK(ok, "keep-alive: five calls on one client connection, the fifth is the upstream "
		  "connection's fifth request");
	CHECK_INT(1, atomic_load(&ka->accepts), "keep-alive: one upstream connection accepted");
	/* a second client connection takes the pooled upstream connection */
	close(c->fd);
	c = client(port);
	CHECK_INT(200, call(c, get_req, 0, &m), "pool: a new client connection is answered");
	CHECK(strstr(m.body, "n=6 ") != NULL, "pool: on the upstream connection of the first");
	CHECK_INT(1, atomic_load(&ka->accepts), "pool: still one upstream connection");
	CHECK_INT(5,
		  metric(admin, "breakwater_proxy_upstream_connections_total{dependency="
				"\"catalog\",how=\"reused\"}"),
		  "metrics: five calls on a pooled connection");

	/* the upstream closes its idle connection: dropped from the pool, no failure */
	atomic_store(&ka->close_after_ms, 50);
	closed = atomic_load(&ka->closed_idle);
	CHECK_INT(200, call(c, get_req, 0, &m), "pool: an answer, then the upstream closes");
	for (i = 0; i < 500 && atomic_load(&ka->closed_idle) == closed; i++)
		sleep_ms(10);
	CHECK_INT(closed + 1, atomic_load(&ka->closed_idle), "pool: the upstream closed it");
	sleep_ms(50); /* its FIN reaches the proxy's end of the loopback connection */
	CHECK_INT(200, call(c, get_req, 0, &m), "pool: the next call on a new connection");
	CHECK(strstr(m.body, "n=1 ") != NULL, "pool: it is the new connection's first request");
	CHECK_INT(2, atomic_load(&ka->accepts), "pool: a second upstream connection");
	CHECK_INT(0, metric(admin, "breakwater_proxy_retries_total{dependency=\"catalog\"}"),
		  "pool: the closed one was dropped before use (no retry)");

	/* the upstream closes a pooled connection as the request arrives */
	accepts = atomic_load(&ka->accepts);
	atomic_store(&ka->drop_reused, 1);
	CHECK_INT(200, call(c, get_req, 0, &m),
		  "retry: a GET on a connection the upstream "
		  "closed unanswered is sent again");
	CHECK(strstr(m.body, "n=1 ") != NULL, "retry: on a new connection");
	CHECK_INT(accepts + 1, atomic_load(&ka->accepts), "retry: one more upstream connection");
	CHECK_INT(1, metric(admin, "breakwater_proxy_retries_total{dependency=\"catalog\"}"),
		  "retry: counted");
	CHECK_INT(fails0,
		  metric(admin, "breakwater_proxy_calls_total{dependency=\"catalog\","
				"outcome=\"failure\"}"),
		  "retry: not a failure of the dependency");
	atomic_store(&ka->drop_reused, 1);
	accepts = atomic_load(&ka->accepts);
	CHECK_INT(502,
		  call(c, "POST /k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 0, &m),
		  "no retry: a POST with a body gets 502");
	CHECK_INT(accepts, atomic_load(&ka->accepts), "no retry: no new upstream connection");
	CHECK_INT(1, metric(admin, "breakwater_proxy_retries_total{dependency=\"catalog\"}"),
		  "no retry: the count stays");
	close(c->fd);

	/* chunked up (with a trailer) and down, then the connection serves again */
	c = client(port);
	CHECK_INT(
	    200,
	    call(c,
		 "POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "5\r\nhello\r\n1;ext=1\r\n,\r\n10\r\n the chunked way\r\n0\r\nX-Sum: 22\r\n\r\n",
		 0, &m),
	    "chunked both ways: 200");
	CHECK(m.chunked && m.blen == 22 && memcmp(m.body, "hello, the chunked way", 22) == 0,
	      "chunked both ways: the body back, decoded (%zu bytes)", m.blen);
	CHECK_STR("X-Echo-Bytes: 22", m.trailer, "chunked both ways: the answer's trailer passes");
	accepts = atomic_load(&ka->accepts);
	CHECK_INT(200,
		  call(c,
		       "POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		       "3\r\nabc\r\n0\r\nX-Sum: 3\r\n\r\n",
		       0, &m),
		  "chunked up: 200");
	CHECK(strstr(m.body, "bytes=3 trailer=X-Sum: 3") != NULL,
	      "chunked up: the body and its trailer arrived (%s)", m.body);
	CHECK_INT(200,
		  call(c, "POST /l HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd", 0, &m),
		  "Content-Length up, then the same connections");
	CHECK(strstr(m.body, "bytes=4 ") != NULL, "Content-Length up: four bytes arrived");

	/* answers without a body: HEAD (with a Content-Length), 204, 304 */
	CHECK(call(c, "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n", 1, &m) == 200 && m.length == 1000,
	      "HEAD: 200 with the Content-Length of the body not sent");
	CHECK_INT(204, call(c, "GET /204 HTTP/1.1\r\nHost: x\r\n\r\n", 0, &m), "204");
	CHECK_INT(304, call(c, "GET /304 HTTP/1.1\r\nHost: x\r\n\r\n", 0, &m), "304");
	CHECK_INT(200, call(c, get_req, 0, &m),
		  "after HEAD, 204, 304 the connection serves again (no body was waited for)");
	CHECK_INT(accepts, atomic_load(&ka->accepts),
		  "all of them on one upstream connection (framing followed)");

	/* two requests in one write: two answers, in order */
	send_str(c->fd, "GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2 HTTP/1.1\r\nHost: x\r\n\r\n");
	ok = rd_head(c, &m) == 0 && m.status == 200 && rd_body(c, &m) == 0;
	ok &= rd_head(c, &m) == 0 && m.status == 200 && rd_body(c, &m) == 0;
	CHECK(ok, "pipelined: two answers");

	/* 100-continue: the interim answer passes, then the body goes */
	send_str(c->fd, "POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
			"Content-Length: 5\r\n\r\n");
	CHECK(rd_head(c, &m) == 0 && m.status == 100, "100 Continue passed to the client");
	send_str(c->fd, "12345");
	CHECK(rd_head(c, &m) == 0 && m.status == 200 && rd_body(c, &m) == 0 &&
		  strstr(m.body, "bytes=5 "),
	      "100-continue: then the final answer, the body arrived");
	close(c->fd);

	/* Upgrade: 101 passed, then a tunnel */
	c = client(port);
	CHECK_INT(101,
		  call(c,
		       "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: "
		       "Upgrade\r\n\r\n",
		       0, &m),
		  "Upgrade: 101 passed");
	CHECK(strstr(m.head, "Upgrade: websocket\r\n") && strstr(m.head, "Connection: upgrade\r\n"),
	      "Upgrade: the answer keeps Upgrade and Connection: upgrade");
	send_str(c->fd, "ping over the tunnel");
	{
		char echo[32] = "";

		CHECK(rd_bytes(c, echo, 20) == 0 && memcmp(echo, "ping over the tunnel", 20) == 0,
		      "Upgrade: bytes pass both ways");
	}
	close(c->fd);

	/* the client gone: mid-body, and while waiting for the answer */
	atomic_store(&ka->released, 0);
	c = client(port);
	send_str(c->fd, "POST /k HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n0123456789");
	sleep_ms(100);
	close(c->fd);
	for (i = 0; i < 100 && atomic_load(&ka->released) < 1; i++)
		sleep_ms(10);
	CHECK_INT(1, atomic_load(&ka->released),
		  "client gone mid-body: the upstream connection is closed (%d ms)", i * 10);
	c2 = client(port);
	send_str(c2->fd, "GET /stall HTTP/1.1\r\nHost: x\r\n\r\n");
	sleep_ms(100);
	close(c2->fd);
	for (i = 0; i < 100 && atomic_load(&ka->released) < 2; i++)
		sleep_ms(10);
	CHECK_INT(2, atomic_load(&ka->released),
		  "client gone before the answer: the upstream connection is closed (%d ms)",
		  i * 10);
}

struct bg_get {
	int port;
	struct reply r;
	pthread_t thread;
};

static void *bg_main(void *arg)
{
	struct bg_get *g = arg;

	get(g->port, &g->r);
	return NULL;
}

static void *proxy_main(void *arg)
{
	bw_proxy_run(arg);
	return NULL;
}

static const char *policy_json =
    "{\"namespace\": \"shop\", \"breakers\": {"
    "\"payments-breaker\": {\"target\": \"payments\", \"generation\": 1, "
    "\"failureThreshold\": 3, \"minimumCalls\": 100, \"openSeconds\": 1, "
    "\"maxOpenSeconds\": 10, \"backoffMultiplier\": 2, \"halfOpenCalls\": 1, \"mode\": "
    "\"Enforce\"},"
    "\"users\": {\"target\": \"users\", \"failureThreshold\": 2, \"openSeconds\": 60},"
    "\"orders-breaker\": {\"target\": \"orders\", \"failureThreshold\": 1, \"mode\": "
    "\"MetricsOnly\"}}}";

/* The kubelet's layout: breakers.json -> ..data/breakers.json, ..data -> ..TS. */
static void write_config(const char *dir, const char *version, const char *text)
{
	char path[512], link_tmp[512], data[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/..%s", dir, version);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/..%s/breakers.json", dir, version);
	f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	snprintf(link_tmp, sizeof(link_tmp), "%s/..data_tmp", dir);
	snprintf(data, sizeof(data), "..%s", version);
	unlink(link_tmp);
	CHECK(symlink(data, link_tmp) == 0, "config %s: ..data_tmp symlink", version);
	snprintf(path, sizeof(path), "%s/..data", dir);
	CHECK(rename(link_tmp, path) == 0, "config %s: ..data swapped atomically", version);
	snprintf(path, sizeof(path), "%s/breakers.json", dir);
	if (access(path, F_OK) != 0)
		CHECK(symlink("..data/breakers.json", path) == 0, "breakers.json symlink");
}

static int has(const struct reply *r, const char *s)
{
	return strstr(r->text, s) != NULL;
}

int main(void)
{
	struct upstream u = {0};
	struct ka ka = {0};
	char ka_url[64];
	struct bw_proxy *p = NULL;
	struct bw_error err = {0};
	struct reply r;
	struct bg_get trial;
	pthread_t pt;
	char dir[] = "/tmp/bw-proxy-test-XXXXXX", file[512], url[64], dead_url[64];
	int dead_fd, dead_port, port, users_port, orders_port, i, before;

	signal(SIGPIPE, SIG_IGN);
	bw_log_configure(BW_LOG_WARN, BW_LOG_TEXT, NULL);
	u.lfd = listen_loopback(&u.port);
	CHECK(u.lfd >= 0, "upstream listens");
	/* a port nothing listens on: bound, then closed */
	dead_fd = listen_loopback(&dead_port);
	close(dead_fd);
	atomic_store(&u.stall_ms, 2000);
	pthread_create(&u.thread, NULL, upstream_main, &u);
	ka.lfd = listen_loopback(&ka.port);
	CHECK(ka.lfd >= 0, "keep-alive upstream listens");
	snprintf(ka_url, sizeof(ka_url), "http://127.0.0.1:%d", ka.port);
	{
		pthread_t t;

		pthread_create(&t, NULL, ka_main, &ka);
		pthread_detach(t);
	}
	CHECK(mkdtemp(dir) != NULL, "temp dir");
	write_config(dir, "v1", policy_json);
	snprintf(file, sizeof(file), "%s/breakers.json", dir);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", u.port);
	snprintf(dead_url, sizeof(dead_url), "http://127.0.0.1:%d/", dead_port);

	{
		struct bw_proxy_dependency deps[] = {{"payments", 0, url},
						     {"users", 0, dead_url},
						     {"orders", 0, dead_url},
						     {"catalog", 0, ka_url}};
		struct bw_proxy_options o = {.deps = deps,
					     .ndeps = 4,
					     .breakers_file = file,
					     .request_timeout_ms = 1000,
					     .admin_address = "127.0.0.1:0",
					     .connect_timeout_ms = 500};

		CHECK_INT(0, bw_proxy_new(&o, &p, &err), "proxy starts (%s)", err.message);
	}
	if (!p)
		return check_exit();
	port = bw_proxy_port(p, 0);
	users_port = bw_proxy_port(p, 1);
	orders_port = bw_proxy_port(p, 2);
	pthread_create(&pt, NULL, proxy_main, p);

	/* CLOSED: forwarded, head rewritten */
	CHECK_INT(200, get(port, &r), "CLOSED: 200 from the upstream");
	CHECK(has(&r, "\r\n\r\nok\n"), "CLOSED: the upstream's body");
	CHECK(has(&r, "Connection: close\r\n") && !has(&r, "keep-alive"),
	      "the client asked to close: the answer says so, the upstream's keep-alive is gone");
	CHECK_INT(1, atomic_load(&u.requests), "the upstream got the request");
	{
		char host[64];

		snprintf(host, sizeof(host), "Host: 127.0.0.1:%d\r\n", u.port);
		CHECK(strstr(u.last_head, "GET /api/pay HTTP/1.1\r\n") == u.last_head,
		      "the request line passes as it is");
		CHECK(strstr(u.last_head, host) != NULL, "Host names the upstream");
		CHECK(strstr(u.last_head, "X-Trace: 7\r\n") != NULL, "other headers pass");
		CHECK(strstr(u.last_head, "Connection: keep-alive\r\n") != NULL &&
			  !strstr(u.last_head, "close"),
		      "the upstream is asked to keep the connection (the client's close is "
		      "hop-by-hop)");
	}

	/* heads the proxy answers itself, forwarding nothing */
	{
		static const char h2[] = "GET / HTTP/2.0\r\nHost: x\r\n\r\n";
		static char big[17000];

		CHECK_INT(400, raw(port, h2, sizeof(h2) - 1, &r), "not HTTP/1: 400");
		memcpy(big, "GET / HTTP/1.1\r\nX: ", 20);
		memset(big + 20, 'a', sizeof(big) - 20);
		CHECK_INT(431, raw(port, big, sizeof(big), &r), "a head over 16 KiB: 431");
		CHECK_INT(1, atomic_load(&u.requests), "none of them was forwarded");
	}

	/* three failures of three kinds open it (failureThreshold 3) */
	atomic_store(&u.mode, FAIL);
	CHECK_INT(500, get(port, &r), "a 500 passes through (failure 1)");
	atomic_store(&u.mode, RESET);
	CHECK_INT(502, get(port, &r), "a reset gives 502 (failure 2)");
	CHECK(has(&r, "\"dependency\":\"payments\""), "the 502 body names the dependency");
	atomic_store(&u.mode, STALL);
	CHECK_INT(504, get(port, &r), "a stalled upstream gives 504 after the request timeout");
	CHECK_INT(4, atomic_load(&u.requests), "all four were forwarded");

	/* OPEN: fast-fail, never forwarded */
	for (i = 0; i < 5; i++)
		get(port, &r);
	CHECK_INT(503, r.status, "OPEN: 503");
	CHECK(has(&r, "Retry-After: 1\r\n"), "OPEN: Retry-After: 1 (openSeconds 1)");
	CHECK(has(&r, "breakwater-breaker: payments-breaker; state=OPEN\r\n"),
	      "OPEN: the breakwater-breaker header");
	CHECK(has(&r, "\"error\":\"circuit open\"") && has(&r, "\"breaker\":\"payments-breaker\""),
	      "OPEN: a JSON body naming the breaker");
	CHECK_INT(4, atomic_load(&u.requests), "OPEN: nothing forwarded");

	/* the admin endpoint */
	{
		static const char metrics[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
		static const char healthz[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
		static const char readyz[] = "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n";
		static const char nope[] = "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
		static const char post[] = "POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
		static const char *const want[] = {
		    "breakwater_proxy_breaker_state{dependency=\"payments\",breaker=\"payments-"
		    "breaker\",state=\"OPEN\"} 1\n",
		    "breakwater_proxy_breaker_state{dependency=\"payments\",breaker=\"payments-"
		    "breaker\",state=\"CLOSED\"} 0\n",
		    "breakwater_proxy_breaker_transitions_total{dependency=\"payments\",breaker="
		    "\"payments-breaker\"} 1\n",
		    "breakwater_proxy_calls_total{dependency=\"payments\",outcome=\"success\"} 1\n",
		    "breakwater_proxy_calls_total{dependency=\"payments\",outcome=\"failure\"} 3\n",
		    "breakwater_proxy_calls_total{dependency=\"payments\",outcome=\"refused\"} 5\n",
		    "breakwater_proxy_call_duration_seconds_count{dependency=\"payments\"} 4\n",
		    "breakwater_proxy_call_duration_seconds_bucket{dependency=\"payments\",le=\"+"
		    "Inf\"} "
		    "4\n",
		    "breakwater_proxy_calls_total{dependency=\"users\",outcome=\"success\"} 0\n",
		};
		int admin = bw_proxy_admin_port(p);
		size_t w;

		CHECK(admin > 0, "admin: listening");
		CHECK_INT(200, raw(admin, metrics, sizeof(metrics) - 1, &r), "admin: /metrics");
		CHECK(has(&r, "Content-Type: text/plain; version=0.0.4\r\n"),
		      "admin: Prometheus text");
		for (w = 0; w < sizeof(want) / sizeof(want[0]); w++)
			CHECK(has(&r, want[w]), "metrics: %.*s", (int)strlen(want[w]) - 1, want[w]);
		CHECK_INT(200, raw(admin, healthz, sizeof(healthz) - 1, &r), "admin: /healthz");
		CHECK_INT(200, raw(admin, readyz, sizeof(readyz) - 1, &r), "admin: /readyz");
		CHECK_INT(404, raw(admin, nope, sizeof(nope) - 1, &r), "admin: 404 elsewhere");
		CHECK_INT(405, raw(admin, post, sizeof(post) - 1, &r), "admin: GET only");
	}

	/* HALF_OPEN: the trial fails, OPEN again for 2 s (back-off) */
	sleep_ms(1500); /* the stalled request is over too */
	atomic_store(&u.mode, FAIL);
	CHECK_INT(500, get(port, &r), "HALF_OPEN: the trial is forwarded");
	CHECK_INT(5, atomic_load(&u.requests), "HALF_OPEN: one request reached the upstream");
	CHECK_INT(503, get(port, &r), "the failed trial opens it again");
	CHECK(has(&r, "Retry-After: 2\r\n"), "the back-off doubles the open time: Retry-After: 2");

	/* HALF_OPEN again: a slow trial in flight, a second call refused, then CLOSED */
	sleep_ms(2100);
	atomic_store(&u.slow_held, 1);
	atomic_store(&u.mode, SLOW);
	trial.port = port;
	pthread_create(&trial.thread, NULL, bg_main, &trial);
	before = 0;
	for (i = 0; i < 500 && !before; i++) { /* until the trial reached the upstream */
		sleep_ms(10);
		before = atomic_load(&u.requests) == 6;
	}
	CHECK(before, "HALF_OPEN: the trial reached the upstream");
	CHECK_INT(503, get(port, &r), "HALF_OPEN: a call beside the trial is refused");
	CHECK(has(&r, "breakwater-breaker: payments-breaker; state=HALF_OPEN\r\n"),
	      "HALF_OPEN: the header says so");
	atomic_store(&u.slow_held, 0);
	pthread_join(trial.thread, NULL);
	CHECK_INT(200, trial.r.status, "HALF_OPEN: the trial succeeds");
	atomic_store(&u.mode, OK);
	CHECK_INT(200, get(port, &r), "CLOSED again: forwarded");
	atomic_store(&u.mode, FAIL);
	get(port, &r);
	get(port, &r);
	CHECK_INT(500, get(port, &r), "CLOSED: the run of failures starts from zero");
	CHECK_INT(503, get(port, &r), "three failures open it again");
	CHECK(has(&r, "Retry-After: 1\r\n"), "closing reset the back-off: Retry-After: 1");

	/* connection refused counts as a failure (users: failureThreshold 2) */
	CHECK_INT(502, get(users_port, &r), "refused: 502");
	CHECK(has(&r, "connection refused"), "refused: the body says so");
	CHECK_INT(502, get(users_port, &r), "refused again: 502");
	CHECK_INT(503, get(users_port, &r), "users: OPEN after two refusals");
	CHECK(has(&r, "breakwater-breaker: users; state=OPEN\r\n"), "users: its own breaker");

	/* MetricsOnly (orders, failureThreshold 1): OPEN, and still forwarded */
	CHECK_INT(502, get(orders_port, &r), "MetricsOnly: a refused connection, 502");
	CHECK_INT(502, get(orders_port, &r), "MetricsOnly: OPEN now, but still forwarded");
	CHECK(!has(&r, "breakwater-breaker"), "MetricsOnly: no breaker answer");
	{
		static const char metrics[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";

		raw(bw_proxy_admin_port(p), metrics, sizeof(metrics) - 1, &r);
		CHECK(has(&r, "breakwater_proxy_would_refuse_total{dependency=\"orders\"} 1\n"),
		      "metrics: MetricsOnly counted the call Enforce would have refused");
		CHECK(has(&r, "breakwater_proxy_breaker_state{dependency=\"orders\",breaker="
			      "\"orders-breaker\",state=\"OPEN\"} 1\n"),
		      "metrics: MetricsOnly computed OPEN");
	}

	/* the client gone before the answer: its trial is ignored and its slot freed */
	sleep_ms(1100); /* payments opened 1 s ago (above): the next call is a trial */
	atomic_store(&u.stall_ms, 300);
	atomic_store(&u.mode, STALL);
	before = atomic_load(&u.requests);
	{
		static const char req[] = "GET /gone HTTP/1.1\r\nHost: x\r\n\r\n";
		int fd = connect_to(port);

		CHECK(fd >= 0 && send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) > 0,
		      "gone: the trial is sent");
		for (i = 0; i < 500 && atomic_load(&u.requests) == before; i++)
			sleep_ms(10);
		CHECK_INT(before + 1, atomic_load(&u.requests), "gone: the trial was forwarded");
		if (fd >= 0)
			close(fd);
	}
	sleep_ms(400); /* the upstream's stall is over */
	atomic_store(&u.mode, OK);
	CHECK_INT(200, get(port, &r),
		  "gone: the next call is the trial (not 503: the gone client counted nowhere)");
	CHECK_INT(200, get(port, &r), "gone: the trial closed the circuit");

	/* hot reload through a ..data swap: payments ForcedOpen, users unprotected */
	write_config(dir, "v2",
		     "{\"namespace\": \"shop\", \"breakers\": {\"payments-breaker\": {\"target\": "
		     "\"payments\", \"generation\": 2, \"mode\": \"ForcedOpen\"}}}");
	for (i = 0; i < 30 && get(port, &r) != 503; i++)
		sleep_ms(100);
	CHECK_INT(503, r.status, "reload: ForcedOpen refuses within 3 s (%d tries)", i + 1);
	CHECK(has(&r, "Retry-After: 60\r\n"), "reload: the new policy's openSeconds (default 60)");
	{ /* a refusal keeps the connection of a request without a body, not of one with */
		static struct message m;
		struct reader *c = client(port);
		int ok = 1;

		for (i = 0; i < 3; i++)
			ok &= call(c, "GET /r HTTP/1.1\r\nHost: x\r\n\r\n", 0, &m) == 503 &&
			      strstr(m.head, "Connection: keep-alive\r\n") != NULL;
		CHECK(ok, "refusals: three 503s on one connection, each saying keep-alive");
		CHECK_INT(
		    503, call(c, "POST /r HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n", 0, &m),
		    "refusal of a request whose body is still to come: 503");
		CHECK(strstr(m.head, "Connection: close\r\n") != NULL,
		      "... and the connection closes after it");
		close(c->fd);
	}
	CHECK_INT(502, get(users_port, &r),
		  "reload: users lost its breaker: forwarded (to a dead port), not 503");
	write_config(dir, "v3", "{\"namespace\": \"shop\", \"breakers\": {}}");
	for (i = 0; i < 30 && get(port, &r) != 200; i++)
		sleep_ms(100);
	CHECK_INT(200, r.status, "reload: no Breaker left, payments is forwarded");

	/* streaming: 128 MiB up and 128 MiB down, chunked, in bounded memory */
	{
		long hwm = hwm_kib(), grew;
		long long got, want_raw;
		int status, ends;
		char want[64];

		atomic_store(&u.mode, UPLOAD);
		stream_upload(port, &r);
		snprintf(want, sizeof(want), "\r\n\r\n%lld %lld\n", STREAM_BYTES, STREAM_BYTES);
		CHECK_INT(200, r.status, "upload: 200");
		CHECK(has(&r, want), "upload: every byte arrived, in order");
		atomic_store(&u.mode, DOWNLOAD);
		got = stream_download(port, &status, &ends);
		want_raw = (STREAM_BYTES / STREAM_CHUNK) * (5 + 2 + STREAM_CHUNK + 2) + 5;
		CHECK_INT(200, status, "download: 200");
		CHECK_INT(want_raw, got, "download: every chunked byte passed");
		CHECK(ends, "download: it ends with the last chunk");
		grew = hwm_kib() - hwm;
		CHECK(hwm > 0 && grew < 32 * 1024,
		      "streaming 256 MiB raised peak memory by %ld KiB (< 32 MiB)", grew);
	}

	/* an answer that pauses longer than the request timeout is cut */
	{
		struct timespec t0, t1;
		long ms;

		atomic_store(&u.stall_ms, 2500);
		atomic_store(&u.mode, PAUSE);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		CHECK_INT(200, get(port, &r), "paused answer: its head passed");
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		CHECK(has(&r, "\r\n\r\nabc") && !has(&r, "abcd"), "paused answer: the part sent");
		CHECK(ms >= 900 && ms < 2300, "paused answer: cut after the 1 s timeout (%ld ms)",
		      ms);
		sleep_ms(1700); /* the upstream's pause is over */
	}

	test_keep_alive(bw_proxy_port(p, 3), bw_proxy_admin_port(p), &ka);

	/* stop: the listeners close, a call in flight finishes */
	atomic_store(&u.slow_held, 1);
	atomic_store(&u.mode, SLOW);
	before = atomic_load(&u.requests);
	trial.port = port;
	pthread_create(&trial.thread, NULL, bg_main, &trial);
	for (i = 0; i < 500 && atomic_load(&u.requests) == before; i++)
		sleep_ms(10);
	CHECK(atomic_load(&u.requests) > before, "stopping: a call is in flight");
	bw_proxy_stop(p);
	sleep_ms(100);
	CHECK(get(port, &r) < 0, "stopping: new connections are refused");
	atomic_store(&u.slow_held, 0);
	pthread_join(trial.thread, NULL);
	CHECK_INT(200, trial.r.status, "stopping: the call in flight got its answer");
	pthread_join(pt, NULL);
	bw_proxy_free(p);
	atomic_store(&u.stop, 1);
	shutdown(u.lfd, SHUT_RDWR);
	close(u.lfd);
	pthread_join(u.thread, NULL);
	atomic_store(&ka.stop, 1);
	shutdown(ka.lfd, SHUT_RDWR);
	close(ka.lfd);
	{
		char rm[600];

		snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
		CHECK(system(rm) == 0, "the temp dir is removed");
	}
	return check_exit();
}
