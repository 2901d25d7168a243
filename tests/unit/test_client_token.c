/*
 * The client's bearer token from a file, as a rotated service-account token
 * is: each request sends what the file holds now, except a token that could
 * not go into a header as it is. A file rewritten with "...\r\nX-Evil: 1"
 * once added that header to every request; now it is refused with a warning
 * that names the file (not its contents) and the previous token is kept.
 *
 * The API server is a small HTTP/1.1 server on loopback that records each
 * request's headers and answers {}: unit tests may replace the network.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "client.h"
#include "log.h"

struct server {
	int fd;
	int port;
	pthread_t thread;
	pthread_mutex_t lock;
	char headers[4096]; /* the last request's header block */
};

static void *serve(void *arg)
{
	static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				    "Content-Length: 2\r\nConnection: close\r\n\r\n{}";
	struct server *s = arg;
	char buf[4096];

	for (;;) {
		int c = accept(s->fd, NULL, NULL);
		size_t len = 0;
		ssize_t n;

		if (c < 0)
			return NULL;
		while (len < sizeof(buf) - 1 &&
		       (n = read(c, buf + len, sizeof(buf) - 1 - len)) > 0) {
			len += (size_t)n;
			buf[len] = '\0';
			if (strstr(buf, "\r\n\r\n"))
				break;
		}
		buf[len] = '\0';
		pthread_mutex_lock(&s->lock);
		snprintf(s->headers, sizeof(s->headers), "%s", buf);
		pthread_mutex_unlock(&s->lock);
		if (write(c, reply, sizeof(reply) - 1) < 0)
			perror("write");
		close(c);
	}
}

static int server_start(struct server *s)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);

	pthread_mutex_init(&s->lock, NULL);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(s->fd, 8) != 0 || getsockname(s->fd, (struct sockaddr *)&a, &alen) != 0)
		return -1;
	s->port = ntohs(a.sin_port);
	return pthread_create(&s->thread, NULL, serve, s);
}

static void server_stop(struct server *s)
{
	shutdown(s->fd, SHUT_RDWR);
	close(s->fd);
	pthread_join(s->thread, NULL);
	pthread_mutex_destroy(&s->lock);
}

/* A rename, as the kubelet's atomic writer does. */
static void write_token(const char *path, const char *text)
{
	char tmp[512];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	rename(tmp, path);
}

/* One GET; the Authorization header the server saw into auth, and whether
 * any header line named X-Evil came with it. */
static int get(struct bw_client *c, struct server *s, char *auth, size_t size, int *evil)
{
	struct bw_request req = {.method = "GET", .path = "/api"};
	struct bw_error err;
	const char *p;
	int ret = bw_client_do(c, &req, NULL, &err);

	if (ret)
		printf("# GET /api: %s\n", err.message);
	pthread_mutex_lock(&s->lock);
	p = strstr(s->headers, "\r\nAuthorization: ");
	snprintf(auth, size, "%.*s", p ? (int)strcspn(p + 2, "\r\n") : 0, p ? p + 2 : "");
	*evil = strstr(s->headers, "\nX-Evil") != NULL;
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static int count(const char *s, const char *needle)
{
	int n = 0;

	while (s && (s = strstr(s, needle)) != NULL) {
		n++;
		s += strlen(needle);
	}
	return n;
}

/* The write guard: a fenced client sends no write while the guard refuses,
 * and still reads. */
static int guard_open;
static int guard_calls;

static int guard(void *ctx, struct bw_error *err)
{
	(void)ctx;
	guard_calls++;
	if (guard_open)
		return 0;
	return bw_error_set(err, BW_ESTOPPED, "fenced");
}

static void test_write_guard(const struct bw_kube_config *cfg, struct server *s)
{
	struct bw_client_options opts = {.write_guard = guard};
	struct bw_request get_req = {.method = "GET", .path = "/api/v1/namespaces"};
	struct bw_request post = {.method = "POST", .path = "/api/v1/namespaces", .body = "{}"};
	struct bw_client *c = NULL;
	struct bw_error err;

	CHECK_INT(0, bw_client_new(&c, cfg, &opts, &err), "a client with a write guard");
	if (!c)
		return;
	CHECK_INT(0, bw_client_do(c, &get_req, NULL, &err), "a GET goes out whatever the guard");
	CHECK_INT(0, guard_calls, "the guard is not asked for a read");
	pthread_mutex_lock(&s->lock);
	s->headers[0] = '\0';
	pthread_mutex_unlock(&s->lock);
	CHECK_INT(BW_ESTOPPED, bw_client_do(c, &post, NULL, &err), "a fenced POST is refused");
	CHECK_STR("fenced", err.message, "with the guard's message");
	pthread_mutex_lock(&s->lock);
	CHECK_STR("", s->headers, "and never reaches the server");
	pthread_mutex_unlock(&s->lock);
	guard_open = 1;
	CHECK_INT(0, bw_client_do(c, &post, NULL, &err), "an allowed POST goes out");
	pthread_mutex_lock(&s->lock);
	CHECK(strncmp(s->headers, "POST /api/v1/namespaces", 23) == 0, "and reaches the server");
	pthread_mutex_unlock(&s->lock);
	bw_client_free(c);
}

static char *slurp(FILE *f)
{
	long size;
	char *buf;

	fflush(f);
	size = ftell(f);
	buf = calloc(1, (size_t)(size > 0 ? size : 0) + 1);
	rewind(f);
	if (buf && size > 0 && fread(buf, 1, (size_t)size, f) != (size_t)size)
		buf[0] = '\0';
	fseek(f, 0, SEEK_END);
	return buf;
}

int main(void)
{
	char dir[] = "/tmp/bw-test-token-XXXXXX", path[256], server_url[64], auth[256];
	struct bw_kube_config cfg = {0};
	struct bw_client *c = NULL;
	struct server s = {0};
	struct bw_error err;
	FILE *log = tmpfile();
	char *logged;
	int evil = 0;

	bw_log_configure(BW_LOG_INFO, BW_LOG_TEXT, log);
	if (!log || !mkdtemp(dir) || server_start(&s) != 0) {
		printf("not ok - set up a loopback server and a temp folder\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/token", dir);
	snprintf(server_url, sizeof(server_url), "http://127.0.0.1:%d", s.port);
	write_token(path, "first-token\n");
	cfg.server = server_url;
	cfg.namespace = "default";
	cfg.token = "first-token";
	cfg.token_file = path;
	CHECK_INT(0, bw_client_new(&c, &cfg, NULL, &err), "a client with a token file");
	if (!c)
		return check_exit();

	CHECK_INT(0, get(c, &s, auth, sizeof(auth), &evil), "a request");
	CHECK_STR("Authorization: Bearer first-token", auth, "carries the token");

	write_token(path, "second-token-rotated\n");
	CHECK_INT(0, get(c, &s, auth, sizeof(auth), &evil), "a request after a rotation");
	CHECK_STR("Authorization: Bearer second-token-rotated", auth,
		  "carries the rotated token, trimmed");

	write_token(path, "injected\r\nX-Evil: 1");
	CHECK_INT(0, get(c, &s, auth, sizeof(auth), &evil), "a request after a hostile rewrite");
	CHECK(!evil, "no header is injected by a token with CR/LF");
	CHECK_STR("Authorization: Bearer second-token-rotated", auth, "the previous token is kept");
	CHECK_INT(0, get(c, &s, auth, sizeof(auth), &evil), "and again");
	CHECK(!evil, "still no injected header");

	write_token(path, "  \n");
	CHECK_INT(0, get(c, &s, auth, sizeof(auth), &evil), "a request after an empty rewrite");
	CHECK_STR("Authorization: Bearer second-token-rotated", auth,
		  "an empty token file keeps the previous token too");

	write_token(path, "third-token\n");
	CHECK_INT(0, get(c, &s, auth, sizeof(auth), &evil), "a request after a good rewrite");
	CHECK_STR("Authorization: Bearer third-token", auth, "the next good token is used");

	logged = slurp(log);
	CHECK(logged && strstr(logged, "holds control characters; keeping the previous token") &&
		  strstr(logged, path),
	      "the refusal is logged, naming the file");
	CHECK(logged && strstr(logged, "is empty; keeping the previous token"),
	      "so is the empty file");
	CHECK(logged && !strstr(logged, "injected") && !strstr(logged, "X-Evil") &&
		  !strstr(logged, "first-token") && !strstr(logged, "second-token") &&
		  !strstr(logged, "third-token"),
	      "no token, good or bad, is ever logged");
	CHECK_INT(1, count(logged, "holds control characters"),
		  "once per change of the file, not once per request");
	free(logged);

	test_write_guard(&cfg, &s);
	bw_client_free(c);
	server_stop(&s);
	unlink(path);
	rmdir(dir);
	bw_log_configure(BW_LOG_INFO, BW_LOG_TEXT, NULL);
	fclose(log);
	return check_exit();
}
