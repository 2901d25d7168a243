/*
 * Shared set-up for integration tests against the local control plane
 * (tests/cluster): a client from $KUBECONFIG, throwaway namespaces, and the
 * cluster script for restarts. Header-only; each test program includes it once.
 */
#ifndef BW_ITEST_H
#define BW_ITEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../unit/check.h"
#include "backoff.h"
#include "client.h"
#include "kubeconfig.h"
#include "log.h"

/* A client for the cluster named by $KUBECONFIG; exits the test on failure. */
static inline struct bw_client *itest_client_with(const struct bw_client_options *opts)
{
	struct bw_kube_config cfg = {0};
	struct bw_client *client = NULL;
	struct bw_error err;
	const char *path = getenv("KUBECONFIG");

	if (!path || bw_kubeconfig_load(&cfg, path, NULL, &err) != 0 ||
	    bw_client_new(&client, &cfg, opts, &err) != 0) {
		printf("not ok - connect to the cluster: %s\n",
		       path ? err.message : "no $KUBECONFIG");
		exit(1);
	}
	bw_kubeconfig_release(&cfg);
	return client;
}

static inline struct bw_client *itest_client(void)
{
	return itest_client_with(NULL);
}

/* Creates namespace name-<pid> into buf. */
static inline int itest_namespace(struct bw_client *client, const char *name, char *buf,
				  size_t size)
{
	struct bw_error err;
	json_t *ns;
	int ret;

	snprintf(buf, size, "bw-itest-%s-%d", name, (int)getpid());
	ns = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace", "metadata",
		       "name", buf);
	ret = bw_client_create(client, &bw_res_namespaces, NULL, ns, NULL, &err);
	json_decref(ns);
	if (ret != 0)
		printf("# creating namespace %s: %s\n", buf, err.message);
	return ret;
}

static inline void itest_delete_namespace(struct bw_client *client, const char *ns)
{
	bw_client_delete(client, &bw_res_namespaces, NULL, ns, NULL, NULL);
}

/* Runs tests/cluster/cluster.sh with args; 0 on success. */
static inline int itest_cluster(const char *args)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "tests/cluster/cluster.sh %s >/dev/null", args);
	return system(cmd) == 0 ? 0 : -1;
}

static inline void itest_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Polls cond(ctx) every 20 ms for up to timeout_ms; returns its last answer. */
static inline int itest_eventually(long timeout_ms, int (*cond)(void *), void *ctx)
{
	int64_t deadline = bw_now_ms() + timeout_ms;

	while (!cond(ctx)) {
		if (bw_now_ms() > deadline)
			return 0;
		itest_sleep_ms(20);
	}
	return 1;
}

static inline json_t *itest_configmap(const char *name, const char *label, const char *value)
{
	return json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:s}}", "apiVersion", "v1", "kind",
			 "ConfigMap", "metadata", "name", name, "labels", "itest", label, "data",
			 "value", value);
}

#endif
