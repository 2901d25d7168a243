/*
 * The webhook under a hostile-body flood (issue 8, finding 1): the real
 * webhook server (webhook/server.c on lib/httpd, TLS) runs in a child
 * process on loopback; this process sends it 64 maximum-size hostile bodies
 * at once (`[{},{},...]`, as many empty objects as the admission cap holds,
 * about 229 MiB of jansson objects each if it parsed them) while one client
 * keeps sending ordinary Pod admissions over a keep-alive connection.
 *
 * Asserts: the server's peak RSS (VmHWM, from /proc) stays under the 64 MiB
 * memory limit of manifests/base; every ordinary admission is answered,
 * allowed, and the p99 of their latency during the attack is printed (and
 * must stay under a second); the hostile bodies are refused.
 *
 * Built without sanitizers (ASan's shadow and quarantine would make a memory
 * figure meaningless): `make load-bins`, run by `tests/run.sh unit`.
 */
#include <curl/curl.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cached.h"
#include "../../webhook/admission.h"
#include "../../webhook/server.h"
#include "../unit/check.h"
#include "backoff.h"
#include "certs.h"
#include "log.h"

#define ATTACKERS     64
#define MEMORY_LIMIT  (64 * 1024) /* KiB: manifests/base's limit, 64Mi */
#define NORMAL_MIN    20	  /* ordinary admissions during the attack, at least */
#define NORMAL_MAX    20000
#define P99_LIMIT_MS  1000.0
#define ATTACK_ROUNDS 2

static const char *review =
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
    "\"uid\":\"b1e8c0de-0000-4000-8000-000000000001\",\"kind\":{\"group\":\"\",\"version\":"
    "\"v1\",\"kind\":\"Pod\"},\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":"
    "\"pods\"},\"namespace\":\"shop\",\"operation\":\"CREATE\",\"userInfo\":{\"username\":"
    "\"system:serviceaccount:kube-system:replicaset-controller\"},\"object\":{\"apiVersion\":"
    "\"v1\",\"kind\":\"Pod\",\"metadata\":{\"generateName\":\"orders-7d9c5b6f4-\","
    "\"namespace\":\"shop\",\"labels\":{\"pod-template-hash\":\"7d9c5b6f4\"}},\"spec\":{"
    "\"containers\":[{\"name\":\"app\",\"image\":\"registry.local/shop/orders:1.4.2\"}]}},"
    "\"oldObject\":null,\"dryRun\":false}}";

/* ---- the server, in the child -------------------------------------- */

static void serve(int port_fd, int hold_fd)
{
	const char *sans[] = {"127.0.0.1"};
	struct bw_certs_pair ca = {0}, serving = {0};
	struct bw_webhook_options wo = {.port = 0};
	struct bw_webhook_caches caches = {0};
	struct bw_webhook *wh = NULL;
	struct bw_metrics *metrics = NULL;
	struct bw_error err;
	int port = -1;
	char c;

	bw_log_configure(BW_LOG_ERROR, BW_LOG_TEXT, NULL);
	bw_metrics_new(&metrics, &err);
	bw_store_new(&caches.services, bw_project_service, NULL, NULL, 0, &err);
	bw_store_new(&caches.breakers, bw_project_breaker, NULL, NULL, 0, &err);
	bw_store_new(&caches.namespaces, bw_project_namespace, NULL, NULL, 0, &err);
	if (bw_certs_make_ca("flood-ca", 0, time(NULL), &ca, &err) ||
	    bw_certs_make_serving(ca.cert_pem, ca.key_pem, sans, 1, 0, time(NULL), &serving,
				  &err)) {
		fprintf(stderr, "server: %s\n", err.message);
		_exit(1);
	}
	wo.cert_pem = serving.cert_pem;
	wo.key_pem = serving.key_pem;
	if (bw_webhook_new(&wh, &wo, &caches, metrics, &err) || bw_webhook_start(wh, &err))
		fprintf(stderr, "server: %s\n", err.message);
	else
		port = bw_webhook_port(wh);
	if (write(port_fd, &port, sizeof(port)) != sizeof(port))
		_exit(1);
	while (read(hold_fd, &c, 1) > 0) /* until the parent closes it */
		;
	bw_webhook_free(wh);
	_exit(0);
}

/* ---- clients -------------------------------------------------------- */

struct sink {
	char head[256];
	size_t len;
};

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n, room = sizeof(s->head) - 1 - s->len;

	if (room) {
		memcpy(s->head + s->len, data, len < room ? len : room);
		s->len += len < room ? len : room;
		s->head[s->len] = '\0';
	}
	return len;
}

static CURL *handle_new(const char *url)
{
	CURL *h = curl_easy_init();

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L); /* loopback, a throwaway CA */
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 60000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	return h;
}

struct normal {
	char url[128];
	atomic_int *attack_done;
	double latencies[NORMAL_MAX]; /* ms */
	int n, failures;
	char first_failure[256];
};

/* Ordinary admissions, one after another on one keep-alive connection,
 * until the attack is over. */
static void *normal_client(void *arg)
{
	struct normal *r = arg;
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	CURL *h = handle_new(r->url);
	struct sink s;
	long code;

	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, review);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
	while (r->n < NORMAL_MAX && !atomic_load(r->attack_done)) {
		int64_t start = bw_now_ns();
		CURLcode rc;

		memset(&s, 0, sizeof(s));
		code = 0;
		rc = curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		r->latencies[r->n++] = (double)(bw_now_ns() - start) / 1e6;
		if (rc != CURLE_OK || code != 200 || !strstr(s.head, "\"allowed\":true")) {
			if (!r->failures++)
				snprintf(r->first_failure, sizeof(r->first_failure),
					 "curl %d, HTTP %ld: %.180s", (int)rc, code, s.head);
		}
	}
	curl_slist_free_all(headers);
	curl_easy_cleanup(h);
	return NULL;
}

/* `[{},{},...,{}]`, exactly len bytes (len odd). */
static char *hostile_body(size_t len)
{
	char *b = malloc(len);
	size_t i;

	b[0] = '[';
	for (i = 1; i + 1 < len; i += 3)
		memcpy(b + i, i + 4 < len ? "{}," : "{}]", 3);
	b[len - 1] = ']';
	return b;
}

struct attack {
	long statuses[600];
	int transport_errors;
};

/* ATTACKERS hostile bodies in flight at once, each on its own connection. */
static void attack(const char *url, const char *body, size_t len, struct attack *out)
{
	/* no "Expect: 100-continue": an attacker sends the body without waiting */
	struct curl_slist *headers =
	    curl_slist_append(curl_slist_append(NULL, "Content-Type: application/json"), "Expect:");
	CURLM *m = curl_multi_init();
	CURL *e[ATTACKERS];
	struct sink sinks[ATTACKERS];
	int i, running = 1;
	CURLMsg *msg;
	int left;

	for (i = 0; i < ATTACKERS; i++) {
		e[i] = handle_new(url);
		memset(&sinks[i], 0, sizeof(sinks[i]));
		curl_easy_setopt(e[i], CURLOPT_WRITEDATA, &sinks[i]);
		curl_easy_setopt(e[i], CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(e[i], CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e[i], CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		curl_multi_add_handle(m, e[i]);
	}
	while (running) {
		if (curl_multi_perform(m, &running) != CURLM_OK)
			break;
		if (running)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	while ((msg = curl_multi_info_read(m, &left)) != NULL) {
		long code = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
		if (code > 0 && code < 600)
			out->statuses[code]++;
		else
			out->transport_errors++;
	}
	for (i = 0; i < ATTACKERS; i++) {
		curl_multi_remove_handle(m, e[i]);
		curl_easy_cleanup(e[i]);
	}
	curl_multi_cleanup(m);
	curl_slist_free_all(headers);
}

static long vm_kib(pid_t pid, const char *field)
{
	char path[64], line[256];
	long v = -1;
	size_t n = strlen(field);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, n) == 0 && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(void)
{
	static struct normal normal;
	struct attack result = {0};
	atomic_int attack_done = 0;
	int port_pipe[2], hold_pipe[2], port = -1, status, round;
	size_t len = BW_ADMISSION_MAX_BYTES - 1; /* odd, at the cap */
	long hwm_before, hwm, rss;
	char *body;
	char url[128];
	pthread_t th;
	pid_t pid;

	/* the server forks first, before this process allocates anything */
	if (pipe(port_pipe) || pipe(hold_pipe))
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		close(port_pipe[0]);
		close(hold_pipe[1]);
		serve(port_pipe[1], hold_pipe[0]);
	}
	close(port_pipe[1]);
	close(hold_pipe[0]);
	if (read(port_pipe[0], &port, sizeof(port)) != sizeof(port) || port <= 0) {
		CHECK(0, "the webhook server starts on loopback");
		return check_exit();
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	hwm_before = vm_kib(pid, "VmHWM");
	printf("# server pid %d, port %d, peak RSS before the attack %ld KiB\n", (int)pid, port,
	       hwm_before);

	snprintf(normal.url, sizeof(normal.url), "https://127.0.0.1:%d/mutate-pods", port);
	normal.attack_done = &attack_done;
	pthread_create(&th, NULL, normal_client, &normal);

	body = hostile_body(len);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/validate-services", port);
	for (round = 0; round < ATTACK_ROUNDS; round++)
		attack(url, body, len, &result);
	atomic_store(&attack_done, 1);
	pthread_join(th, NULL);
	free(body);

	hwm = vm_kib(pid, "VmHWM");
	rss = vm_kib(pid, "VmRSS");
	close(hold_pipe[1]);
	waitpid(pid, &status, 0);

	printf("# hostile bodies: %d x %zu bytes; answers: 400 %ld, 413 %ld, 503 %ld, 200 %ld, "
	       "transport errors %d\n",
	       ATTACKERS * ATTACK_ROUNDS, len, result.statuses[400], result.statuses[413],
	       result.statuses[503], result.statuses[200], result.transport_errors);
	CHECK(hwm > 0 && hwm < MEMORY_LIMIT,
	      "the server's peak RSS under %d concurrent hostile bodies stays under 64 MiB "
	      "(%ld KiB; %ld KiB now)",
	      ATTACKERS, hwm, rss);
	CHECK_INT(0, result.statuses[200], "no hostile body is admitted");
	CHECK(normal.n >= NORMAL_MIN, "ordinary admissions ran during the attack (%d)", normal.n);
	CHECK(normal.failures == 0,
	      "every ordinary admission is answered and allowed (%d failed%s%s)", normal.failures,
	      normal.failures ? "; first: " : "", normal.first_failure);
	if (normal.n > 0) {
		double p50, p99, max;

		qsort(normal.latencies, (size_t)normal.n, sizeof(double), cmp);
		p50 = normal.latencies[normal.n / 2];
		p99 = normal.latencies[normal.n * 99 / 100];
		max = normal.latencies[normal.n - 1];
		printf("# ordinary admissions during the attack: %d, p50 %.2f ms, p99 %.2f ms, max "
		       "%.2f ms\n",
		       normal.n, p50, p99, max);
		CHECK(p99 < P99_LIMIT_MS, "their p99 stays under %.0f ms (%.2f ms)", P99_LIMIT_MS,
		      p99);
	}
	curl_global_cleanup();
	return check_exit();
}
