/*
 * Benchmark: list+watch of 10,000 ConfigMaps by a breakwater informer, against
 * `kubectl get configmaps -A -o name` on the same cluster in the same run
 * (the baseline). Reports the time to a synced cache, the resident memory the
 * informer adds, and the ratios.
 *
 *   make bench        (starts the local control plane if needed)
 *
 * The ConfigMaps are created once in namespace bw-bench and kept for later
 * runs; `kubectl delete namespace bw-bench` removes them.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backoff.h"
#include "client.h"
#include "informer.h"
#include "kubeconfig.h"
#include "log.h"

#define OBJECTS 10000
#define RUNS	5
#define NS	"bw-bench"

static struct bw_client *client;

struct cm_item {
	int keys; /* how many data keys: something the projection derives */
};

static void *project(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	struct cm_item *item = bw_store_pack_alloc(pack, sizeof(*item));

	(void)arg;
	if (item)
		item->keys = (int)json_object_size(json_object_get(obj, "data"));
	return item;
}

struct range {
	int from, to, failed;
};

static void *create_range(void *arg)
{
	struct range *r = arg;
	char name[32];

	for (int i = r->from; i < r->to; i++) {
		json_t *cm;
		int ret;

		snprintf(name, sizeof(name), "bench-%05d", i);
		cm = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:s, s:s}}", "apiVersion", "v1",
			       "kind", "ConfigMap", "metadata", "name", name, "labels", "bench",
			       "list-watch", "data", "settings.py",
			       "DEBUG = False\nALLOWED = ['*']\n", "service", name);
		ret = bw_client_create(client, &bw_res_configmaps, NS, cm, NULL, NULL);
		if (ret != 0 && ret != BW_ECONFLICT)
			r->failed++;
		json_decref(cm);
	}
	return NULL;
}

static int ensure_objects(void)
{
	struct bw_list_options lo = {.label_selector = "bench=list-watch", .limit = 1};
	struct range r[4];
	pthread_t th[4];
	json_t *ns, *page = NULL;
	int failed = 0, have;

	ns = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata",
		       "name", NS);
	bw_client_create(client, &bw_res_namespaces, NULL, ns, NULL, NULL);
	json_decref(ns);
	if (bw_client_list_page(client, &bw_res_configmaps, NS, &lo, &page, NULL) != 0)
		return -1;
	have = (int)json_integer_value(
		   json_object_get(json_object_get(page, "metadata"), "remainingItemCount")) +
	       (int)json_array_size(json_object_get(page, "items"));
	json_decref(page);
	if (have >= OBJECTS)
		return 0;
	fprintf(stderr, "creating %d ConfigMaps in %s...\n", OBJECTS, NS);
	for (int i = 0; i < 4; i++) {
		r[i] = (struct range){i * OBJECTS / 4, (i + 1) * OBJECTS / 4, 0};
		pthread_create(&th[i], NULL, create_range, &r[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		failed += r[i].failed;
	}
	return failed ? -1 : 0;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/* Time until an informer over every ConfigMap has listed and is watching. */
static double informer_run(long *rss_added_kib, size_t *cached)
{
	struct bw_informer_options opts = {.watch = {.resource = &bw_res_configmaps},
					   .project = project};
	struct bw_informer *inf = NULL;
	struct bw_reflector_stats st;
	struct bw_error err;
	long before = rss_kib();
	int64_t start = bw_now_ns();
	double secs;

	if (bw_informer_new(&inf, client, &opts, &err) || bw_informer_start(inf, &err)) {
		fprintf(stderr, "informer: %s\n", err.message);
		exit(1);
	}
	bw_informer_wait_synced(inf, 120000);
	/* synced means listed; wait for the watch request to be under way too */
	do {
		bw_informer_stats(inf, &st);
	} while (st.watches == 0);
	secs = (double)(bw_now_ns() - start) / 1e9;
	*rss_added_kib = rss_kib() - before;
	*cached = bw_store_count(bw_informer_store(inf));
	bw_informer_free(inf);
	return secs;
}

static double kubectl_run(const char *kubectl, size_t *lines)
{
	char cmd[1024];
	int64_t start = bw_now_ns();
	FILE *p;
	char buf[512];
	double secs;

	snprintf(cmd, sizeof(cmd), "%s get configmaps -A -o name", kubectl);
	p = popen(cmd, "r");
	*lines = 0;
	while (p && fgets(buf, sizeof(buf), p))
		(*lines)++;
	if (!p || pclose(p) != 0) {
		fprintf(stderr, "kubectl failed\n");
		exit(1);
	}
	secs = (double)(bw_now_ns() - start) / 1e9;
	return secs;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct bw_kube_config cfg = {0};
	double ours[RUNS], theirs[RUNS];
	size_t cached = 0, lines = 0;
	long rss_added = 0;
	struct bw_error err;
	const char *kubectl = argc > 1 ? argv[1] : ".cluster/bin/kubectl";

	bw_log_configure(BW_LOG_WARN, BW_LOG_TEXT, NULL);
	if (bw_kubeconfig_load_default(&cfg, NULL, NULL, &err) ||
	    bw_client_new(&client, &cfg, NULL, &err)) {
		fprintf(stderr, "list_watch: %s\n", err.message);
		return 1;
	}
	bw_kubeconfig_release(&cfg);
	if (ensure_objects() != 0) {
		fprintf(stderr, "list_watch: could not create the ConfigMaps\n");
		return 1;
	}
	/* warm both up once (the API server's caches, the connection); the
	 * memory figure is this first run's: later runs reuse freed pages */
	informer_run(&rss_added, &cached);
	kubectl_run(kubectl, &lines);
	for (int i = 0; i < RUNS; i++) {
		long ignored;

		ours[i] = informer_run(&ignored, &cached);
		theirs[i] = kubectl_run(kubectl, &lines);
	}
	qsort(ours, RUNS, sizeof(double), cmp_double);
	qsort(theirs, RUNS, sizeof(double), cmp_double);
	printf(
	    "list+watch of all ConfigMaps (%zu cached; kubectl printed %zu), median of %d runs:\n",
	    cached, lines, RUNS);
	printf("  breakwater informer (list pages of 500, then watch): %.3f s\n", ours[RUNS / 2]);
	printf("  baseline: kubectl get configmaps -A -o name:         %.3f s\n", theirs[RUNS / 2]);
	printf("  ratio informer/kubectl: %.2f\n", ours[RUNS / 2] / theirs[RUNS / 2]);
	printf(
	    "  resident memory added by the synced informer: %ld KiB (%.0f bytes per ConfigMap)\n",
	    rss_added, cached ? (double)rss_added * 1024 / (double)cached : 0.0);
	bw_client_free(client);
	return 0;
}
