/*
 * Bearer tokens from a file are re-read when the file changes, as a rotated
 * service-account token is: a client made from a token file keeps working
 * across a rotation, and a bad token in the file is refused (401), which
 * shows the file really is read again, while one that holds CR/LF (it would
 * add headers) is not used at all. Then the in-cluster configuration
 * (environment and service-account folder, as a pod has them) talks to the
 * real API server.
 */
#include <sys/stat.h>

#include "itest.h"

static char ns[128];

/* A fresh token for the service account, from the TokenRequest API. */
static char *request_token(struct bw_client *c, const char *sa)
{
	char path[256];
	struct bw_request req = {.method = "POST", .path = path};
	struct bw_response resp;
	const char *body = "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenRequest\","
			   "\"spec\":{\"expirationSeconds\":3600}}";
	struct bw_error err;
	json_t *tr;
	char *token = NULL;

	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/serviceaccounts/%s/token", ns, sa);
	req.body = body;
	req.body_len = strlen(body);
	if (bw_client_do(c, &req, &resp, &err) != 0) {
		printf("# token request: %s\n", err.message);
		return NULL;
	}
	tr = json_loadb(resp.body, resp.len, 0, NULL);
	token = strdup(json_string_value(json_object_get(json_object_get(tr, "status"), "token")));
	json_decref(tr);
	bw_response_release(&resp);
	return token;
}

static void write_file(const char *path, const char *text)
{
	char tmp[512];
	FILE *f;

	/* a rename, as the kubelet's atomic writer does, so readers never see half a token */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	fputs(text, f);
	fclose(f);
	rename(tmp, path);
}

static int list_ok(struct bw_client *c, struct bw_error *err)
{
	json_t *list = NULL;
	int ret = bw_client_list_page(c, &bw_res_configmaps, ns, NULL, &list, err);

	json_decref(list);
	return ret;
}

static int lists_fine(void *ctx)
{
	struct bw_error err;

	return list_ok(ctx, &err) == 0;
}

/* The in-cluster configuration, as a pod sees it: KUBERNETES_SERVICE_HOST
 * and _PORT, and the service-account folder with token, ca.crt and
 * namespace. */
static void in_cluster(const struct bw_kube_config *admin, const char *dir, const char *token)
{
	struct bw_kube_config cfg = {0};
	struct bw_client *c = NULL;
	struct bw_error err = {0};
	char sa[512], file[600], host[64];
	int port = 0;

	snprintf(sa, sizeof(sa), "%s/serviceaccount", dir);
	mkdir(sa, 0700);
	snprintf(file, sizeof(file), "%s/token", sa);
	write_file(file, token);
	snprintf(file, sizeof(file), "%s/ca.crt", sa);
	write_file(file, admin->ca_pem ? admin->ca_pem : "");
	snprintf(file, sizeof(file), "%s/namespace", sa);
	write_file(file, ns);
	CHECK(sscanf(admin->server, "https://%63[^:]:%d", host, &port) == 2,
	      "the API server's host and port (%s)", admin->server);
	snprintf(file, sizeof(file), "%d", port);
	setenv("KUBERNETES_SERVICE_HOST", host, 1);
	setenv("KUBERNETES_SERVICE_PORT", file, 1);

	CHECK_INT(0, bw_kubeconfig_in_cluster(&cfg, sa, &err), "in-cluster config loads (%s)",
		  err.code ? err.message : "ok");
	CHECK_STR(ns, cfg.namespace, "its namespace is the pod's");
	CHECK_INT(0, bw_client_new(&c, &cfg, NULL, &err), "a client from it");
	CHECK_INT(0, c ? list_ok(c, &err) : -1, "it lists as the service account, over TLS (%s)",
		  err.code ? err.message : "ok");
	bw_client_free(c);
	bw_kubeconfig_release(&cfg);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	for (const char *f = "token\0ca.crt\0namespace\0"; *f; f += strlen(f) + 1) {
		snprintf(file, sizeof(file), "%s/%s", sa, f);
		unlink(file);
	}
	rmdir(sa);
}

int main(void)
{
	struct bw_kube_config admin = {0}, cfg = {0};
	struct bw_client *c, *sa_client = NULL;
	struct bw_error err;
	char dir[] = "/tmp/bw-itest-token-XXXXXX", path[256];
	char *t1, *t2;
	json_t *obj;
	int ret;

	bw_log_configure(BW_LOG_ERROR, BW_LOG_TEXT, NULL);
	c = itest_client();
	if (itest_namespace(c, "token", ns, sizeof(ns)) != 0 || !mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/token", dir);

	obj = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "ServiceAccount",
			"metadata", "name", "rotator");
	CHECK_INT(0, bw_client_create(c, &bw_res_serviceaccounts, ns, obj, NULL, &err),
		  "create a service account");
	json_decref(obj);
	obj = json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:s, s:s}, s:[{s:s, s:s, s:s}]}", "apiVersion",
			"rbac.authorization.k8s.io/v1", "kind", "RoleBinding", "metadata", "name",
			"rotator-view", "roleRef", "apiGroup", "rbac.authorization.k8s.io", "kind",
			"ClusterRole", "name", "view", "subjects", "kind", "ServiceAccount", "name",
			"rotator", "namespace", ns);
	CHECK_INT(0, bw_client_create(c, &bw_res_rolebindings, ns, obj, NULL, &err),
		  "let it read the namespace (%s)", err.code ? err.message : "ok");
	json_decref(obj);

	t1 = request_token(c, "rotator");
	t2 = request_token(c, "rotator");
	CHECK(t1 && t2 && strcmp(t1, t2) != 0, "two different tokens issued");
	write_file(path, t1 ? t1 : "");

	bw_kubeconfig_load(&admin, getenv("KUBECONFIG"), NULL, &err);
	cfg.server = admin.server;
	cfg.ca_pem = admin.ca_pem;
	cfg.namespace = ns;
	cfg.token = t1;
	cfg.token_file = path;
	ret = bw_client_new(&sa_client, &cfg, NULL, &err);
	CHECK_INT(0, ret, "a client authenticating with the token file");

	/* the API server's RBAC reads the RoleBinding from its own cache, which
	 * may lag its create: a 403 until then */
	CHECK(itest_eventually(10000, lists_fine, sa_client), "it can list with the first token");
	itest_sleep_ms(20); /* a different modification time, whatever the file system's clock */
	write_file(path, "not-a-valid-token\n");
	ret = list_ok(sa_client, &err);
	CHECK_INT(BW_EDENIED, ret, "a bad token written to the file is used at once, and refused");
	CHECK_INT(401, err.http_status, "with HTTP 401");
	itest_sleep_ms(20);
	write_file(path, t2 ? t2 : "");
	CHECK_INT(0, list_ok(sa_client, &err), "the rotated token is picked up (%s)",
		  err.code ? err.message : "ok");
	itest_sleep_ms(20);
	write_file(path, "abc\r\nX-Evil: 1");
	CHECK_INT(0, list_ok(sa_client, &err),
		  "a token with CR/LF written to the file is refused, the previous one kept (%s)",
		  err.code ? err.message : "ok");

	bw_client_free(sa_client);
	sa_client = NULL;
	in_cluster(&admin, dir, t2 ? t2 : "");

	bw_kubeconfig_release(&admin);
	unlink(path);
	rmdir(dir);
	free(t1);
	free(t2);
	itest_delete_namespace(c, ns);
	bw_client_free(c);
	return check_exit();
}
