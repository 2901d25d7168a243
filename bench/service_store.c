/*
 * Store bytes per cached breakwater Service: a store filled the way the
 * operator's Services informer fills it (model/cached.h, bw_project_service,
 * with the by-dependency index) with N Services of the webhook benchmark's
 * shape (service_json.h: metadata, spec with two dependencies, status with
 * four conditions; about 1.6 KB of JSON each), measured with glibc's
 * mallinfo2() (bytes in use, uordblks + hblkhd: malloc's per-chunk
 * overhead and the hash tables count).
 *
 *   make build/bench/service_store && build/bench/service_store [N]
 *
 * N defaults to 1,000. Prints the JSON text bytes per Service and the store
 * bytes per Service; exits 1 when a Service is not cached.
 */
#define _GNU_SOURCE /* mallinfo2() */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cached.h"
#include "service_json.h"

static size_t in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

int main(int argc, char **argv)
{
	static const struct bw_store_index ix[] = {
	    {BW_INDEX_BY_DEPENDENCY, bw_index_dependency, NULL}};
	int n = argc > 1 ? atoi(argv[1]) : 1000;
	char json[4096], name[32], dep[32];
	size_t text = 0, before, after;
	struct bw_error err;
	struct bw_store *store;

	if (n < 4) {
		fprintf(stderr, "usage: service_store [N >= 4]\n");
		return 2;
	}
	before = in_use();
	if (bw_store_new(&store, bw_project_service, NULL, ix, 1, &err) != 0) {
		fprintf(stderr, "service_store: %s\n", err.message);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		json_t *obj;

		snprintf(name, sizeof(name), "svc-%05d", i);
		snprintf(dep, sizeof(dep), "svc-%05d", i > 0 ? i - 1 : n - 1);
		bench_service_json(json, sizeof(json), name, i + 2, "users", dep);
		text += strlen(json);
		obj = json_loads(json, 0, NULL);
		if (!obj || bw_store_upsert(store, obj, NULL, &err) != 0) {
			fprintf(stderr, "service_store: %s: %s\n", name,
				obj ? err.message : "bad JSON");
			return 1;
		}
		json_decref(obj);
	}
	after = in_use();
	if (bw_store_count(store) != (size_t)n) {
		fprintf(stderr, "service_store: %zu cached, not %d\n", bw_store_count(store), n);
		return 1;
	}
	printf("%d Services: %.0f bytes of JSON text each; the store holds %.0f bytes per "
	       "Service\n",
	       n, (double)text / n, (double)(after - before) / n);
	bw_store_free(store);
	return 0;
}
