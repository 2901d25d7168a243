/*
 * The text of a breakwater Service as the operator caches it (managedFields
 * and the last-applied annotation dropped, status kept: about 1.6 KB of
 * JSON), for the benchmarks that fill a cache with realistic Services
 * (webhook_latency.c, service_store.c). name in namespace shop, with
 * resourceVersion rv and, when dep1 is set, dependsOn [dep1, dep2].
 */
#ifndef BW_BENCH_SERVICE_JSON_H
#define BW_BENCH_SERVICE_JSON_H

#include <stdio.h>

static inline void bench_service_json(char *json, size_t size, const char *name, int rv,
				      const char *dep1, const char *dep2)
{
	char deps[160] = "";

	if (dep1)
		snprintf(deps, sizeof(deps), ",\"dependsOn\":[\"%s\",\"%s\"]", dep1, dep2);
	snprintf(
	    json, size,
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
}

#endif
