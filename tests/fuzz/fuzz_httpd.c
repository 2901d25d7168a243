/*
 * libFuzzer: the HTTP request path of lib/httpd, end to end. The input is
 * what a client sends on one connection (request lines, headers,
 * Content-Length or chunked framing, bodies, pipelined requests, garbage),
 * written to a real server on loopback, which runs for the whole fuzzing
 * session with small limits (64 KiB bodies, a 128 KiB body budget, one
 * worker) so that its accounting carries from one input to the next.
 *
 * Oracles, besides the sanitizers: whatever the server writes back starts
 * with an HTTP status line; the server closes the connection once the
 * client has sent everything and shut its side; and once every connection
 * is closed, no body budget is left in use (a leak there would starve later
 * requests with 503s).
 *
 * The waits are long (30 s, where the server's own deadlines are 2 s) and
 * count only time the process ran: a gap of over a second between two
 * turns of a loop (whose polls last 100 ms) means the process was not
 * scheduled (a loaded machine, SIGSTOP), the server no more than the
 * client, so the gap extends the wait. A server that never closes, or a
 * budget never given back, still fails; a starved process does not. With
 * 5 s of wall time, a stall of 5 s read as a connection the server never
 * closed (a long run at nice 19 on a loaded machine; SIGSTOP for 6 s
 * reproduced it at will), and with 2 s as budget held after the close
 * (the same run, at load 18: a worker starved of the CPU frees it).
 *
 * libFuzzer's SIGALRM (its -timeout check, every 601 s by default)
 * interrupts a system call: connect() is made with it held off, and an
 * interrupted send() or recv() is tried again. A third long run aborted on
 * connect() at 2,407 s, the fourth alarm.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "httpd.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ANSWER_MAX (256 * 1024)

static int h_hello(const struct bw_http_request *req, struct bw_http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	return bw_httpd_response_set_body(resp, NULL, "hello\n", 6);
}

static int h_echo(const struct bw_http_request *req, struct bw_http_response *resp, void *ctx)
{
	(void)ctx;
	if (strlen(req->path) == 0 || req->body[req->body_len] != '\0')
		abort(); /* the server promises a NUL-terminated body */
	return bw_httpd_response_set_body(resp, req->content_type[0] ? req->content_type : NULL,
					  req->body, req->body_len);
}

static int h_fail(const struct bw_http_request *req, struct bw_http_response *resp, void *ctx)
{
	(void)req;
	(void)resp;
	(void)ctx;
	return BW_EIO;
}

static struct bw_httpd *server;
static int port;

static void server_start(void)
{
	struct bw_httpd_options o = {
	    .max_body = 64 * 1024,
	    .max_buffered = 128 * 1024,
	    .request_timeout_ms = 2000,
	    .keepalive_timeout_s = 2,
	    .max_connections_per_peer = 64,
	    .workers = 1,
	};
	struct bw_error err;

	bw_log_configure(BW_LOG_ERROR, BW_LOG_TEXT, stderr);
	if (bw_httpd_new(&server, &o, &err) < 0 ||
	    bw_httpd_add_route(server, "GET", "/hello", h_hello, NULL, &err) < 0 ||
	    bw_httpd_add_route(server, "POST", "/echo", h_echo, NULL, &err) < 0 ||
	    bw_httpd_add_route(server, "PUT", "/echo", h_echo, NULL, &err) < 0 ||
	    bw_httpd_add_route(server, "DELETE", "/fail", h_fail, NULL, &err) < 0 ||
	    bw_httpd_start(server, &err) < 0) {
		fprintf(stderr, "fuzz_httpd: %s\n", err.message);
		abort();
	}
	port = bw_httpd_port(server);
}

/* connect() with SIGALRM held off: a connect that waits for the server's
 * backlog would otherwise fail with EINTR when libFuzzer's alarm comes. */
static int connect_to(int fd, const struct sockaddr_in *a)
{
	sigset_t alarm, old;
	int rc;

	sigemptyset(&alarm);
	sigaddset(&alarm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alarm, &old);
	rc = connect(fd, (const struct sockaddr *)a, sizeof(*a));
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether a wait ending at *end is over, in time the process ran: a turn
 * that came over a second after the last one moves *end by the gap. */
static int wait_over(long long *end, long long *last)
{
	long long t = now_ms();

	if (t - *last > 1000)
		*end += t - *last;
	*last = t;
	return t >= *end;
}

/* The server's first words are a status line, "HTTP/1.x NNN " (lws answers
 * in the request's version). Later answers are not checked: HEAD answers
 * carry a Content-Length and no body, so they cannot be told from echoed
 * bodies without replaying the requests. */
static void check_answer(const char *a, size_t len)
{
	if (len < 13)
		return;
	if ((memcmp(a, "HTTP/1.1 ", 9) != 0 && memcmp(a, "HTTP/1.0 ", 9) != 0) || a[9] < '1' ||
	    a[9] > '5' || a[10] < '0' || a[10] > '9' || a[11] < '0' || a[11] > '9') {
		fprintf(stderr, "fuzz_httpd: not an HTTP answer: %.40s\n", a);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char answer[ANSWER_MAX];
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct bw_httpd_stats st;
	struct pollfd p;
	size_t sent = 0, got = 0;
	long long end, last;
	int fd, shut = 0, closed = 0;
	ssize_t n;

	if (!server)
		server_start();
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		abort();
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect_to(fd, &a) != 0) {
		fprintf(stderr, "fuzz_httpd: connect to port %d: %s\n", port, strerror(errno));
		abort();
	}
	/* write everything, then shut the sending side; read all the while */
	last = now_ms();
	end = last + 30000;
	while (!closed && !wait_over(&end, &last)) {
		p.fd = fd;
		p.events = POLLIN | (sent < size || !shut ? POLLOUT : 0);
		p.revents = 0;
		if (poll(&p, 1, 100) <= 0)
			continue;
		if (p.revents & POLLOUT) {
			if (sent < size) {
				n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
				if (n > 0)
					sent += (size_t)n;
				else if (errno != EINTR)
					sent = size; /* the server closed: stop sending */
			} else if (!shut) {
				shutdown(fd, SHUT_WR);
				shut = 1;
			}
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = recv(fd, answer + got, got < ANSWER_MAX ? ANSWER_MAX - got : 1, 0);
			if (n == 0 || (n < 0 && errno != EINTR))
				closed = 1;
			else if (got < ANSWER_MAX)
				got += (size_t)n;
		}
	}
	close(fd);
	if (!closed) {
		/* the request deadline (2 s) should have closed it long ago */
		fprintf(stderr, "fuzz_httpd: the connection stays open; the answers so far: %.*s\n",
			(int)(got < 2048 ? got : 2048), answer);
		abort();
	}
	check_answer(answer, got);

	/* once the server has let go of the connection (and a worker of its
	 * request), no budget is held */
	last = now_ms();
	end = last + 30000;
	do {
		bw_httpd_stats(server, &st);
	} while (st.bytes_buffered && !wait_over(&end, &last));
	if (st.bytes_buffered)
		abort();
	return 0;
}
