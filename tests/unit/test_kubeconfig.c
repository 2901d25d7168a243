/*
 * Unit tests for lib/kubeconfig.c: kubeconfig files (fixtures under
 * tests/unit/data/kubeconfig/, one context per case), inline YAML, base64,
 * the in-cluster service-account config and the default search order.
 * Runs from the repository root.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "kubeconfig.h"

#define DATA	   "tests/unit/data/kubeconfig"
#define FIXTURE	   DATA "/kubeconfig.yaml"
#define SA_DEFAULT "/var/run/secrets/kubernetes.io/serviceaccount/token"

static char tmp_dir[] = "/tmp/bw-test-kubeconfig-XXXXXX";

/* A whole file as a string, or NULL; the caller frees it. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long size;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = calloc(1, (size_t)size + 1);
		if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

static char *fixture(const char *name)
{
	char path[256];

	if (!name)
		return NULL;
	snprintf(path, sizeof(path), "%s/%s", DATA, name);
	return slurp(path);
}

/* Writes text to dir/name (in the temp folder); returns the path in a static buffer. */
static const char *put(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
	f = fopen(path, "wb");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	return path;
}

/* Makes tmp_dir/name a sparse file of size bytes. */
static void put_sized(const char *name, long size)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
	if (truncate(path, size) != 0) {
		FILE *f = fopen(path, "wb");

		if (f)
			fclose(f);
		if (truncate(path, size) != 0)
			printf("# cannot size %s: %s\n", path, strerror(errno));
	}
}

static int contains(const char *haystack, const char *needle)
{
	return needle == NULL || (haystack && strstr(haystack, needle));
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = s ? strlen(s) : 0, b = strlen(suffix);

	return s && a >= b && strcmp(s + a - b, suffix) == 0;
}

static int cfg_empty(const struct bw_kube_config *cfg)
{
	return !cfg->server && !cfg->context && !cfg->namespace && !cfg->ca_pem && !cfg->cert_pem &&
	       !cfg->key_pem && !cfg->token && !cfg->token_file && !cfg->insecure_skip_tls_verify;
}

/* Checks the message of a failure: every non-NULL needle is in it. */
static void check_msg(const char *name, const struct bw_error *err, const char *const *needles,
		      size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!needles[i])
			continue;
		CHECK(contains(err->message, needles[i]), "%s: message names \"%s\"", name,
		      needles[i]);
		if (!contains(err->message, needles[i]))
			printf("    message: %s\n", err->message);
	}
}

/* ---- one context of the fixture per case ---- */

struct load_case {
	const char *context; /* NULL: current-context */
	int rc;
	const char *msg[3]; /* what the message must name, on error */
	const char *server; /* and on success, what the config must hold */
	const char *used;   /* cfg->context */
	const char *ns;	    /* namespace */
	const char *ca;	    /* fixture files whose text the PEMs must be */
	const char *cert;
	const char *key;
	const char *token;
	const char *token_file; /* a suffix of the absolute path */
	int insecure;
};

static const struct load_case load_cases[] = {
    {.context = NULL,
     .server = "https://127.0.0.1:6443",
     .used = "dev",
     .ns = "shop",
     .ca = "ca.crt",
     .cert = "client.crt",
     .key = "client.key"},
    {.context = "dev",
     .server = "https://127.0.0.1:6443",
     .used = "dev",
     .ns = "shop",
     .ca = "ca.crt",
     .cert = "client.crt",
     .key = "client.key"},
    {.context = "data",
     .server = "https://127.0.0.1:6443",
     .used = "data",
     .ns = "shop",
     .ca = "ca.crt",
     .cert = "client.crt",
     .key = "client.key"},
    {.context = "data-wins",
     .server = "https://127.0.0.1:6443",
     .used = "data-wins",
     .ns = "default",
     .ca = "ca.crt"},
    {.context = "token",
     .server = "https://10.0.0.1:6443",
     .used = "token",
     .ns = "default",
     .token = "abc.def-123",
     .insecure = 1},
    {.context = "token-file",
     .server = "https://127.0.0.1:6443",
     .used = "token-file",
     .ns = "default",
     .ca = "ca.crt",
     .token = "tok-from-file",
     .token_file = "/" DATA "/token"},
    {.context = "anonymous",
     .server = "https://127.0.0.1:6443",
     .used = "anonymous",
     .ns = "default",
     .ca = "ca.crt"},
    {.context = "no-scheme",
     .server = "https://kube.example:6443",
     .used = "no-scheme",
     .ns = "default",
     .token = "abc.def-123"},
    {.context = "insecure-with-ca",
     .rc = BW_EINVAL,
     .msg = {"cluster \"insecure-with-ca\"", "insecure-skip-tls-verify and a certificate-authority",
	     "not allowed"}},
    {.context = "insecure-with-ca-data",
     .rc = BW_EINVAL,
     .msg = {"cluster \"insecure-with-ca-data\"", "insecure-skip-tls-verify", "not allowed"}},
    {.context = "http-token",
     .rc = BW_EINVAL,
     .msg = {"cluster \"plain-http\" has an http:// server", "user \"robot\" a bearer token",
	     "clear text"}},
    {.context = "http-token-file",
     .rc = BW_EINVAL,
     .msg = {"cluster \"plain-http\"", "user \"file-token\"", "clear text"}},
    {.context = "loopback-http-token",
     .rc = BW_EINVAL,
     .msg = {"cluster \"loopback-http\"", "user \"robot\"", "clear text"}},
    {.context = "http-anonymous",
     .server = "http://10.0.0.1:8080",
     .used = "http-anonymous",
     .ns = "default"},
    {.context = "http-client-cert",
     .server = "http://10.0.0.1:8080",
     .used = "http-client-cert",
     .ns = "default",
     .cert = "client.crt",
     .key = "client.key"},
    {.context = "file-scheme",
     .rc = BW_EINVAL,
     .msg = {"cluster \"file-scheme\"", "file:///etc/passwd", "not an https:// URL"}},
    {.context = "nope",
     .rc = BW_ENOTFOUND,
     .msg = {FIXTURE, "context \"nope\" not found", "dev, data"}},
    {.context = "ghost-user",
     .rc = BW_ENOTFOUND,
     .msg = {FIXTURE, "user \"ghost\" not found", "admin, admin-data"}},
    {.context = "ghost-cluster",
     .rc = BW_ENOTFOUND,
     .msg = {FIXTURE, "cluster \"ghost\" not found", "local, local-data"}},
    {.context = "missing-ca",
     .rc = BW_EIO,
     .msg = {"certificate-authority", DATA "/no-such-ca.crt", "No such file"}},
    {.context = "bad-base64",
     .rc = BW_EINVAL,
     .msg = {"cluster \"bad-base64\"", "certificate-authority-data", "base64"}},
    {.context = "bad-key-data",
     .rc = BW_EINVAL,
     .msg = {"user \"bad-key-data\"", "client-key-data", "base64"}},
    {.context = "no-server",
     .rc = BW_EINVAL,
     .msg = {FIXTURE, "cluster \"no-server\" has no server"}},
};

static void test_load_cases(void)
{
	for (size_t i = 0; i < sizeof(load_cases) / sizeof(load_cases[0]); i++) {
		const struct load_case *c = &load_cases[i];
		const char *name = c->context ? c->context : "current-context";
		struct bw_kube_config cfg;
		struct bw_error err;
		char *ca = fixture(c->ca), *cert = fixture(c->cert), *key = fixture(c->key);
		int rc;

		bw_error_clear(&err);
		rc = bw_kubeconfig_load(&cfg, FIXTURE, c->context, &err);
		CHECK_INT(c->rc, rc, "load %s: return code", name);
		if (c->rc) {
			CHECK_INT(c->rc, err.code, "load %s: error code", name);
			CHECK(cfg_empty(&cfg), "load %s: config left empty", name);
			check_msg(name, &err, c->msg, 3);
		} else {
			if (rc)
				printf("    message: %s\n", err.message);
			CHECK_STR(c->server, cfg.server, "load %s: server", name);
			CHECK_STR(c->used, cfg.context, "load %s: context", name);
			CHECK_STR(c->ns, cfg.namespace, "load %s: namespace", name);
			CHECK_STR(ca, cfg.ca_pem, "load %s: certificate-authority", name);
			CHECK_STR(cert, cfg.cert_pem, "load %s: client-certificate", name);
			CHECK_STR(key, cfg.key_pem, "load %s: client-key", name);
			CHECK_STR(c->token, cfg.token, "load %s: token", name);
			if (c->token_file)
				CHECK(cfg.token_file && cfg.token_file[0] == '/' &&
					  ends_with(cfg.token_file, c->token_file),
				      "load %s: token_file is absolute (%s)", name,
				      cfg.token_file ? cfg.token_file : "NULL");
			else
				CHECK_STR(NULL, cfg.token_file, "load %s: no token_file", name);
			CHECK_INT(c->insecure, cfg.insecure_skip_tls_verify,
				  "load %s: insecure-skip-tls-verify", name);
		}
		bw_kubeconfig_release(&cfg);
		CHECK(cfg_empty(&cfg), "load %s: release zeroes the config", name);
		free(ca);
		free(cert);
		free(key);
	}
}

/* ---- inline YAML, parsed with base_dir = the fixture folder ---- */

#define HEAD	"current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
#define CLUSTER "clusters:\n- name: k\n  cluster: {server: 'https://h:1'}\n"
#define USER	"users:\n- name: u\n  user: {token: t}\n"

struct parse_case {
	const char *name;
	const char *yaml;
	const char *context;
	int rc;
	const char *msg[2];
	const char *secret; /* must not appear in the message */
	const char *server; /* on success */
	const char *ns;
	const char *ca;
	const char *token;
	int insecure;
};

static const struct parse_case parse_cases[] = {
    {.name = "minimal",
     .yaml = HEAD CLUSTER USER,
     .server = "https://h:1",
     .ns = "default",
     .token = "t"},
    {.name = "flow style and extra fields",
     .yaml = "{apiVersion: v1, kind: Config, preferences: {}, extensions: [], current-context: c,"
	     " contexts: [{name: c, context: {cluster: k, user: u, namespace: ns1, extensions: "
	     "[]}}], clusters: [{name: k, cluster: {server: 'https://h:1///', proxy-url: x}}],"
	     " users: [{name: u, user: {token: t}}]}",
     .server = "https://h:1",
     .ns = "ns1",
     .token = "t"},
    {.name = "anchors and aliases",
     .yaml = "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
	     "clusters:\n- name: k\n  cluster: &c {server: 'https://h:2', "
	     "insecure-skip-tls-verify: yes}\n- name: k2\n  cluster: *c\n"
	     "users:\n- name: u\n  user: {token: t}\n",
     .server = "https://h:2",
     .ns = "default",
     .token = "t",
     .insecure = 1},
    {.name = "insecure false",
     .yaml = HEAD USER "clusters:\n- name: k\n  cluster: {server: 'https://h:1', "
		       "insecure-skip-tls-verify: false}\n",
     .server = "https://h:1",
     .ns = "default",
     .token = "t"},
    {.name = "insecure not a boolean",
     .yaml = HEAD USER "clusters:\n- name: k\n  cluster: {server: 'https://h:1', "
		       "insecure-skip-tls-verify: maybe}\n",
     .rc = BW_EINVAL,
     .msg = {"insecure-skip-tls-verify", "cluster \"k\""}},
    {.name = "relative certificate-authority",
     .yaml = HEAD USER "clusters:\n- name: k\n  cluster: {server: 'https://h:1', "
		       "certificate-authority: ca.crt}\n",
     .server = "https://h:1",
     .ns = "default",
     .ca = "ca.crt",
     .token = "t"},
    {.name = "explicit context over current-context",
     .yaml = "current-context: c\ncontexts:\n- name: c\n  context: {cluster: nope}\n"
	     "- name: d\n  context: {cluster: k, namespace: other}\n" CLUSTER,
     .context = "d",
     .server = "https://h:1",
     .ns = "other"},
    {.name = "no current-context",
     .yaml = CLUSTER USER,
     .rc = BW_ENOTFOUND,
     .msg = {"no current-context"}},
    {.name = "empty current-context",
     .yaml = "current-context: ''\ncontexts:\n- name: a\n- name: b\n" CLUSTER,
     .rc = BW_ENOTFOUND,
     .msg = {"no current-context", "contexts: a, b"}},
    {.name = "no contexts at all",
     .yaml = "current-context: c\n" CLUSTER,
     .rc = BW_ENOTFOUND,
     .msg = {"context \"c\" not found", "there are no contexts"}},
    {.name = "context without cluster",
     .yaml = "current-context: c\ncontexts:\n- name: c\n  context: {user: u}\n" CLUSTER USER,
     .rc = BW_EINVAL,
     .msg = {"context \"c\" names no cluster"}},
    {.name = "context defined twice",
     .yaml = "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n"
	     "- name: c\n  context: {cluster: k}\n" CLUSTER,
     .rc = BW_EINVAL,
     .msg = {"context \"c\" is defined twice"}},
    {.name = "clusters not a list",
     .yaml = HEAD USER "clusters: {k: 1}\n",
     .rc = BW_EINVAL,
     .msg = {"clusters is not a list"}},
    {.name = "server is a list",
     .yaml = HEAD USER "clusters:\n- name: k\n  cluster: {server: [a]}\n",
     .rc = BW_EINVAL,
     .msg = {"cluster \"k\": server is not a string"}},
    {.name = "server only slashes",
     .yaml = HEAD USER "clusters:\n- name: k\n  cluster: {server: '//'}\n",
     .rc = BW_EINVAL,
     .msg = {"has no server"}},
    {.name = "credentials in the server URL",
     .yaml = HEAD USER "clusters:\n- name: k\n  cluster: {server: 'https://admin:s3cret@h:1/x'}\n",
     .rc = BW_EINVAL,
     .msg = {"cluster \"k\": the server URL holds credentials"},
     .secret = "s3cret"},
    {.name = "a user in a server without scheme",
     .yaml = HEAD USER "clusters:\n- name: k\n  cluster: {server: 'admin@h:6443'}\n",
     .rc = BW_EINVAL,
     .msg = {"cluster \"k\": the server URL holds credentials"}},
    {.name = "an @ in the path is not a user",
     .yaml = HEAD USER "clusters:\n- name: k\n  cluster: {server: 'https://h:1/a@b'}\n",
     .server = "https://h:1/a@b",
     .ns = "default",
     .token = "t"},
    {.name = "server without scheme",
     .yaml = HEAD USER "clusters:\n- name: k\n  cluster: {server: 'h:6443/'}\n",
     .server = "https://h:6443",
     .ns = "default",
     .token = "t"},
    {.name = "cluster entry without body",
     .yaml = HEAD USER "clusters:\n- name: k\n",
     .rc = BW_EINVAL,
     .msg = {"cluster \"k\" has no server"}},
    {.name = "exec plugin only",
     .yaml = HEAD CLUSTER "users:\n- name: u\n  user:\n    exec: {command: aws}\n",
     .rc = BW_EINVAL,
     .msg = {"user \"u\" uses exec"}},
    {.name = "certificate without key",
     .yaml = HEAD CLUSTER "users:\n- name: u\n  user: {client-certificate-data: YWJj}\n",
     .rc = BW_EINVAL,
     .msg = {"user \"u\" has a client-certificate but no client-key"}},
    {.name = "token with a newline",
     .yaml = HEAD CLUSTER "users:\n- name: u\n  user: {token: \"a\\nb\"}\n",
     .rc = BW_EINVAL,
     .msg = {"user \"u\": token holds control characters"}},
    {.name = "NUL in a value",
     .yaml = HEAD USER "clusters:\n- name: k\n  cluster: {server: \"https://h\\0x\"}\n",
     .rc = BW_EINVAL,
     .msg = {"server contains a NUL"}},
    {.name = "missing tokenFile",
     .yaml = HEAD CLUSTER "users:\n- name: u\n  user: {tokenFile: no-such-token}\n",
     .rc = BW_EIO,
     .msg = {"user \"u\": cannot read tokenFile", DATA "/no-such-token"}},
    {.name = "tokenFile is a folder",
     .yaml = HEAD CLUSTER "users:\n- name: u\n  user: {tokenFile: .}\n",
     .rc = BW_EIO,
     .msg = {"folder"}},
    {.name = "certificate-authority is a device",
     .yaml = HEAD USER "clusters:\n- name: k\n  cluster: {server: 'https://h', "
		       "certificate-authority: /dev/zero}\n",
     .rc = BW_EIO,
     .msg = {"/dev/zero", "not a regular file"}},
    {.name = "empty document", .yaml = "", .rc = BW_EPARSE, .msg = {"empty"}},
    {.name = "comment only", .yaml = "# nothing\n", .rc = BW_EPARSE, .msg = {"empty"}},
    {.name = "top level a list",
     .yaml = "- a\n- b\n",
     .rc = BW_EPARSE,
     .msg = {"line 1", "not a mapping"}},
    {.name = "top level a scalar",
     .yaml = "\n\nhello\n",
     .rc = BW_EPARSE,
     .msg = {"line 3", "not a mapping"}},
    {.name = "bad indentation",
     .yaml = "current-context: c\nclusters:\n- name: k\n  cluster:\n    server: x\n   bad: y\n",
     .rc = BW_EPARSE,
     .msg = {"line 6, column 4", "did not find expected key"}},
    {.name = "unclosed flow", .yaml = "a: [b, c\n", .rc = BW_EPARSE, .msg = {"line 2", "YAML"}},
    {.name = "tab indentation",
     .yaml = "a:\n\tb: c\n",
     .rc = BW_EPARSE,
     .msg = {"line 2, column 1"}},
    {.name = "invalid UTF-8",
     .yaml = "a: b\nc: \xff\xfe\n",
     .rc = BW_EPARSE,
     .msg = {"line 2, column 4"}},
    {.name = "an alias cycle",
     .yaml = HEAD USER "clusters:\n- name: k\n  cluster: &c {server: *c}\n",
     .rc = BW_EINVAL,
     .msg = {"cluster \"k\": server is not a string"}},
    {.name = "undefined alias",
     .yaml = "a: *x\n",
     .rc = BW_EPARSE,
     .msg = {"line 1", "undefined alias"}},
};

static void test_parse_cases(void)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct bw_kube_config cfg;
		struct bw_error err;
		char *ca = fixture(c->ca);
		int rc;

		bw_error_clear(&err);
		rc = bw_kubeconfig_parse(&cfg, c->yaml, strlen(c->yaml), DATA, c->context, &err);
		CHECK_INT(c->rc, rc, "parse %s: return code", c->name);
		if (c->rc) {
			CHECK(cfg_empty(&cfg), "parse %s: config left empty", c->name);
			check_msg(c->name, &err, c->msg, 2);
			if (c->secret)
				CHECK(!strstr(err.message, c->secret),
				      "parse %s: the message does not quote the secret", c->name);
		} else {
			if (rc)
				printf("    message: %s\n", err.message);
			CHECK_STR(c->server, cfg.server, "parse %s: server", c->name);
			CHECK_STR(c->ns, cfg.namespace, "parse %s: namespace", c->name);
			CHECK_STR(ca, cfg.ca_pem, "parse %s: certificate-authority", c->name);
			CHECK_STR(c->token, cfg.token, "parse %s: token", c->name);
			CHECK_INT(c->insecure, cfg.insecure_skip_tls_verify,
				  "parse %s: insecure-skip-tls-verify", c->name);
		}
		bw_kubeconfig_release(&cfg);
		free(ca);
	}
}

/* ---- base64 of certificate-authority-data ---- */

struct b64_case {
	const char *data;     /* YAML text of the value */
	const char *expected; /* decoded; NULL: BW_EINVAL */
};

static const struct b64_case b64_cases[] = {
    {"YQ==", "a"},
    {"YWI=", "ab"},
    {"YWJj", "abc"},
    {"YWJjZA==", "abcd"},
    {"'LS0tLS1CRUdJTi0tLS0t'", "-----BEGIN-----"},
    {"|\n      YWJj\n      ZGVm\n", "abcdef"},
    {"\"YW Jj\\tZA ==\"", "abcd"},
    {"YQ", NULL},
    {"YQ=", NULL},
    {"Y===", NULL},
    {"YQ==YQ==", NULL},
    {"Y", NULL},
    {"YW-j", NULL},
    {"YW_j", NULL},
    {"\"=\"", NULL},
    {"AA==", NULL}, /* a NUL byte: binary, not PEM text */
};

static void test_base64(void)
{
	for (size_t i = 0; i < sizeof(b64_cases) / sizeof(b64_cases[0]); i++) {
		const struct b64_case *c = &b64_cases[i];
		struct bw_kube_config cfg;
		struct bw_error err;
		char yaml[512];
		int rc;

		snprintf(yaml, sizeof(yaml),
			 HEAD USER "clusters:\n- name: k\n  cluster:\n    server: https://h\n"
				   "    certificate-authority-data: %s\n",
			 c->data);
		bw_error_clear(&err);
		rc = bw_kubeconfig_parse(&cfg, yaml, strlen(yaml), NULL, NULL, &err);
		if (c->expected) {
			CHECK_INT(0, rc, "base64 %s: accepted", c->data);
			if (rc)
				printf("    message: %s\n", err.message);
			CHECK_STR(c->expected, cfg.ca_pem, "base64 %s: decoded", c->data);
		} else {
			CHECK_INT(BW_EINVAL, rc, "base64 %s: refused", c->data);
			CHECK(contains(err.message, "certificate-authority-data"),
			      "base64 %s: message names the field (%s)", c->data, err.message);
		}
		bw_kubeconfig_release(&cfg);
	}
}

/* ---- files: missing, malformed, too big ---- */

static void test_files(void)
{
	struct bw_kube_config cfg;
	struct bw_error err;
	char path[512];
	int rc;

	bw_error_clear(&err);
	rc = bw_kubeconfig_load(&cfg, DATA "/no-such-file.yaml", NULL, &err);
	CHECK_INT(BW_EIO, rc, "missing kubeconfig: BW_EIO");
	CHECK(contains(err.message, DATA "/no-such-file.yaml") &&
		  contains(err.message, "No such file or directory"),
	      "missing kubeconfig: message names the file and the reason (%s)", err.message);
	CHECK(cfg_empty(&cfg), "missing kubeconfig: config left empty");

	rc = bw_kubeconfig_load(&cfg, DATA "/malformed.yaml", NULL, &err);
	CHECK_INT(BW_EPARSE, rc, "malformed kubeconfig: BW_EPARSE");
	CHECK(contains(err.message, DATA "/malformed.yaml") && contains(err.message, "line 8"),
	      "malformed kubeconfig: message names the file and line 8 (%s)", err.message);

	rc = bw_kubeconfig_load(&cfg, "", NULL, &err);
	CHECK_INT(BW_EINVAL, rc, "empty path: BW_EINVAL");

	rc = bw_kubeconfig_load(&cfg, DATA, NULL, &err);
	CHECK_INT(BW_EIO, rc, "kubeconfig is a folder: BW_EIO (%s)", err.message);

	/* a kubeconfig just over 4 MiB */
	put("big.yaml", "");
	put_sized("big.yaml", (4L << 20) + 1);
	snprintf(path, sizeof(path), "%s/big.yaml", tmp_dir);
	rc = bw_kubeconfig_load(&cfg, path, NULL, &err);
	CHECK_INT(BW_ETOOBIG, rc, "kubeconfig over 4 MiB: BW_ETOOBIG (%s)", err.message);
	CHECK(contains(err.message, path), "kubeconfig over 4 MiB: message names it");

	/* a certificate just over 1 MiB, and one at exactly 1 MiB */
	put("big.crt", "");
	put_sized("big.crt", (1L << 20) + 1);
	snprintf(path, sizeof(path), "%s",
		 put("big-ca.yaml", HEAD USER "clusters:\n- name: k\n  cluster: {server: "
					      "'https://h', certificate-authority: big.crt}\n"));
	rc = bw_kubeconfig_load(&cfg, path, NULL, &err);
	CHECK_INT(BW_ETOOBIG, rc, "certificate over 1 MiB: BW_ETOOBIG (%s)", err.message);
	CHECK(contains(err.message, "big.crt") && contains(err.message, "certificate-authority"),
	      "certificate over 1 MiB: message names the file");
	put_sized("big.crt", 1L << 20);
	rc = bw_kubeconfig_load(&cfg, path, NULL, &err);
	CHECK_INT(BW_EINVAL, rc, "certificate of 1 MiB of zeros: read, then refused as binary (%s)",
		  err.message);
	{
		char *text = calloc(1, (1u << 20) + 1);

		if (text) {
			FILE *f;
			char big[512];

			memset(text, 'A', 1u << 20);
			snprintf(big, sizeof(big), "%s/big.crt", tmp_dir);
			f = fopen(big, "wb");
			if (f) {
				fwrite(text, 1, 1u << 20, f);
				fclose(f);
			}
			rc = bw_kubeconfig_load(&cfg, path, NULL, &err);
			CHECK_INT(0, rc, "certificate of exactly 1 MiB: accepted");
			CHECK(cfg.ca_pem && strlen(cfg.ca_pem) == (1u << 20),
			      "certificate of exactly 1 MiB: all of it read");
			bw_kubeconfig_release(&cfg);
			free(text);
		}
	}

	/* a kubeconfig named by a relative path without a folder */
	{
		char cwd[1024];

		if (getcwd(cwd, sizeof(cwd)) && chdir(DATA) == 0) {
			rc = bw_kubeconfig_load(&cfg, "kubeconfig.yaml", NULL, &err);
			CHECK_INT(0, rc, "kubeconfig in the current folder: loads (%s)",
				  rc ? err.message : "");
			CHECK(cfg.ca_pem && cfg.cert_pem,
			      "kubeconfig in the current folder: relative files read");
			bw_kubeconfig_release(&cfg);
			CHECK(chdir(cwd) == 0, "back to the repository root");
		}
	}

	/* release is safe twice and on NULL */
	bw_kubeconfig_release(&cfg);
	bw_kubeconfig_release(NULL);
	CHECK(cfg_empty(&cfg), "release twice is safe");
}

/* ---- in-cluster ---- */

struct cluster_case {
	const char *host, *port;
	int rc;
	const char *server; /* or a word of the message when rc != 0 */
};

static const struct cluster_case cluster_cases[] = {
    {"10.96.0.1", "443", 0, "https://10.96.0.1:443"},
    {"fd00:10:96::1", "443", 0, "https://[fd00:10:96::1]:443"},
    {"[fd00::1]", "6443", 0, "https://[fd00::1]:6443"},
    {"kubernetes.default.svc", "443", 0, "https://kubernetes.default.svc:443"},
    {NULL, "443", BW_ENOTFOUND, "KUBERNETES_SERVICE_HOST"},
    {"10.96.0.1", NULL, BW_ENOTFOUND, "KUBERNETES_SERVICE_PORT"},
    {"", "", BW_ENOTFOUND, "not running in a cluster"},
    {"10.96.0.1", "https", BW_EINVAL, "KUBERNETES_SERVICE_PORT \"https\""},
    {"10.96.0.1", "70000", BW_EINVAL, "not a port"},
    {"10.96.0.1", "0", BW_EINVAL, "not a port"},
    {"evil.example/x?", "443", BW_EINVAL, "KUBERNETES_SERVICE_HOST"},
};

static void set_or_unset(const char *name, const char *value)
{
	if (value)
		setenv(name, value, 1);
	else
		unsetenv(name);
}

static void test_in_cluster(void)
{
	struct bw_kube_config cfg;
	struct bw_error err;
	char sa[512], token_path[600];
	char *ca = fixture("ca.crt");
	int rc;

	snprintf(sa, sizeof(sa), "%s/sa", tmp_dir);
	mkdir(sa, 0700);
	put("sa/token", "  sa-token.xyz\n");
	put("sa/namespace", "shop\n");
	{
		char *text = fixture("ca.crt");

		put("sa/ca.crt", text ? text : "");
		free(text);
	}
	snprintf(token_path, sizeof(token_path), "%s/token", sa);

	for (size_t i = 0; i < sizeof(cluster_cases) / sizeof(cluster_cases[0]); i++) {
		const struct cluster_case *c = &cluster_cases[i];
		const char *name = c->host ? c->host : "(no host)";

		set_or_unset("KUBERNETES_SERVICE_HOST", c->host);
		set_or_unset("KUBERNETES_SERVICE_PORT", c->port);
		bw_error_clear(&err);
		rc = bw_kubeconfig_in_cluster(&cfg, sa, &err);
		CHECK_INT(c->rc, rc, "in-cluster %s:%s: return code", name,
			  c->port ? c->port : "(none)");
		if (c->rc) {
			CHECK(contains(err.message, c->server), "in-cluster %s: message (%s)", name,
			      err.message);
			CHECK(cfg_empty(&cfg), "in-cluster %s: config left empty", name);
		} else {
			CHECK_STR(c->server, cfg.server, "in-cluster %s: server", name);
			CHECK_STR("sa-token.xyz", cfg.token, "in-cluster %s: token, trimmed", name);
			CHECK_STR(token_path, cfg.token_file, "in-cluster %s: token_file", name);
			CHECK_STR("shop", cfg.namespace, "in-cluster %s: namespace", name);
			CHECK_STR(ca, cfg.ca_pem, "in-cluster %s: ca.crt", name);
			CHECK_STR(NULL, cfg.context, "in-cluster %s: no context", name);
			CHECK_STR(NULL, cfg.cert_pem, "in-cluster %s: no client certificate", name);
		}
		bw_kubeconfig_release(&cfg);
	}

	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);

	put("sa/namespace", "  \n");
	rc = bw_kubeconfig_in_cluster(&cfg, sa, &err);
	CHECK_INT(0, rc, "in-cluster, blank namespace file: loads");
	CHECK_STR("default", cfg.namespace, "in-cluster, blank namespace file: default");
	bw_kubeconfig_release(&cfg);

	snprintf(token_path, sizeof(token_path), "%s/namespace", sa);
	unlink(token_path);
	rc = bw_kubeconfig_in_cluster(&cfg, sa, &err);
	CHECK_INT(0, rc, "in-cluster, no namespace file: loads");
	CHECK_STR("default", cfg.namespace, "in-cluster, no namespace file: default");
	bw_kubeconfig_release(&cfg);

	put("sa/token", "\n");
	rc = bw_kubeconfig_in_cluster(&cfg, sa, &err);
	CHECK_INT(BW_EINVAL, rc, "in-cluster, empty token: BW_EINVAL");
	CHECK(contains(err.message, "empty"), "in-cluster, empty token: says so (%s)", err.message);

	snprintf(token_path, sizeof(token_path), "%s/token", sa);
	unlink(token_path);
	rc = bw_kubeconfig_in_cluster(&cfg, sa, &err);
	CHECK_INT(BW_EIO, rc, "in-cluster, no token: BW_EIO");
	CHECK(contains(err.message, token_path), "in-cluster, no token: names %s (%s)", token_path,
	      err.message);
	CHECK(cfg_empty(&cfg), "in-cluster, no token: config left empty");

	put("sa/token", "t\n");
	snprintf(token_path, sizeof(token_path), "%s/ca.crt", sa);
	unlink(token_path);
	rc = bw_kubeconfig_in_cluster(&cfg, sa, &err);
	CHECK_INT(BW_EIO, rc, "in-cluster, no ca.crt: BW_EIO");
	CHECK(contains(err.message, "ca.crt"), "in-cluster, no ca.crt: names it (%s)", err.message);

	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	free(ca);
}

/* ---- the default search: path, in-cluster, $KUBECONFIG, ~/.kube/config ---- */

static void test_load_default(void)
{
	struct bw_kube_config cfg;
	struct bw_error err;
	char home[512], other[600];
	int in_pod = access(SA_DEFAULT, F_OK) == 0;
	int rc;

	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	snprintf(home, sizeof(home), "%s/home", tmp_dir);
	mkdir(home, 0700);
	setenv("HOME", home, 1);

	setenv("KUBECONFIG", DATA "/malformed.yaml", 1);
	rc = bw_kubeconfig_load_default(&cfg, FIXTURE, "token", &err);
	CHECK_INT(0, rc, "default: an explicit path wins over $KUBECONFIG");
	CHECK_STR("https://10.0.0.1:6443", cfg.server, "default: explicit path and context used");
	bw_kubeconfig_release(&cfg);

	setenv("KUBECONFIG", FIXTURE ":/no/such/file", 1);
	rc = bw_kubeconfig_load_default(&cfg, NULL, NULL, &err);
	CHECK_INT(0, rc, "default: first entry of $KUBECONFIG (%s)", rc ? err.message : "");
	CHECK_STR("dev", cfg.context, "default: $KUBECONFIG's current-context");
	bw_kubeconfig_release(&cfg);

	setenv("KUBECONFIG", "::" FIXTURE, 1);
	rc = bw_kubeconfig_load_default(&cfg, NULL, "data", &err);
	CHECK_INT(0, rc, "default: empty $KUBECONFIG entries skipped");
	CHECK_STR("data", cfg.context, "default: context passed on to $KUBECONFIG");
	bw_kubeconfig_release(&cfg);

	setenv("KUBECONFIG", DATA "/malformed.yaml", 1);
	rc = bw_kubeconfig_load_default(&cfg, NULL, NULL, &err);
	CHECK_INT(BW_EPARSE, rc, "default: a broken $KUBECONFIG is reported, not skipped");
	CHECK(contains(err.message, "malformed.yaml"), "default: broken file named (%s)",
	      err.message);

	if (!in_pod) {
		/* in-cluster env without a token: not a pod with a service account */
		setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
		setenv("KUBERNETES_SERVICE_PORT", "443", 1);
		setenv("KUBECONFIG", FIXTURE, 1);
		rc = bw_kubeconfig_load_default(&cfg, NULL, NULL, &err);
		CHECK_INT(0, rc, "default: in-cluster env without a token falls through");
		CHECK_STR("dev", cfg.context, "default: ... to $KUBECONFIG");
		bw_kubeconfig_release(&cfg);
		unsetenv("KUBERNETES_SERVICE_HOST");
		unsetenv("KUBERNETES_SERVICE_PORT");
	}

	/* $KUBECONFIG names a missing file: on to ~/.kube/config */
	snprintf(other, sizeof(other), "%s/.kube", home);
	mkdir(other, 0700);
	put("home/.kube/config",
	    "current-context: h\ncontexts: [{name: h, context: {cluster: "
	    "h}}]\nclusters: [{name: h, cluster: {server: 'https://home'}}]\n");
	setenv("KUBECONFIG", "/no/such/kubeconfig", 1);
	rc = bw_kubeconfig_load_default(&cfg, NULL, NULL, &err);
	CHECK_INT(0, rc, "default: ~/.kube/config after a missing $KUBECONFIG (%s)",
		  rc ? err.message : "");
	CHECK_STR("https://home", cfg.server, "default: ~/.kube/config used");
	bw_kubeconfig_release(&cfg);

	unsetenv("KUBECONFIG");
	rc = bw_kubeconfig_load_default(&cfg, NULL, NULL, &err);
	CHECK_INT(0, rc, "default: ~/.kube/config without $KUBECONFIG");
	bw_kubeconfig_release(&cfg);

	/* nothing anywhere */
	snprintf(other, sizeof(other), "%s/.kube/config", home);
	unlink(other);
	setenv("KUBECONFIG", "/no/such/kubeconfig", 1);
	rc = bw_kubeconfig_load_default(&cfg, NULL, NULL, &err);
	CHECK_INT(BW_ENOTFOUND, rc, "default: nothing found: BW_ENOTFOUND");
	CHECK(contains(err.message, "in-cluster") && contains(err.message, "/no/such/kubeconfig") &&
		  contains(err.message, other),
	      "default: nothing found: names what was tried (%s)", err.message);
	CHECK(cfg_empty(&cfg), "default: nothing found: config left empty");

	rc = bw_kubeconfig_load_default(&cfg, NULL, "dev", &err);
	CHECK_INT(BW_ENOTFOUND, rc, "default: a named context and nothing found: BW_ENOTFOUND");
	CHECK(contains(err.message, "in-cluster (skipped: a context was named)"),
	      "default: a named context skips in-cluster (%s)", err.message);

	unsetenv("KUBECONFIG");
	unsetenv("HOME");
	rc = bw_kubeconfig_load_default(&cfg, NULL, NULL, &err);
	CHECK_INT(BW_ENOTFOUND, rc, "default: no $HOME: BW_ENOTFOUND");
	CHECK(contains(err.message, "$HOME not set"), "default: no $HOME: says so (%s)",
	      err.message);
}

/* Removes what the tests wrote under tmp_dir. */
static void cleanup(void)
{
	static const char *const files[] = {
	    "big.yaml",	 "big.crt",	 "big-ca.yaml",	      "sa/token",
	    "sa/ca.crt", "sa/namespace", "home/.kube/config",
	};
	static const char *const dirs[] = {"sa", "home/.kube", "home"};
	char path[600];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmp_dir, files[i]);
		unlink(path);
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmp_dir, dirs[i]);
		rmdir(path);
	}
	rmdir(tmp_dir);
}

int main(void)
{
	if (!mkdtemp(tmp_dir)) {
		printf("not ok - cannot make a temporary folder: %s\n", strerror(errno));
		return 1;
	}
	test_load_cases();
	test_parse_cases();
	test_base64();
	test_files();
	test_in_cluster();
	test_load_default();
	cleanup();
	return check_exit();
}
