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
 * then prints what the server itself measured of each decision.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "../operator/operator.h"
#include "../webhook/server.h"
#include "backoff.h"
#include "certs.h"
#include "log.h"

#define RATE	   1000 /* requests per second, all threads together */
#define SECONDS	   10
#define THREADS	   4
#define PER_THREAD (RATE * SECONDS / THREADS)

static const char *review =
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{"
    "\"uid\":\"b1e8c0de-0000-4000-8000-000000000001\",\"kind\":{\"group\":\"\",\"version\":"
    "\"v1\",\"kind\":\"Pod\"},\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":"
    "\"pods\"},\"namespace\":\"shop\",\"operation\":\"CREATE\",\"userInfo\":{\"username\":"
    "\"system:serviceaccount:kube-system:replicaset-controller\"},\"object\":{\"apiVersion\":"
    "\"v1\",\"kind\":\"Pod\",\"metadata\":{\"generateName\":\"orders-7d9c5b6f4-\","
    "\"namespace\":\"shop\",\"labels\":{\"breakwater.io/service\":\"orders\","
    "\"pod-template-hash\":\"7d9c5b6f4\"}},\"spec\":{\"containers\":[{\"name\":\"app\","
    "\"image\":\"registry.local/shop/orders:1.4.2\",\"ports\":[{\"name\":\"http\","
    "\"containerPort\":8000}],\"env\":[{\"name\":\"DJANGO_SETTINGS_MODULE\",\"value\":"
    "\"orders.settings\"}]}]}},\"oldObject\":null,\"dryRun\":false}}";

struct run {
	const char *url, *body;
	const char *ca;
	double *latencies; /* ms, PER_THREAD of them */
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

static size_t discard(char *data, size_t size, size_t n, void *userp)
{
	int *saw_patch = userp;

	if (contains(data, size * n, "\"patch\""))
		*saw_patch = 1;
	return size * n;
}

static void *client(void *arg)
{
	struct run *r = arg;
	struct curl_blob ca = {(void *)r->ca, strlen(r->ca), CURL_BLOB_COPY};
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	CURL *h = curl_easy_init();
	int saw_patch = 0;

	curl_easy_setopt(h, CURLOPT_URL, r->url);
	curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &saw_patch);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (r->body) {
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body);
	}
	for (int i = 0; i < PER_THREAD; i++) {
		/* each thread's requests are spread evenly, threads interleaved */
		int64_t due = r->start_ns + ((int64_t)i * THREADS + r->index) * 1000000000LL / RATE;
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
	if (r->body && !saw_patch)
		r->failures = PER_THREAD; /* the decision must be a real injection */
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

static struct result load(const char *url, const char *body, const char *ca)
{
	static double latencies[THREADS * PER_THREAD];
	struct run runs[THREADS];
	pthread_t th[THREADS];
	struct result res = {0};
	int64_t start = bw_now_ns() + 100000000LL;

	for (int i = 0; i < THREADS; i++) {
		runs[i] = (struct run){url, body, ca, latencies + i * PER_THREAD, start, i, 0};
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
	return res;
}

static void add(struct bw_store *store, const char *json)
{
	json_t *obj = json_loads(json, 0, NULL);

	bw_store_upsert(store, obj, NULL, NULL);
	json_decref(obj);
}

/* A Service as the operator caches it (managedFields and the last-applied
 * annotation dropped, status kept): about 1.6 KB of JSON. */
static void add_service(struct bw_store *store, const char *name, int rv, const char *dep1,
			const char *dep2)
{
	char json[4096], deps[160] = "";

	if (dep1)
		snprintf(deps, sizeof(deps), ",\"dependsOn\":[\"%s\",\"%s\"]", dep1, dep2);
	snprintf(
	    json, sizeof(json),
	    "{\"apiVersion\":\"breakwater.io/v1alpha1\",\"kind\":\"Service\",\"metadata\":{"
	    "\"name\":\"%s\",\"namespace\":\"shop\",\"uid\":\"6f1c2a9e-4b7d-4e0a-9c1e-%012d\","
	    "\"resourceVersion\":\"%d\",\"generation\":3,\"creationTimestamp\":"
	    "\"2026-11-30T01:00:00Z\",\"labels\":{\"app.kubernetes.io/part-of\":\"shop\","
	    "\"team\":\"checkout\"},\"finalizers\":[\"breakwater.io/cleanup\"]},\"spec\":{"
	    "\"image\":\"registry.local/shop/%s:1.4.2\",\"replicas\":3,\"port\":8000,"
	    "\"healthCheck\":{\"path\":\"/health\",\"periodSeconds\":10},\"env\":[{\"name\":"
	    "\"DJANGO_SETTINGS_MODULE\",\"value\":\"%s.settings\"}],\"resources\":{\"requests\":{"
	    "\"cpu\":\"100m\",\"memory\":\"128Mi\"}}%s,\"rollout\":{\"maxSurge\":\"25%%\","
	    "\"maxUnavailable\":0,\"progressDeadlineSeconds\":600,\"autoRollback\":true}},"
	    "\"status\":{\"observedGeneration\":3,\"image\":\"registry.local/shop/%s:1.4.2\","
	    "\"lastGoodImage\":\"registry.local/shop/%s:1.4.1\",\"replicas\":3,"
	    "\"updatedReplicas\":3,\"readyReplicas\":3,\"availableReplicas\":3,\"selector\":"
	    "\"breakwater.io/service=%s\",\"url\":\"http://%s.shop.svc.cluster.local:8000\","
	    "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"observedGeneration\":3,"
	    "\"lastTransitionTime\":\"2026-11-30T01:02:00Z\",\"reason\":\"RolledOut\",\"message\":"
	    "\"3 of 3 replicas run registry.local/shop/%s:1.4.2\"},{\"type\":\"Progressing\","
	    "\"status\":\"False\",\"observedGeneration\":3,\"lastTransitionTime\":"
	    "\"2026-11-30T01:02:00Z\",\"reason\":\"Complete\",\"message\":\"rollout complete\"},"
	    "{\"type\":\"Available\",\"status\":\"True\",\"observedGeneration\":3,"
	    "\"lastTransitionTime\":\"2026-11-30T01:01:30Z\",\"reason\":"
	    "\"MinimumReplicasAvailable\","
	    "\"message\":\"3 of 3 replicas available\"},{\"type\":\"DependenciesResolved\","
	    "\"status\":\"True\",\"observedGeneration\":3,\"lastTransitionTime\":"
	    "\"2026-11-30T01:00:01Z\",\"reason\":\"Resolved\",\"message\":\"every dependency "
	    "exists\"}]}}",
	    name, rv, rv, name, name, deps, name, name, name, name, name);
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
		 const struct bw_certs_pair *ca, const struct bw_certs_pair *serving)
{
	sigset_t set;
	int sig = 0;

	if (write_file(dir, "review.json", review) || write_file(dir, "ca.pem", ca->cert_pem) ||
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
	print_decisions(metrics, "mutate-pods");
	return 0;
}

int main(int argc, char **argv)
{
	const char *sans[] = {"127.0.0.1"};
	struct bw_certs_pair ca = {0}, serving = {0};
	struct bw_webhook_options wo = {.port = 0};
	struct bw_webhook_caches caches;
	struct bw_webhook *wh = NULL;
	struct bw_metrics *metrics = NULL;
	struct bw_error err;
	struct result mutate, health;
	char url[128];
	const char *serve_dir = NULL;
	int services = 3, rc;
	sigset_t set;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--serve") == 0 && i + 1 < argc)
			serve_dir = argv[++i];
		else if (strcmp(argv[i], "--services") == 0 && i + 1 < argc)
			services = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: webhook_latency [--services N] [--serve DIR]\n");
			return 2;
		}
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
	bw_store_new(&caches.services, bw_operator_project_object, NULL, NULL, 0, &err);
	bw_store_new(&caches.breakers, bw_operator_project_object, NULL, NULL, 0, &err);
	bw_store_new(&caches.namespaces, bw_operator_project_namespace, NULL, NULL, 0, &err);
	fill(&caches, services);
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
		rc = serve(wh, metrics, serve_dir, &ca, &serving);
		goto out;
	}

	snprintf(url, sizeof(url), "https://127.0.0.1:%d/healthz", bw_webhook_port(wh));
	health = load(url, NULL, ca.cert_pem);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/mutate-pods", bw_webhook_port(wh));
	mutate = load(url, review, ca.cert_pem);

	printf("admission webhook, %d requests/s for %d s, %d keep-alive TLS connections, %d "
	       "Services cached:\n",
	       RATE, SECONDS, THREADS, services);
	printf("  baseline GET /healthz:      p50 %.3f ms  p99 %.3f ms  max %.3f ms  (%d failed)\n",
	       health.p50, health.p99, health.max, health.failures);
	printf("  POST /mutate-pods (patch):  p50 %.3f ms  p99 %.3f ms  max %.3f ms  (%d failed)\n",
	       mutate.p50, mutate.p99, mutate.max, mutate.failures);
	printf("  ratio mutate/healthz: p50 %.2f, p99 %.2f\n", mutate.p50 / health.p50,
	       mutate.p99 / health.p99);
	print_decisions(metrics, "mutate-pods");
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
