/*
 * The load generator of bench/proxy.sh: HTTP/1.1 GETs over keep-alive
 * connections to 127.0.0.1:PORT, at a fixed rate (open loop) or as fast as
 * the server answers (closed loop), and the latency of every answer.
 *
 *   proxy_load --port P [--rate R] [--seconds S] [--warmup S] [--connections C]
 *
 * --rate R (requests per second): requests are due at fixed times and wait
 * for a free connection; a request's latency runs from its due time to the
 * last byte of its answer, so a server that falls behind shows it (no
 * coordinated omission). Without --rate, each connection sends its next
 * request when the answer to the last one is in. Every latency is kept (8
 * bytes each) and sorted at the end: exact percentiles.
 *
 * Prints one line: rate achieved, p50, p99, p99.9 and max in microseconds,
 * and the answers by status (2xx, 503, other) and errors. Without --port it
 * prints its usage and exits 0 (make bench runs every bench binary).
 *
 * One thread, epoll; answers must carry Content-Length (they are small).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 256

struct lconn {
	int fd;
	int busy;
	int64_t due; /* of the request in flight */
	char buf[8192];
	size_t len;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int open_conn(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* One complete answer at the start of c->buf: its length, or 0 when it is
 * not all here; *status set. -1: not an answer this tool reads. */
static long answer_len(const struct lconn *c, int *status)
{
	const char *end = memmem(c->buf, c->len, "\r\n\r\n", 4), *cl;
	long body;

	if (!end)
		return c->len == sizeof(c->buf) ? -1 : 0;
	if (sscanf(c->buf, "HTTP/1.%*d %d", status) != 1)
		return -1;
	cl = memmem(c->buf, (size_t)(end - c->buf), "Content-Length:", 15);
	if (!cl)
		cl = memmem(c->buf, (size_t)(end - c->buf), "content-length:", 15);
	body = cl ? atol(cl + 15) : -1;
	if (body < 0)
		return -1;
	return (size_t)(end + 4 - c->buf) + (size_t)body <= c->len ? (long)(end + 4 - c->buf) + body
								   : 0;
}

int main(int argc, char **argv)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
	static struct lconn conns[MAX_CONNS];
	struct epoll_event ev, events[MAX_CONNS];
	int port = 0, nconns = 16, i, n, status;
	double rate = 0, seconds = 5, warmup = 1;
	int64_t *lat = NULL, start, measure_from, end, next_due, interval = 0, now, *queue = NULL;
	size_t nlat = 0, caplat = 0, qhead = 0, qtail = 0, qcap = 1 << 20;
	long long ok = 0, s503 = 0, other = 0, errors = 0, counted = 0;
	int epfd;

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port") == 0)
			port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--rate") == 0)
			rate = atof(argv[i + 1]);
		else if (strcmp(argv[i], "--seconds") == 0)
			seconds = atof(argv[i + 1]);
		else if (strcmp(argv[i], "--warmup") == 0)
			warmup = atof(argv[i + 1]);
		else if (strcmp(argv[i], "--connections") == 0)
			nconns = atoi(argv[i + 1]);
	}
	if (!port) {
		printf("usage: proxy_load --port P [--rate R] [--seconds S] [--warmup S] "
		       "[--connections C]\n(bench/proxy.sh runs it)\n");
		return 0;
	}
	if (nconns < 1 || nconns > MAX_CONNS)
		nconns = 16;
	epfd = epoll_create1(0);
	for (i = 0; i < nconns; i++) {
		conns[i].fd = open_conn(port);
		if (conns[i].fd < 0) {
			fprintf(stderr, "proxy_load: cannot connect to 127.0.0.1:%d\n", port);
			return 1;
		}
		ev.events = EPOLLIN;
		ev.data.u32 = (uint32_t)i;
		epoll_ctl(epfd, EPOLL_CTL_ADD, conns[i].fd, &ev);
	}
	if (rate > 0) {
		interval = (int64_t)(1e9 / rate);
		queue = malloc(qcap * sizeof(*queue));
	}
	start = now_ns();
	measure_from = start + (int64_t)(warmup * 1e9);
	end = measure_from + (int64_t)(seconds * 1e9);
	next_due = start;
	for (;;) {
		struct timespec wait = {0, 0};

		now = now_ns();
		if (now >= end)
			break;
		while (interval && next_due <= now) {
			if (qtail - qhead < qcap)
				queue[qtail++ % qcap] = next_due;
			next_due += interval;
		}
		for (i = 0; i < nconns; i++) {
			struct lconn *c = &conns[i];

			if (c->busy || c->fd < 0)
				continue;
			if (interval && qhead == qtail)
				break;
			c->due = interval ? queue[qhead++ % qcap] : now;
			if (send(c->fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != sizeof(req) - 1) {
				errors++;
				continue;
			}
			c->busy = 1;
		}
		if (interval && next_due > now)
			wait.tv_nsec = next_due - now < 1000000 ? next_due - now : 1000000;
		else if (!interval)
			wait.tv_nsec = 1000000;
		n = epoll_pwait2(epfd, events, nconns, &wait, NULL);
		now = now_ns();
		for (i = 0; i < n; i++) {
			struct lconn *c = &conns[events[i].data.u32];
			ssize_t got = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
			long alen;

			if (got <= 0) {
				errors++;
				epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				c->fd = open_conn(port);
				c->busy = 0;
				c->len = 0;
				if (c->fd >= 0) {
					ev.events = EPOLLIN;
					ev.data.u32 = events[i].data.u32;
					epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
				}
				continue;
			}
			c->len += (size_t)got;
			alen = answer_len(c, &status);
			if (alen < 0) {
				errors++;
				c->len = 0;
				continue;
			}
			if (alen == 0)
				continue;
			memmove(c->buf, c->buf + alen, c->len - (size_t)alen);
			c->len -= (size_t)alen;
			c->busy = 0;
			if (c->due < measure_from)
				continue;
			counted++;
			if (status >= 200 && status < 300)
				ok++;
			else if (status == 503)
				s503++;
			else
				other++;
			if (nlat == caplat) {
				caplat = caplat ? caplat * 2 : 65536;
				lat = realloc(lat, caplat * sizeof(*lat));
				if (!lat)
					return 1;
			}
			lat[nlat++] = now - c->due;
		}
	}
	if (!nlat) {
		printf("achieved=0 p50_us=0 p99_us=0 p999_us=0 max_us=0 ok=0 s503=0 other=0 "
		       "errors=%lld\n",
		       errors);
		return 1;
	}
	qsort(lat, nlat, sizeof(*lat), cmp64);
	printf("achieved=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f ok=%lld "
	       "s503=%lld other=%lld errors=%lld queued=%zu\n",
	       counted / seconds, lat[nlat / 2] / 1e3, lat[(size_t)(nlat * 0.99)] / 1e3,
	       lat[(size_t)(nlat * 0.999)] / 1e3, lat[nlat - 1] / 1e3, ok, s503, other, errors,
	       qtail - qhead);
	return 0;
}
