/*
 * Benchmark: admission latency of the webhook at 1,000 requests per second
 * over TLS with keep-alive on loopback. The server runs in this process with
 * caches holding a small shop (three Services, an opted-in namespace); four
 * client threads, each with one keep-alive connection, send an AdmissionReview
 * for a pod of `orders` (two dependencies: a real JSON Patch comes back) on a
 * fixed schedule (open loop: latency counts from the scheduled send time, so
 * a stall is not hidden). The baseline, in the same run, is GET /healthz on
 * the same server at the same rate: the cost of TLS, HTTP and the server
 * itself, without a decision.
 *
 *   make bench    (or: make build/bench/webhook_latency && build/bench/webhook_latency)
 *
 * The cached Services are what the operator's cache holds for real ones
 * (metadata, spec, status with four conditions; about 1.6 KB of JSON each).
 * Options: --services N fills the namespace's cache with N Services (the
 * shop's three and N - 3 more, each depending on two others), as a large
 * namespace would; --serve DIR runs only the server, with the same caches,
 * for an outside load generator (bench/webhook_h2load.sh): it writes the
 * review (review.json), the CA (ca.pem) and the serving pair (cert.pem,
 * key.pem) into DIR, prints "port N", and serves until SIGINT or SIGTERM,
 * then prints what the server itself measured of each decision. The same
 * review is sent every time, so every mutation after the first is answered
 * from the review memo (webhook/review_memo.h), as the pods of a ReplicaSet
 * after its first are; --no-memo turns the memo off, so that every review
 * is decided, as the first pod of each ReplicaSet is.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "cached.h"
#include "../webhook/server.h"
#include "backoff.h"
#include "certs.h"
#include "file.h"
#include "log.h"
#include "service_json.h"

#define SECONDS	   10
#define THREADS	   4
#define PER_THREAD (rate * SECONDS / THREADS)

/* requests per second, all threads together (--rate) */
static int rate = 1000;

/* The pod review: by default one the API server sent for a pod a ReplicaSet
 * of `orders` made (bench/data/orders-pod-review.json, 3.8 KB with its
 * managedFields and service-account volume; the real one's Service renamed);
 * --review FILE sends another. */
static char *review;

/* --validate: an UPDATE of the Service orders (its own spec again, no route:
 * every Service of the namespace is a sibling the decision reads), in
 * validation_review, built at start. */
static char validation_review[9000];

static void make_validation_review(void)
{
	char svc[4096];

	bench_service_json(svc, sizeof(svc), "orders", 4, "users", "payments");
	snprintf(validation_review, sizeof(validation_review),
		 "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
		 "\"request\":{\"uid\":\"b1e8c0de-0000-4000-8000-000000000002\",\"kind\":{"
		 "\"group\":\"breakwater.io\",\"version\":\"v1alpha1\",\"kind\":\"Service\"},"
		 "\"resource\":{\"group\":\"breakwater.io\",\"version\":\"v1alpha1\","
		 "\"resource\":\"services\"},\"name\":\"orders\",\"namespace\":\"shop\","
		 "\"operation\":\"UPDATE\",\"userInfo\":{\"username\":\"alice\"},\"object\":%s,"
		 "\"oldObject\":%s,\"dryRun\":false}}",
		 svc, svc);
}

struct run {
	const char *url, *body;
	const char *ca;
	const char *expect; /* what a decision's answer must hold */
	double *latencies;  /* ms, PER_THREAD of them */
	int64_t start_ns;
	int index;
	int failures;
};

static int contains(const char *data, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(data + i, needle, n) == 0)
			return 1;
	return 0;
}

struct answer {
	const char *expect;
	int saw;
};

static size_t discard(char *data, size_t size, size_t n, void *userp)
{
	struct answer *a = userp;

	if (a->expect && contains(data, size * n, a->expect))
		a->saw = 1;
	return size * n;
}

static void *client(void *arg)
{
	struct run *r = arg;
	struct curl_blob ca = {(void *)r->ca, strlen(r->ca), CURL_BLOB_COPY};
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	CURL *h = curl_easy_init();
	struct answer answer = {r->expect, 0};

	curl_easy_setopt(h, CURLOPT_URL, r->url);
	curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (r->body) {
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body);
	}
	for (int i = 0; i < PER_THREAD; i++) {
		/* each thread's requests are spread evenly, threads interleaved */
		int64_t due = r->start_ns + ((int64_t)i * THREADS + r->index) * 1000000000LL / rate;
		int64_t now = bw_now_ns();
		long code = 0;

		if (due > now) {
			struct timespec ts = {(due - now) / 1000000000LL,
					      (due - now) % 1000000000LL};

			nanosleep(&ts, NULL);
		}
		if (curl_easy_perform(h) != CURLE_OK ||
		    (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code), code != 200))
			r->failures++;
		r->latencies[i] = (double)(bw_now_ns() - due) / 1e6;
	}
	if (r->body && !answer.saw)
		r->failures = PER_THREAD; /* the decision must be a real one */
	curl_slist_free_all(headers);
	curl_easy_cleanup(h);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct result {
	double p50, p99, max;
	int failures;
};

static struct result load(const char *url, const char *body, const char *expect, const char *ca)
{
	double *latencies = calloc((size_t)(THREADS * PER_THREAD), sizeof(double));
	struct run runs[THREADS];
	pthread_t th[THREADS];
	struct result res = {0};
	int64_t start = bw_now_ns() + 100000000LL;

	for (int i = 0; i < THREADS; i++) {
		runs[i] =
		    (struct run){url, body, ca, expect, latencies + i * PER_THREAD, start, i, 0};
		pthread_create(&th[i], NULL, client, &runs[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		res.failures += runs[i].failures;
	}
	qsort(latencies, THREADS * PER_THREAD, sizeof(double), cmp);
	res.p50 = latencies[THREADS * PER_THREAD / 2];
	res.p99 = latencies[THREADS * PER_THREAD * 99 / 100];
	res.max = latencies[THREADS * PER_THREAD - 1];
	free(latencies);
	return res;
}

static void add(struct bw_store *store, const char *json)
{
	json_t *obj = json_loads(json, 0, NULL);

	bw_store_upsert(store, obj, NULL, NULL);
	json_decref(obj);
}

/* A Service as the operator caches it (service_json.h). */
static void add_service(struct bw_store *store, const char *name, int rv, const char *dep1,
			const char *dep2)
{
	char json[4096];

	bench_service_json(json, sizeof(json), name, rv, dep1, dep2);
	add(store, json);
}

/* The shop, and services - 3 more Services in its namespace. */
static void fill(struct bw_webhook_caches *caches, int services)
{
	char name[32], dep[32];

	add(caches->namespaces, "{\"metadata\":{\"name\":\"shop\",\"resourceVersion\":\"1\","
				"\"labels\":{\"breakwater.io/inject\":\"enabled\"}}}");
	add_service(caches->services, "users", 2, NULL, NULL);
	add_service(caches->services, "payments", 3, NULL, NULL);
	add_service(caches->services, "orders", 4, "users", "payments");
	for (int i = 3; i < services; i++) {
		snprintf(name, sizeof(name), "svc-%05d", i);
		snprintf(dep, sizeof(dep), i > 3 ? "svc-%05d" : "payments", i - 1);
		add_service(caches->services, name, i + 2, "users", dep);
	}
}

static int write_file(const char *dir, const char *name, const char *text)
{
	char path[4096];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return -1;
	ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* What the server measured of each decision: the duration histogram's
 * sum and count for an endpoint, from the metrics text. */
static void print_decisions(struct bw_metrics *metrics, const char *endpoint)
{
	char *text = NULL, key[128];
	size_t len = 0;
	double sum = 0, count = 0;
	const char *p;

	if (bw_metrics_render(metrics, &text, &len, NULL) != 0)
		return;
	snprintf(key, sizeof(key),
		 "breakwater_webhook_request_duration_seconds_sum{endpoint=\"%s\"} ", endpoint);
	if ((p = strstr(text, key)) != NULL)
		sum = strtod(p + strlen(key), NULL);
	snprintf(key, sizeof(key),
		 "breakwater_webhook_request_duration_seconds_count{endpoint=\"%s\"} ", endpoint);
	if ((p = strstr(text, key)) != NULL)
		count = strtod(p + strlen(key), NULL);
	if (count > 0)
		printf("server: %s: %.0f decisions, %.1f us each on average\n", endpoint, count,
		       sum / count * 1e6);
	free(text);
}

/* --serve: until SIGINT or SIGTERM. */
static int serve(struct bw_webhook *wh, struct bw_metrics *metrics, const char *dir,
		 const char *body, const char *endpoint, const struct bw_certs_pair *ca,
		 const struct bw_certs_pair *serving)
{
	sigset_t set;
	int sig = 0;

	if (write_file(dir, "review.json", body) || write_file(dir, "ca.pem", ca->cert_pem) ||
	    write_file(dir, "cert.pem", serving->cert_pem) ||
	    write_file(dir, "key.pem", serving->key_pem)) {
		fprintf(stderr, "webhook_latency: cannot write into %s\n", dir);
		return 1;
	}
	printf("port %d\n", bw_webhook_port(wh));
	fflush(stdout);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigwait(&set, &sig);
	print_decisions(metrics, endpoint);
	return 0;
}

int main(int argc, char **argv)
{
	const char *sans[] = {"127.0.0.1"};
	struct bw_certs_pair ca = {0}, serving = {0};
	struct bw_webhook_options wo = {.port = 0};
	struct bw_webhook_caches caches = {0};
	struct bw_webhook *wh = NULL;
	struct bw_metrics *metrics = NULL;
	struct bw_error err;
	struct result mutate, health;
	char url[128];
	const char *serve_dir = NULL, *review_file = "bench/data/orders-pod-review.json";
	int services = 3, validate = 0, rc;
	sigset_t set;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--serve") == 0 && i + 1 < argc)
			serve_dir = argv[++i];
		else if (strcmp(argv[i], "--services") == 0 && i + 1 < argc)
			services = atoi(argv[++i]);
		else if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc &&
			 atoi(argv[i + 1]) >= THREADS)
			rate = atoi(argv[++i]);
		else if (strcmp(argv[i], "--validate") == 0)
			validate = 1;
		else if (strcmp(argv[i], "--no-memo") == 0)
			wo.no_review_memo = 1;
		else if (strcmp(argv[i], "--review") == 0 && i + 1 < argc)
			review_file = argv[++i];
		else {
			fprintf(stderr,
				"usage: webhook_latency [--services N] [--rate R] [--validate] "
				"[--no-memo] [--review FILE] [--serve DIR]\n");
			return 2;
		}
	}
	if (bw_file_read(review_file, "review", BW_ADMISSION_MAX_BYTES, BW_FILE_REGULAR_ONLY,
			 &review, NULL, NULL, &err) != 0) {
		fprintf(stderr, "webhook_latency: %s (run from the repository root)\n",
			err.message);
		return 1;
	}
	/* before any thread starts, so that every thread inherits it: --serve
	 * takes these signals with sigwait() */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (serve_dir)
		pthread_sigmask(SIG_BLOCK, &set, NULL);
	bw_log_configure(BW_LOG_WARN, BW_LOG_TEXT, NULL);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	bw_metrics_new(&metrics, &err);
	bw_store_new(&caches.services, bw_project_service, NULL, NULL, 0, &err);
	bw_store_new(&caches.breakers, bw_project_breaker, NULL, NULL, 0, &err);
	bw_store_new(&caches.namespaces, bw_project_namespace, NULL, NULL, 0, &err);
	fill(&caches, services);
	make_validation_review();
	if (bw_certs_make_ca("bench-ca", 0, time(NULL), &ca, &err) ||
	    bw_certs_make_serving(ca.cert_pem, ca.key_pem, sans, 1, 0, time(NULL), &serving,
				  &err)) {
		fprintf(stderr, "webhook_latency: %s\n", err.message);
		return 1;
	}
	wo.cert_pem = serving.cert_pem;
	wo.key_pem = serving.key_pem;
	if (bw_webhook_new(&wh, &wo, &caches, metrics, &err) || bw_webhook_start(wh, &err)) {
		fprintf(stderr, "webhook_latency: %s\n", err.message);
		return 1;
	}
	if (serve_dir) {
		rc = serve(wh, metrics, serve_dir, validate ? validation_review : review,
			   validate ? "validate-services" : "mutate-pods", &ca, &serving);
		goto out;
	}

	snprintf(url, sizeof(url), "https://127.0.0.1:%d/healthz", bw_webhook_port(wh));
	health = load(url, NULL, NULL, ca.cert_pem);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/%s", bw_webhook_port(wh),
		 validate ? "validate-services" : "mutate-pods");
	mutate = validate ? load(url, validation_review, "\"allowed\":true", ca.cert_pem)
			  : load(url, review, "\"patch\"", ca.cert_pem);

	printf("admission webhook, %d requests/s for %d s, %d keep-alive TLS connections, %d "
	       "Services cached:\n",
	       rate, SECONDS, THREADS, services);
	printf("  baseline GET /healthz:      p50 %.3f ms  p99 %.3f ms  max %.3f ms  (%d failed)\n",
	       health.p50, health.p99, health.max, health.failures);
	printf("  POST /%s:%s p50 %.3f ms  p99 %.3f ms  max %.3f ms  (%d failed)\n",
	       validate ? "validate-services" : "mutate-pods (patch)", validate ? "" : " ",
	       mutate.p50, mutate.p99, mutate.max, mutate.failures);
	printf("  ratio decision/healthz: p50 %.2f, p99 %.2f\n", mutate.p50 / health.p50,
	       mutate.p99 / health.p99);
	print_decisions(metrics, validate ? "validate-services" : "mutate-pods");
	rc = mutate.failures || health.failures ? 1 : 0;
out:
	bw_webhook_free(wh);
	bw_store_free(caches.services);
	bw_store_free(caches.breakers);
	bw_store_free(caches.namespaces);
	bw_metrics_free(metrics);
	bw_certs_pair_release(&ca);
	bw_certs_pair_release(&serving);
	curl_global_cleanup();
	return rc;
}
