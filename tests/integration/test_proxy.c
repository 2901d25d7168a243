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
 * MetricsOnly forwarding while OPEN; 400, 431 and 501 answered without
 * forwarding; /metrics (values after known calls), /healthz, /readyz;
 * stopping with a call in flight.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../unit/check.h"
#include "log.h"
#include "../../proxy/proxy.h"

enum mode { OK, FAIL, RESET, STALL, SLOW, UPLOAD, DOWNLOAD, PAUSE };

#define STREAM_BYTES (128LL * 1024 * 1024)
#define STREAM_CHUNK 65536

struct upstream {
	int lfd, port;
	atomic_int mode, requests, stop, stall_ms;
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

			if (atomic_load(&u->mode) == SLOW)
				sleep_ms(400);
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

/* GET / through the proxy on port; the whole answer (the proxy closes). */
static int get(int port, struct reply *r)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	static const char req[] = "GET /api/pay HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				  "Connection: keep-alive\r\nX-Trace: 7\r\n\r\n";
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
		 "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %lld\r\n\r\n", STREAM_BYTES);
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
	static const char req[] = "GET /download HTTP/1.1\r\nHost: x\r\n\r\n";
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
	CHECK(mkdtemp(dir) != NULL, "temp dir");
	write_config(dir, "v1", policy_json);
	snprintf(file, sizeof(file), "%s/breakers.json", dir);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", u.port);
	snprintf(dead_url, sizeof(dead_url), "http://127.0.0.1:%d/", dead_port);

	{
		struct bw_proxy_dependency deps[] = {
		    {"payments", 0, url}, {"users", 0, dead_url}, {"orders", 0, dead_url}};
		struct bw_proxy_options o = {.deps = deps,
					     .ndeps = 3,
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
	      "the answer says Connection: close, the upstream's keep-alive is gone");
	CHECK_INT(1, atomic_load(&u.requests), "the upstream got the request");
	{
		char host[64];

		snprintf(host, sizeof(host), "Host: 127.0.0.1:%d\r\n", u.port);
		CHECK(strstr(u.last_head, "GET /api/pay HTTP/1.1\r\n") == u.last_head,
		      "the request line passes as it is");
		CHECK(strstr(u.last_head, host) != NULL, "Host names the upstream");
		CHECK(strstr(u.last_head, "X-Trace: 7\r\n") != NULL, "other headers pass");
		CHECK(strstr(u.last_head, "Connection: close\r\n") != NULL &&
			  !strstr(u.last_head, "keep-alive"),
		      "the upstream is asked to close");
	}

	/* heads the proxy answers itself, forwarding nothing */
	{
		static const char h2[] = "GET / HTTP/2.0\r\nHost: x\r\n\r\n";
		static const char ws[] = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
					 "Connection: Upgrade\r\n\r\n";
		static char big[17000];

		CHECK_INT(400, raw(port, h2, sizeof(h2) - 1, &r), "not HTTP/1: 400");
		CHECK_INT(501, raw(port, ws, sizeof(ws) - 1, &r), "Upgrade: 501");
		CHECK(has(&r, "does not pass Upgrade"), "Upgrade: the body says why");
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
	atomic_store(&u.mode, SLOW);
	trial.port = port;
	pthread_create(&trial.thread, NULL, bg_main, &trial);
	before = 0;
	for (i = 0; i < 50 && !before; i++) { /* until the trial reached the upstream */
		sleep_ms(10);
		before = atomic_load(&u.requests) == 6;
	}
	CHECK_INT(503, get(port, &r), "HALF_OPEN: a call beside the trial is refused");
	CHECK(has(&r, "breakwater-breaker: payments-breaker; state=HALF_OPEN\r\n"),
	      "HALF_OPEN: the header says so");
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
		for (i = 0; i < 50 && atomic_load(&u.requests) == before; i++)
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

	/* stop: the listeners close, a call in flight finishes */
	atomic_store(&u.mode, SLOW);
	before = atomic_load(&u.requests);
	trial.port = port;
	pthread_create(&trial.thread, NULL, bg_main, &trial);
	for (i = 0; i < 50 && atomic_load(&u.requests) == before; i++)
		sleep_ms(10);
	bw_proxy_stop(p);
	sleep_ms(100);
	CHECK(get(port, &r) < 0, "stopping: new connections are refused");
	pthread_join(trial.thread, NULL);
	CHECK_INT(200, trial.r.status, "stopping: the call in flight got its answer");
	pthread_join(pt, NULL);
	bw_proxy_free(p);
	atomic_store(&u.stop, 1);
	shutdown(u.lfd, SHUT_RDWR);
	close(u.lfd);
	pthread_join(u.thread, NULL);
	{
		char rm[600];

		snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
		CHECK(system(rm) == 0, "the temp dir is removed");
	}
	return check_exit();
}
