/*
 * Store memory: bytes per cached Deployment in lib/store.h, against keeping
 * the full json_t documents, measured with glibc's mallinfo2() in one run.
 *
 * Build and run from the top of the checkout (lib/[a-z]*.c is lib's every .c
 * file, spelt so that this comment stays a comment):
 *
 *   P="libcurl openssl yaml-0.1 jansson libwebsockets"; mkdir -p build && \
 *   cc -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Ilib $(pkg-config --cflags $P) \
 *     -o build/store_memory bench/store_memory.c lib/[a-z]*.c \
 *     $(pkg-config --libs $P) -lpthread && build/store_memory
 *
 * It makes 10,000 synthetic Deployments as JSON text (labels, annotations,
 * an owner reference, a pod template with one container, status; no
 * managedFields, which would make the baseline bigger still), then:
 *   1. baseline: parses them all and keeps the json_t documents;
 *   2. store: parses each, upserts it with a Deployment projection (name,
 *      namespace, generation, resourceVersion, replicas/updated/ready/
 *      available, image) and frees the JSON at once, as an informer does;
 *   3. the same with a by-namespace index.
 * Bytes in use are mallinfo2()'s uordblks + hblkhd (heap chunks in use plus
 * mmap()ed ones, where glibc puts the big hash tables), so they include
 * malloc's own per-chunk overhead and every table slot.
 * Exits 1 when a store costs 300 bytes or more per Deployment.
 */
#define _GNU_SOURCE /* mallinfo2() */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store.h"

#define N_DEPLOYMENTS 10000
#define N_NAMESPACES  40
#define TARGET_BYTES  300

struct deployment {
	int64_t generation;
	int32_t replicas, updated, ready, available;
	const char *image;
};

static const char *words[] = {"orders",	  "users",  "payments", "products",  "catalog",
			      "checkout", "search", "gateway",	"inventory", "shipping",
			      "billing",  "auth",   "reviews",	"notify",    "ledger"};

#define N_WORDS (sizeof(words) / sizeof(words[0]))

static size_t in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/* The JSON text of Deployment i, as the API server would send it. */
static int deployment_json(char *buf, size_t size, int i)
{
	char name[64], ns[32], image[160];
	const char *w = words[i % N_WORDS], *w2 = words[(i / N_WORDS) % N_WORDS];
	int n;

	snprintf(ns, sizeof(ns), "team-%02d", i % N_NAMESPACES);
	snprintf(name, sizeof(name), "%s-%s-%04d", w, w2, i);
	snprintf(image, sizeof(image), "registry.example.com/%s/%s:1.%d.%d", ns, w, i % 9, i % 31);
	n = snprintf(
	    buf, size,
	    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{"
	    "\"name\":\"%s\",\"namespace\":\"%s\",\"uid\":\"6f1c%04x-0c2e-4d6b-9a57-%012x\","
	    "\"resourceVersion\":\"%d\",\"generation\":%d,"
	    "\"creationTimestamp\":\"2026-11-20T09:%02d:%02dZ\","
	    "\"labels\":{\"app\":\"%s\",\"breakwater.io/service\":\"%s\","
	    "\"app.kubernetes.io/managed-by\":\"breakwater\"},"
	    "\"annotations\":{\"deployment.kubernetes.io/revision\":\"%d\","
	    "\"breakwater.io/config-generation\":\"%d\"},"
	    "\"ownerReferences\":[{\"apiVersion\":\"breakwater.io/v1alpha1\",\"kind\":\"Service\","
	    "\"name\":\"%s\",\"uid\":\"0b7e%04x-3f1a-4c1e-8d2b-%012x\",\"controller\":true,"
	    "\"blockOwnerDeletion\":true}]},"
	    "\"spec\":{\"replicas\":%d,\"revisionHistoryLimit\":10,\"progressDeadlineSeconds\":600,"
	    "\"selector\":{\"matchLabels\":{\"breakwater.io/service\":\"%s\"}},"
	    "\"strategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"maxSurge\":\"25%%\","
	    "\"maxUnavailable\":0}},"
	    "\"template\":{\"metadata\":{\"labels\":{\"app\":\"%s\",\"breakwater.io/"
	    "service\":\"%s\"}},"
	    "\"spec\":{\"containers\":[{\"name\":\"%s\",\"image\":\"%s\","
	    "\"ports\":[{\"name\":\"http\",\"containerPort\":8000,\"protocol\":\"TCP\"}],"
	    "\"env\":[{\"name\":\"DJANGO_SETTINGS_MODULE\",\"value\":\"%s.settings\"},"
	    "{\"name\":\"BREAKWATER_SERVICE\",\"value\":\"%s\"}],"
	    "\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"128Mi\"},"
	    "\"limits\":{\"memory\":\"256Mi\"}},"
	    "\"readinessProbe\":{\"httpGet\":{\"path\":\"/health\",\"port\":8000,\"scheme\":"
	    "\"HTTP\"},\"periodSeconds\":10,\"timeoutSeconds\":1,\"successThreshold\":1,"
	    "\"failureThreshold\":3},"
	    "\"livenessProbe\":{\"httpGet\":{\"path\":\"/health\",\"port\":8000,\"scheme\":"
	    "\"HTTP\"},\"periodSeconds\":10,\"timeoutSeconds\":1,\"successThreshold\":1,"
	    "\"failureThreshold\":3},"
	    "\"terminationMessagePath\":\"/dev/termination-log\","
	    "\"terminationMessagePolicy\":\"File\",\"imagePullPolicy\":\"IfNotPresent\"}],"
	    "\"restartPolicy\":\"Always\",\"terminationGracePeriodSeconds\":30,"
	    "\"dnsPolicy\":\"ClusterFirst\",\"schedulerName\":\"default-scheduler\","
	    "\"securityContext\":{}}}},"
	    "\"status\":{\"observedGeneration\":%d,\"replicas\":%d,\"updatedReplicas\":%d,"
	    "\"readyReplicas\":%d,\"availableReplicas\":%d,\"conditions\":["
	    "{\"type\":\"Available\",\"status\":\"True\","
	    "\"lastUpdateTime\":\"2026-11-20T09:%02d:%02dZ\","
	    "\"lastTransitionTime\":\"2026-11-20T09:%02d:%02dZ\","
	    "\"reason\":\"MinimumReplicasAvailable\","
	    "\"message\":\"Deployment has minimum availability.\"},"
	    "{\"type\":\"Progressing\",\"status\":\"True\","
	    "\"lastUpdateTime\":\"2026-11-20T09:%02d:%02dZ\","
	    "\"lastTransitionTime\":\"2026-11-20T09:%02d:%02dZ\","
	    "\"reason\":\"NewReplicaSetAvailable\","
	    "\"message\":\"ReplicaSet \\\"%s-5d8f7c9b4\\\" has successfully progressed.\"}]}}",
	    name, ns, i, i * 7919, 48213377 + i * 13, 1 + i % 5, i / 60 % 60, i % 60, w, name,
	    1 + i % 5, 1 + i % 5, name, i, i * 104729, 1 + i % 4, name, w, name, w, image, w, name,
	    1 + i % 5, 1 + i % 4, 1 + i % 4, 1 + i % 4, 1 + i % 4, i / 60 % 60, i % 60, i / 60 % 60,
	    i % 60, i / 60 % 60, i % 60, i / 60 % 60, i % 60, name);
	return n > 0 && (size_t)n < size ? n : -1;
}

static void *deployment_project(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	const json_t *status = json_object_get(obj, "status");
	const json_t *container = json_array_get(
	    json_object_get(
		json_object_get(json_object_get(json_object_get(obj, "spec"), "template"), "spec"),
		"containers"),
	    0);
	const char *image = json_string_value(json_object_get(container, "image"));
	struct deployment *d;

	(void)arg;
	bw_store_pack_reserve_str(pack, image);
	d = bw_store_pack_alloc(pack, sizeof(*d));
	if (!d)
		return NULL;
	d->generation =
	    json_integer_value(json_object_get(json_object_get(obj, "metadata"), "generation"));
	d->replicas =
	    (int32_t)json_integer_value(json_object_get(json_object_get(obj, "spec"), "replicas"));
	d->updated = (int32_t)json_integer_value(json_object_get(status, "updatedReplicas"));
	d->ready = (int32_t)json_integer_value(json_object_get(status, "readyReplicas"));
	d->available = (int32_t)json_integer_value(json_object_get(status, "availableReplicas"));
	d->image = bw_store_pack_str(pack, image);
	return d;
}

/* Fills a store from the JSON texts, freeing each document after its
 * upsert; returns the bytes the store holds per Deployment, or -1. */
static double measure_store(char **texts, const struct bw_store_index *indexes, size_t n_indexes)
{
	struct bw_error err;
	struct bw_store *store;
	size_t before, after;
	double per = -1;

	before = in_use();
	bw_store_new(&store, deployment_project, NULL, indexes, n_indexes, &err);
	if (!store) {
		fprintf(stderr, "store_memory: %s\n", err.message);
		return -1;
	}
	for (int i = 0; i < N_DEPLOYMENTS; i++) {
		json_t *obj = json_loads(texts[i], 0, NULL);

		if (!obj || bw_store_upsert(store, obj, NULL, &err) != 0) {
			fprintf(stderr, "store_memory: deployment %d: %s\n", i,
				obj ? err.message : "bad JSON");
			json_decref(obj);
			goto cleanup;
		}
		json_decref(obj);
	}
	after = in_use();
	if (bw_store_count(store) != N_DEPLOYMENTS) {
		fprintf(stderr, "store_memory: %zu cached, not %d\n", bw_store_count(store),
			N_DEPLOYMENTS);
		goto cleanup;
	}
	per = (double)(after - before) / N_DEPLOYMENTS;
cleanup:
	bw_store_free(store);
	return per;
}

int main(void)
{
	static const struct bw_store_index by_ns[] = {
	    {"by-namespace", bw_store_index_by_namespace, NULL}};
	char buf[8192], **texts;
	json_t **docs;
	size_t text_bytes = 0, before, after;
	double baseline, plain, indexed;
	int rc = 1;

	texts = calloc(N_DEPLOYMENTS, sizeof(*texts));
	docs = calloc(N_DEPLOYMENTS, sizeof(*docs));
	if (!texts || !docs)
		goto cleanup;
	for (int i = 0; i < N_DEPLOYMENTS; i++) {
		int n = deployment_json(buf, sizeof(buf), i);

		if (n < 0 || !(texts[i] = strdup(buf)))
			goto cleanup;
		text_bytes += (size_t)n;
	}

	/* 1. baseline: every document kept as json_t */
	before = in_use();
	for (int i = 0; i < N_DEPLOYMENTS; i++) {
		docs[i] = json_loads(texts[i], 0, NULL);
		if (!docs[i]) {
			fprintf(stderr, "store_memory: deployment %d: bad JSON\n", i);
			goto cleanup;
		}
	}
	after = in_use();
	baseline = (double)(after - before) / N_DEPLOYMENTS;
	for (int i = 0; i < N_DEPLOYMENTS; i++) {
		json_decref(docs[i]);
		docs[i] = NULL;
	}

	/* 2. and 3. the store, without and with an index */
	plain = measure_store(texts, NULL, 0);
	indexed = measure_store(texts, by_ns, 1);
	if (plain < 0 || indexed < 0)
		goto cleanup;

	printf("store memory: %d synthetic Deployments, %zu bytes of JSON text each on average\n",
	       N_DEPLOYMENTS, text_bytes / N_DEPLOYMENTS);
	printf("  baseline, full json_t documents kept: %9.1f bytes per Deployment\n", baseline);
	printf("  store, projected items (JSON freed):  %9.1f bytes per Deployment\n", plain);
	printf("  store with a by-namespace index:      %9.1f bytes per Deployment\n", indexed);
	printf("  ratio baseline / store: %.1fx (with the index: %.1fx)\n", baseline / plain,
	       baseline / indexed);
	printf("  target under %d bytes per Deployment: %s\n", TARGET_BYTES,
	       plain < TARGET_BYTES && indexed < TARGET_BYTES ? "met" : "MISSED");
	rc = plain < TARGET_BYTES && indexed < TARGET_BYTES ? 0 : 1;
cleanup:
	for (int i = 0; texts && i < N_DEPLOYMENTS; i++) {
		free(texts[i]);
		if (docs)
			json_decref(docs[i]);
	}
	free(texts);
	free(docs);
	return rc;
}
