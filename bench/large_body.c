/*
 * Benchmark: server-side applies of a ConfigMap holding a 900 KB value (the
 * size of a namespace's registry at 10,000 Services), each a new value so
 * the API server writes it, by two clients of lib/client in one run:
 *
 *   - all over HTTP/2 (http2_body_max SIZE_MAX: the client before this
 *     bench), the baseline;
 *   - as the operator sends them: a body past BW_CLIENT_HTTP2_BODY_MAX over
 *     HTTP/1.1 on a keep-alive connection of its own.
 *
 * Reports this process's CPU (user + system) and the wall time per apply,
 * the connections each client opened, and the ratios. libcurl 7.88 polls
 * without sleeping while an HTTP/2 upload waits for the server to open the
 * stream's window, so the baseline's CPU grows with the server's delay; a
 * busy API server (bench/scale.sh at 10,000 Services) shows it most.
 *
 *   make bench        (starts the local control plane if needed)
 *   build/bench/large_body [APPLIES]   (default 20; cluster running)
 *
 * The ConfigMap lives in namespace bw-bench (made if missing) and is deleted
 * at the end.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "client.h"
#include "kubeconfig.h"
#include "log.h"

#define NS	   "bw-bench"
#define NAME	   "bw-large-body"
#define VALUE_SIZE (900 * 1024)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

struct result {
	double cpu_ms, wall_ms; /* per apply */
	unsigned long connections;
};

/* One apply of the ConfigMap with value made from round; 0 or a BW_E* code. */
static int apply(struct bw_client *c, char *value, int round)
{
	struct bw_patch_options po = {.field_manager = "bw-bench", .force = 1};
	struct bw_error err;
	json_t *cm;
	int ret;

	for (size_t i = 0; i < VALUE_SIZE; i++)
		value[i] = (char)('a' + (i * 7 + (size_t)round) % 26);
	value[VALUE_SIZE] = '\0';
	cm = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
		       "metadata", "name", NAME, "namespace", NS, "data", "value", value);
	ret = bw_client_patch(c, &bw_res_configmaps, NS, NAME, NULL, BW_PATCH_APPLY, cm, &po, NULL,
			      &err);
	if (ret)
		fprintf(stderr, "large_body: apply: %s\n", err.message);
	json_decref(cm);
	return ret;
}

static int run(const struct bw_kube_config *cfg, size_t http2_body_max, int applies, int *round,
	       char *value, struct result *out)
{
	struct bw_client_options o = {.http2_body_max = http2_body_max};
	struct bw_client *c = NULL;
	struct bw_error err;
	double cpu0, wall0;
	int ret = 0;

	if (bw_client_new(&c, cfg, &o, &err)) {
		fprintf(stderr, "large_body: %s\n", err.message);
		return 1;
	}
	if ((ret = apply(c, value, (*round)++)) != 0) /* connects; not counted */
		goto out;
	cpu0 = cpu_s();
	wall0 = now_s();
	for (int i = 0; i < applies && ret == 0; i++)
		ret = apply(c, value, (*round)++);
	out->cpu_ms = (cpu_s() - cpu0) * 1000 / applies;
	out->wall_ms = (now_s() - wall0) * 1000 / applies;
	out->connections = bw_client_connections_opened(c);
out:
	bw_client_free(c);
	return ret;
}

int main(int argc, char **argv)
{
	int applies = argc > 1 ? atoi(argv[1]) : 20, round = 0, ret;
	struct bw_kube_config cfg = {0};
	struct bw_client *c = NULL;
	struct result h2 = {0}, split = {0};
	struct bw_error err;
	char *value = malloc(VALUE_SIZE + 1);
	json_t *ns = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
			       "metadata", "name", NS);

	bw_log_configure(BW_LOG_WARN, BW_LOG_TEXT, NULL);
	if (applies < 1 || !value || bw_kubeconfig_load_default(&cfg, NULL, NULL, &err) ||
	    bw_client_new(&c, &cfg, NULL, &err)) {
		fprintf(stderr, "large_body: %s\n",
			applies < 1 ? "APPLIES must be at least 1"
			: value	    ? err.message
				    : "out of memory");
		return 1;
	}
	bw_client_create(c, &bw_res_namespaces, NULL, ns, NULL, NULL);
	/* alternately, so a drift of the server's load hits both alike */
	ret = run(&cfg, SIZE_MAX, applies / 2, &round, value, &h2) ||
	      run(&cfg, 0, applies / 2, &round, value, &split);
	if (ret == 0) {
		struct result h2b = {0}, splitb = {0};

		ret = run(&cfg, SIZE_MAX, applies - applies / 2, &round, value, &h2b) ||
		      run(&cfg, 0, applies - applies / 2, &round, value, &splitb);
		h2.cpu_ms = (h2.cpu_ms + h2b.cpu_ms) / 2;
		h2.wall_ms = (h2.wall_ms + h2b.wall_ms) / 2;
		split.cpu_ms = (split.cpu_ms + splitb.cpu_ms) / 2;
		split.wall_ms = (split.wall_ms + splitb.wall_ms) / 2;
		split.connections = splitb.connections;
		h2.connections = h2b.connections;
	}
	bw_client_delete(c, &bw_res_configmaps, NS, NAME, NULL, NULL);
	if (ret == 0) {
		printf("large_body: %d applies of a %d KB ConfigMap value\n", applies,
		       VALUE_SIZE / 1024);
		printf("  all HTTP/2 (baseline):        %7.2f ms CPU, %7.2f ms wall per apply, "
		       "%lu connection(s)\n",
		       h2.cpu_ms, h2.wall_ms, h2.connections);
		printf("  large bodies over HTTP/1.1:   %7.2f ms CPU, %7.2f ms wall per apply, "
		       "%lu connection(s)\n",
		       split.cpu_ms, split.wall_ms, split.connections);
		printf("  ratio (HTTP/1.1 / HTTP/2):    CPU %.2fx, wall %.2fx\n",
		       split.cpu_ms / h2.cpu_ms, split.wall_ms / h2.wall_ms);
	}
	json_decref(ns);
	free(value);
	bw_client_free(c);
	bw_kubeconfig_release(&cfg);
	return ret ? 1 : 0;
}
