/* Kubeconfig and in-cluster configuration: see kubeconfig.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <yaml.h>

#include "error.h"
#include "certs.h"
#include "file.h"
#include "kubeconfig.h"

#define KC_MAX_CONFIG (4u << 20) /* a kubeconfig file */
#define KC_MAX_REF    (1u << 20) /* a certificate, key or token file it names */
#define KC_SA_DIR     "/var/run/secrets/kubernetes.io/serviceaccount"
#define KC_NAMES_MAX  200 /* the list of existing names in a "not found" message */
#define KC_PATH_SHOWN 200 /* how much of a long path a message shows (head...tail) */

/* One cluster, user or context body of a kubeconfig, for the field readers. */
struct section {
	yaml_document_t *doc;
	yaml_node_t *map; /* the body mapping; NULL when the entry has none */
	const char *kind; /* "cluster", "user", "context" */
	const char *name;
	const char *base_dir; /* resolves relative paths; NULL: cwd */
	struct bw_error *err;
};

static char *dup_mem(const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (!p)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* a followed by b, as a new string */
static char *concat(const char *a, const char *b)
{
	size_t alen = strlen(a), blen = strlen(b);
	char *p = malloc(alen + blen + 1);

	if (!p)
		return NULL;
	memcpy(p, a, alen);
	memcpy(p + alen, b, blen + 1);
	return p;
}

/* Frees a string that may hold a secret, overwriting it first. */
static void free_secret(char *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

/* Joins dir and name; name is returned as is when absolute or when dir is NULL. */
static char *path_join(const char *dir, const char *name)
{
	size_t dlen, nlen;
	char *p;

	if (!dir || !*dir || name[0] == '/')
		return dup_mem(name, strlen(name));
	dlen = strlen(dir);
	while (dlen > 1 && dir[dlen - 1] == '/')
		dlen--;
	nlen = strlen(name);
	p = malloc(dlen + 1 + nlen + 1);
	if (!p)
		return NULL;
	memcpy(p, dir, dlen);
	if (dir[dlen - 1] != '/')
		p[dlen++] = '/';
	memcpy(p + dlen, name, nlen + 1);
	return p;
}

/* The absolute folder of path, like Go's filepath.Abs(filepath.Dir(path)). */
static int abs_dir(const char *path, char **out, struct bw_error *err)
{
	const char *slash = strrchr(path, '/');
	char *dir = NULL, *cwd = NULL, *grown;
	size_t size = 256;
	char ebuf[128];
	int rc = 0;

	*out = NULL;
	if (!slash)
		dir = dup_mem(".", 1);
	else
		dir = dup_mem(path, slash == path ? 1 : (size_t)(slash - path));
	if (!dir) {
		rc = bw_error_set(err, BW_ENOMEM, "out of memory");
		goto out;
	}
	if (dir[0] == '/') {
		*out = dir;
		dir = NULL;
		goto out;
	}
	for (;;) {
		grown = realloc(cwd, size);
		if (!grown) {
			rc = bw_error_set(err, BW_ENOMEM, "out of memory");
			goto out;
		}
		cwd = grown;
		if (getcwd(cwd, size))
			break;
		if (errno != ERANGE || size >= 65536) {
			rc = bw_error_set(err, BW_EIO, "cannot find the current folder: %s",
					  bw_file_strerror(errno, ebuf, sizeof(ebuf)));
			goto out;
		}
		size *= 2;
	}
	*out = path_join(cwd, dir);
	if (!*out)
		rc = bw_error_set(err, BW_ENOMEM, "out of memory");
out:
	free(cwd);
	free(dir);
	return rc;
}

static int is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Strips leading and trailing whitespace in place. */
static void trim(char *s)
{
	size_t start = 0, end = strlen(s);

	while (end > 0 && is_space((unsigned char)s[end - 1]))
		end--;
	while (start < end && is_space((unsigned char)s[start]))
		start++;
	memmove(s, s + start, end - start);
	s[end - start] = '\0';
}

/* True when a bearer token can go into an HTTP header as it is. */
static int token_ok(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return 0;
	}
	return 1;
}

static yaml_node_t *node_at(yaml_document_t *doc, int id)
{
	return yaml_document_get_node(doc, id);
}

static int scalar_is(const yaml_node_t *n, const char *s)
{
	size_t len = strlen(s);

	return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == len &&
	       memcmp(n->data.scalar.value, s, len) == 0;
}

/* An absent value, or a plain null: `key:`, `key: ~`, `key: null`. */
static int is_null(const yaml_node_t *n)
{
	if (!n)
		return 1;
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	return n->data.scalar.length == 0 || scalar_is(n, "~") || scalar_is(n, "null") ||
	       scalar_is(n, "Null") || scalar_is(n, "NULL");
}

/* The value of key in a mapping node; NULL when map is not a mapping or has no such key. */
static yaml_node_t *map_get(yaml_document_t *doc, const yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *pair;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		if (scalar_is(node_at(doc, pair->key), key))
			return node_at(doc, pair->value);
	}
	return NULL;
}

/* A string value of the section as a new string; *out is NULL when absent, null or empty. */
static int sec_string(const struct section *s, const char *key, char **out)
{
	yaml_node_t *n = map_get(s->doc, s->map, key);

	*out = NULL;
	if (is_null(n))
		return 0;
	if (n->type != YAML_SCALAR_NODE)
		return bw_error_set(s->err, BW_EINVAL, "%s \"%s\": %s is not a string", s->kind,
				    s->name, key);
	if (memchr(n->data.scalar.value, '\0', n->data.scalar.length))
		return bw_error_set(s->err, BW_EINVAL, "%s \"%s\": %s contains a NUL character",
				    s->kind, s->name, key);
	if (n->data.scalar.length == 0)
		return 0;
	*out = dup_mem((const char *)n->data.scalar.value, n->data.scalar.length);
	if (!*out)
		return bw_error_set(s->err, BW_ENOMEM, "out of memory");
	return 0;
}

/* A YAML 1.1 boolean, as Kubernetes' YAML reader takes it; absent is false. */
static int sec_bool(const struct section *s, const char *key, int *out)
{
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
					  "on",	  "On",	  "ON",	  "y",	 "Y"};
	static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO",
					 "off",	  "Off",   "OFF",   "n",  "N"};
	yaml_node_t *n = map_get(s->doc, s->map, key);
	size_t i;

	*out = 0;
	if (is_null(n))
		return 0;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (scalar_is(n, yes[i])) {
			*out = 1;
			return 0;
		}
		if (scalar_is(n, no[i]))
			return 0;
	}
	return bw_error_set(s->err, BW_EINVAL, "%s \"%s\": %s is not true or false", s->kind,
			    s->name, key);
}

/*
 * PEM text from data_key (base64, wins when both are set, as with kubectl) or
 * from the file named by file_key. *out stays NULL when neither is set.
 */
static int sec_pem(const struct section *s, const char *file_key, const char *data_key, char **out)
{
	char *data = NULL, *file = NULL, *path = NULL, *pem = NULL, pbuf[KC_PATH_SHOWN + 1];
	size_t len = 0;
	int rc;

	*out = NULL;
	rc = sec_string(s, data_key, &data);
	if (rc)
		goto out;
	if (data) {
		/* standard padded base64, whitespace ignored: what kubectl accepts */
		rc = bw_certs_base64_decode(data, strlen(data), &pem, &len, NULL);
		if (rc == BW_ENOMEM)
			rc = bw_error_set(s->err, rc, "out of memory");
		else if (rc)
			rc = bw_error_set(s->err, BW_EINVAL, "%s \"%s\": %s is not valid base64",
					  s->kind, s->name, data_key);
		else if (memchr(pem, '\0', len))
			rc = bw_error_set(s->err, BW_EINVAL,
					  "%s \"%s\": %s is binary, not base64 of PEM text",
					  s->kind, s->name, data_key);
		goto out;
	}
	rc = sec_string(s, file_key, &file);
	if (rc || !file)
		goto out;
	path = path_join(s->base_dir, file);
	if (!path) {
		rc = bw_error_set(s->err, BW_ENOMEM, "out of memory");
		goto out;
	}
	rc = bw_file_read(path, file_key, KC_MAX_REF, BW_FILE_REGULAR_ONLY | BW_FILE_SECRET, &pem,
			  &len, NULL, s->err);
	if (rc) {
		bw_error_prefix(s->err, "%s \"%s\"", s->kind, s->name);
		goto out;
	}
	if (memchr(pem, '\0', len))
		rc = bw_error_set(s->err, BW_EINVAL, "%s \"%s\": %s %s is binary, not PEM text",
				  s->kind, s->name, file_key,
				  bw_error_abbrev(path, KC_PATH_SHOWN, pbuf, sizeof(pbuf)));
out:
	if (rc) {
		free_secret(pem);
		pem = NULL;
	}
	*out = pem;
	free_secret(data);
	free(file);
	free(path);
	return rc;
}

/* The names in a top-level list, for a "not found" message: "a, b, c". */
static void list_names(yaml_document_t *doc, const yaml_node_t *seq, char *buf, size_t size)
{
	yaml_node_item_t *item;
	size_t used = 0;
	int n;

	buf[0] = '\0';
	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return;
	for (item = seq->data.sequence.items.start; item < seq->data.sequence.items.top; item++) {
		yaml_node_t *name = map_get(doc, node_at(doc, *item), "name");

		if (!name || name->type != YAML_SCALAR_NODE)
			continue;
		n = snprintf(buf + used, size - used, "%s%.*s", used ? ", " : "",
			     (int)(name->data.scalar.length > 64 ? 64 : name->data.scalar.length),
			     (const char *)name->data.scalar.value);
		if (n < 0 || (size_t)n >= size - used) {
			/* cut: end with an ellipsis */
			if (size >= 4)
				memcpy(buf + size - 4, "...", 4);
			return;
		}
		used += (size_t)n;
	}
}

/*
 * Finds the entry called name in the top-level list (clusters, users,
 * contexts) and fills s with its body (the mapping under kind).
 */
static int find_named(yaml_document_t *doc, const yaml_node_t *root, const char *list,
		      const char *kind, const char *name, struct section *s, struct bw_error *err)
{
	yaml_node_t *seq = map_get(doc, root, list), *found = NULL, *body;
	yaml_node_item_t *item;
	char names[KC_NAMES_MAX];

	s->map = NULL;
	s->kind = kind;
	s->name = name;
	if (!is_null(seq) && seq->type != YAML_SEQUENCE_NODE)
		return bw_error_set(err, BW_EINVAL, "%s is not a list", list);
	if (!is_null(seq)) {
		for (item = seq->data.sequence.items.start; item < seq->data.sequence.items.top;
		     item++) {
			yaml_node_t *entry = node_at(doc, *item);

			if (!entry || entry->type != YAML_MAPPING_NODE)
				return bw_error_set(
				    err, BW_EINVAL, "%s: entry %d is not a mapping", list,
				    (int)(item - seq->data.sequence.items.start) + 1);
			if (!scalar_is(map_get(doc, entry, "name"), name))
				continue;
			if (found)
				return bw_error_set(err, BW_EINVAL, "%s \"%s\" is defined twice",
						    kind, name);
			found = entry;
		}
	}
	if (!found) {
		list_names(doc, seq, names, sizeof(names));
		if (!names[0])
			return bw_error_set(err, BW_ENOTFOUND,
					    "%s \"%s\" not found (there are no %s)", kind, name,
					    list);
		return bw_error_set(err, BW_ENOTFOUND, "%s \"%s\" not found (%s: %s)", kind, name,
				    list, names);
	}
	body = map_get(doc, found, kind);
	if (is_null(body))
		return 0;
	if (body->type != YAML_MAPPING_NODE)
		return bw_error_set(err, BW_EINVAL, "%s \"%s\": %s is not a mapping", kind, name,
				    kind);
	s->map = body;
	return 0;
}

static int load_cluster(struct bw_kube_config *cfg, const struct section *s)
{
	char *server = NULL, *full;
	const char *authority;
	size_t len;
	int rc;

	rc = sec_string(s, "server", &server);
	if (rc)
		goto out;
	len = server ? strlen(server) : 0;
	while (len > 0 && server[len - 1] == '/')
		server[--len] = '\0';
	if (len == 0) {
		rc = bw_error_set(s->err, BW_EINVAL, "cluster \"%s\" has no server", s->name);
		goto out;
	}
	if (!strstr(server, "://")) {
		/* "host:port", which kubectl takes as https */
		full = concat("https://", server);
		if (!full) {
			rc = bw_error_set(s->err, BW_ENOMEM, "out of memory");
			goto out;
		}
		free(server);
		server = full;
	}
	/* user:password@ would be sent as basic auth and shown wherever the
	 * server is logged: refused without quoting it */
	authority = strstr(server, "://") + 3;
	if (memchr(authority, '@', strcspn(authority, "/?#"))) {
		rc = bw_error_set(s->err, BW_EINVAL,
				  "cluster \"%s\": the server URL holds credentials (user@ or "
				  "user:password@); give a token or a client certificate instead",
				  s->name);
		goto out;
	}
	/* curl speaks many protocols (file://, ftp://...); an API server is HTTP */
	if (strncasecmp(server, "https://", 8) != 0 && strncasecmp(server, "http://", 7) != 0) {
		rc = bw_error_set(s->err, BW_EINVAL,
				  "cluster \"%s\": server \"%.200s\" is not an https:// URL",
				  s->name, server);
		goto out;
	}
	cfg->server = server;
	server = NULL;
	rc = sec_pem(s, "certificate-authority", "certificate-authority-data", &cfg->ca_pem);
	if (rc)
		goto out;
	rc = sec_bool(s, "insecure-skip-tls-verify", &cfg->insecure_skip_tls_verify);
	if (rc)
		goto out;
	/* as kubectl: a CA that would not be checked is a mistake, not a choice */
	if (cfg->insecure_skip_tls_verify && cfg->ca_pem)
		rc =
		    bw_error_set(s->err, BW_EINVAL,
				 "cluster \"%s\" sets insecure-skip-tls-verify and a "
				 "certificate-authority: a root certificate with the insecure flag "
				 "is not allowed (kubectl refuses it too); remove one of them",
				 s->name);
out:
	free(server);
	return rc;
}

int bw_kubeconfig_read_token(const char *path, const char *what, char **token,
			     struct timespec *mtime, struct bw_error *err)
{
	char *buf = NULL, pbuf[KC_PATH_SHOWN + 1];
	const char *shown;
	size_t len;
	int rc;

	*token = NULL;
	rc = bw_file_read(path, what, KC_MAX_REF, BW_FILE_REGULAR_ONLY | BW_FILE_SECRET, &buf, &len,
			  mtime, err);
	if (rc)
		goto out;
	/* messages name the file, never what it holds */
	shown = bw_error_abbrev(path, KC_PATH_SHOWN, pbuf, sizeof(pbuf));
	if (memchr(buf, '\0', len)) {
		rc = bw_error_set(err, BW_EINVAL, "%s %s holds a NUL character", what, shown);
		goto out;
	}
	trim(buf);
	if (!buf[0]) {
		rc = bw_error_set(err, BW_EINVAL, "%s %s is empty", what, shown);
		goto out;
	}
	if (!token_ok(buf)) {
		rc = bw_error_set(err, BW_EINVAL, "%s %s holds control characters", what, shown);
		goto out;
	}
	*token = buf;
	buf = NULL;
out:
	free_secret(buf);
	return rc;
}

static int read_token(const char *path, const char *what, char **token, struct bw_error *err)
{
	return bw_kubeconfig_read_token(path, what, token, NULL, err);
}

static int load_user(struct bw_kube_config *cfg, const struct section *s)
{
	static const char *const unsupported[] = {"exec", "auth-provider", "username"};
	char *token_file = NULL;
	size_t i;
	int rc;

	rc = sec_pem(s, "client-certificate", "client-certificate-data", &cfg->cert_pem);
	if (rc)
		goto out;
	rc = sec_pem(s, "client-key", "client-key-data", &cfg->key_pem);
	if (rc)
		goto out;
	if (!cfg->cert_pem != !cfg->key_pem) {
		rc = bw_error_set(s->err, BW_EINVAL, "user \"%s\" has a %s but no %s", s->name,
				  cfg->cert_pem ? "client-certificate" : "client-key",
				  cfg->cert_pem ? "client-key" : "client-certificate");
		goto out;
	}
	/* tokenFile wins over token: kubectl re-reads it and prefers what it read */
	rc = sec_string(s, "tokenFile", &token_file);
	if (rc)
		goto out;
	if (token_file) {
		cfg->token_file = path_join(s->base_dir, token_file);
		if (!cfg->token_file) {
			rc = bw_error_set(s->err, BW_ENOMEM, "out of memory");
			goto out;
		}
		rc = read_token(cfg->token_file, "tokenFile", &cfg->token, s->err);
		if (rc) {
			bw_error_prefix(s->err, "user \"%s\"", s->name);
			goto out;
		}
	} else {
		rc = sec_string(s, "token", &cfg->token);
		if (rc)
			goto out;
		if (cfg->token && !token_ok(cfg->token)) {
			rc = bw_error_set(s->err, BW_EINVAL,
					  "user \"%s\": token holds control characters", s->name);
			goto out;
		}
	}
	if (cfg->token || cfg->cert_pem)
		goto out;
	for (i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
		if (!is_null(map_get(s->doc, s->map, unsupported[i]))) {
			rc = bw_error_set(s->err, BW_EINVAL,
					  "user \"%s\" uses %s, which breakwater does not support; "
					  "give it a token, tokenFile or client certificate",
					  s->name, unsupported[i]);
			goto out;
		}
	}
out:
	free(token_file);
	return rc;
}

/* Fills cfg from a loaded document; the caller releases cfg on error. */
static int load_document(struct bw_kube_config *cfg, yaml_document_t *doc, const char *base_dir,
			 const char *context, struct bw_error *err)
{
	struct section ctx = {doc, NULL, "context", NULL, base_dir, err};
	struct section cluster = ctx, user = ctx;
	yaml_node_t *root = yaml_document_get_root_node(doc);
	char *cluster_name = NULL, *user_name = NULL, names[KC_NAMES_MAX];
	int rc;

	if (!root) {
		rc = bw_error_set(err, BW_EPARSE, "the kubeconfig is empty");
		goto out;
	}
	if (root->type != YAML_MAPPING_NODE) {
		rc = bw_error_set(err, BW_EPARSE,
				  "line %zu: the top level is a %s, not a mapping of "
				  "clusters, users and contexts",
				  root->start_mark.line + 1,
				  root->type == YAML_SEQUENCE_NODE ? "list" : "single value");
		goto out;
	}
	if (context && *context) {
		cfg->context = dup_mem(context, strlen(context));
	} else {
		ctx.map = root;
		ctx.name = "(top level)";
		rc = sec_string(&ctx, "current-context", &cfg->context);
		if (rc)
			goto out;
		if (!cfg->context) {
			list_names(doc, map_get(doc, root, "contexts"), names, sizeof(names));
			rc = bw_error_set(err, BW_ENOTFOUND,
					  "no current-context is set and no context was given "
					  "(contexts: %s)",
					  names[0] ? names : "none");
			goto out;
		}
	}
	if (!cfg->context) {
		rc = bw_error_set(err, BW_ENOMEM, "out of memory");
		goto out;
	}

	rc = find_named(doc, root, "contexts", "context", cfg->context, &ctx, err);
	if (rc)
		goto out;
	rc = sec_string(&ctx, "cluster", &cluster_name);
	if (rc)
		goto out;
	if (!cluster_name) {
		rc = bw_error_set(err, BW_EINVAL, "context \"%s\" names no cluster", ctx.name);
		goto out;
	}
	rc = sec_string(&ctx, "user", &user_name);
	if (rc)
		goto out;
	rc = sec_string(&ctx, "namespace", &cfg->namespace);
	if (rc)
		goto out;
	if (!cfg->namespace) {
		cfg->namespace = dup_mem("default", 7);
		if (!cfg->namespace) {
			rc = bw_error_set(err, BW_ENOMEM, "out of memory");
			goto out;
		}
	}

	rc = find_named(doc, root, "clusters", "cluster", cluster_name, &cluster, err);
	if (rc)
		goto out;
	rc = load_cluster(cfg, &cluster);
	if (rc)
		goto out;
	if (user_name) {
		rc = find_named(doc, root, "users", "user", user_name, &user, err);
		if (rc)
			goto out;
		rc = load_user(cfg, &user);
		if (rc)
			goto out;
	}
	/* client-go would send it; a bearer token in clear text is anyone's on the path */
	if (cfg->token && strncasecmp(cfg->server, "http://", 7) == 0)
		rc = bw_error_set(err, BW_EINVAL,
				  "cluster \"%s\" has an http:// server and user \"%s\" a bearer "
				  "token: breakwater does not send a token in clear text; use an "
				  "https:// server",
				  cluster_name, user_name);
out:
	free(cluster_name);
	free(user_name);
	return rc;
}

/* A libyaml failure as a message with a 1-based line and column. */
static int yaml_failure(const yaml_parser_t *parser, const char *yaml, size_t len,
			struct bw_error *err)
{
	const char *problem = parser->problem ? parser->problem : "unknown problem";
	size_t line = parser->problem_mark.line + 1, column = parser->problem_mark.column + 1, i;

	switch (parser->error) {
	case YAML_MEMORY_ERROR:
		return bw_error_set(err, BW_ENOMEM, "out of memory parsing YAML");
	case YAML_READER_ERROR:
		/* the reader reports a byte offset, not a mark */
		line = 1;
		column = 1;
		for (i = 0; i < parser->problem_offset && i < len; i++) {
			if (yaml[i] == '\n') {
				line++;
				column = 1;
			} else {
				column++;
			}
		}
		return bw_error_set(err, BW_EPARSE, "YAML error at line %zu, column %zu: %s", line,
				    column, problem);
	default:
		break;
	}
	if (parser->context)
		return bw_error_set(err, BW_EPARSE,
				    "YAML error at line %zu, column %zu: %s (%s at line %zu, "
				    "column %zu)",
				    line, column, problem, parser->context,
				    parser->context_mark.line + 1, parser->context_mark.column + 1);
	return bw_error_set(err, BW_EPARSE, "YAML error at line %zu, column %zu: %s", line, column,
			    problem);
}

int bw_kubeconfig_parse(struct bw_kube_config *cfg, const char *yaml, size_t len,
			const char *base_dir, const char *context, struct bw_error *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	int have_parser = 0, have_doc = 0, rc;

	memset(cfg, 0, sizeof(*cfg));
	if (!yaml && len) {
		rc = bw_error_set(err, BW_EINVAL, "no kubeconfig text given");
		goto out;
	}
	if (len > KC_MAX_CONFIG) {
		rc = bw_error_set(err, BW_ETOOBIG,
				  "kubeconfig is %zu bytes, more than the limit of %u", len,
				  KC_MAX_CONFIG);
		goto out;
	}
	if (!yaml_parser_initialize(&parser)) {
		rc = bw_error_set(err, BW_ENOMEM, "out of memory");
		goto out;
	}
	have_parser = 1;
	yaml_parser_set_input_string(&parser, (const unsigned char *)(yaml ? yaml : ""), len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = yaml_failure(&parser, yaml, len, err);
		goto out;
	}
	have_doc = 1;
	rc = load_document(cfg, &doc, base_dir, context, err);
out:
	if (have_doc)
		yaml_document_delete(&doc);
	if (have_parser)
		yaml_parser_delete(&parser);
	if (rc)
		bw_kubeconfig_release(cfg);
	return rc;
}

int bw_kubeconfig_load(struct bw_kube_config *cfg, const char *path, const char *context,
		       struct bw_error *err)
{
	char *buf = NULL, *dir = NULL, pbuf[KC_PATH_SHOWN + 1];
	size_t len = 0;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (!path || !*path)
		return bw_error_set(err, BW_EINVAL, "no kubeconfig path given");
	rc = bw_file_read(path, "kubeconfig", KC_MAX_CONFIG, 0, &buf, &len, NULL, err);
	if (rc)
		goto out;
	rc = abs_dir(path, &dir, err);
	if (rc)
		goto out;
	rc = bw_kubeconfig_parse(cfg, buf, len, dir, context, err);
	if (rc)
		bw_error_prefix(err, "kubeconfig %s",
				bw_error_abbrev(path, KC_PATH_SHOWN, pbuf, sizeof(pbuf)));
out:
	free_secret(buf);
	free(dir);
	return rc;
}

/* Refuses a host or port that would make a different URL than meant. */
static int check_host_port(const char *host, const char *port, struct bw_error *err)
{
	const char *p;
	long n = 0;

	for (p = host; *p; p++) {
		int c = (unsigned char)*p;

		if (!(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') &&
		    !strchr(".-_:[]%", c))
			return bw_error_set(err, BW_EINVAL,
					    "KUBERNETES_SERVICE_HOST \"%s\" is not a host name or "
					    "address",
					    host);
	}
	for (p = port; *p >= '0' && *p <= '9' && p - port < 5; p++)
		n = n * 10 + (*p - '0');
	if (*p || n < 1 || n > 65535)
		return bw_error_set(err, BW_EINVAL, "KUBERNETES_SERVICE_PORT \"%s\" is not a port",
				    port);
	return 0;
}

int bw_kubeconfig_in_cluster(struct bw_kube_config *cfg, const char *sa_dir, struct bw_error *err)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	char *ca_path = NULL, *ns_path = NULL, *ns = NULL;
	size_t len, need;
	struct stat st;
	int bracket, rc;

	memset(cfg, 0, sizeof(*cfg));
	if (!host || !*host || !port || !*port) {
		rc = bw_error_set(err, BW_ENOTFOUND,
				  "not running in a cluster: KUBERNETES_SERVICE_HOST and "
				  "KUBERNETES_SERVICE_PORT are not both set");
		goto out;
	}
	rc = check_host_port(host, port, err);
	if (rc)
		goto out;
	if (!sa_dir)
		sa_dir = KC_SA_DIR;

	bracket = strchr(host, ':') && host[0] != '[';
	need = strlen("https://[]:") + strlen(host) + strlen(port) + 1;
	cfg->server = malloc(need);
	cfg->token_file = path_join(sa_dir, "token");
	ca_path = path_join(sa_dir, "ca.crt");
	ns_path = path_join(sa_dir, "namespace");
	if (!cfg->server || !cfg->token_file || !ca_path || !ns_path) {
		rc = bw_error_set(err, BW_ENOMEM, "out of memory");
		goto out;
	}
	snprintf(cfg->server, need, bracket ? "https://[%s]:%s" : "https://%s:%s", host, port);

	rc = read_token(cfg->token_file, "service-account token", &cfg->token, err);
	if (rc)
		goto out;
	rc = bw_file_read(ca_path, "service-account CA certificate", KC_MAX_REF,
			  BW_FILE_REGULAR_ONLY, &cfg->ca_pem, &len, NULL, err);
	if (rc)
		goto out;
	if (memchr(cfg->ca_pem, '\0', len)) {
		rc = bw_error_set(err, BW_EINVAL,
				  "service-account CA certificate %s is not PEM text", ca_path);
		goto out;
	}
	/* the namespace file is optional, as with client-go */
	if (stat(ns_path, &st) == 0 || errno != ENOENT) {
		rc = bw_file_read(ns_path, "service-account namespace", KC_MAX_REF,
				  BW_FILE_REGULAR_ONLY, &ns, &len, NULL, err);
		if (rc)
			goto out;
		if (memchr(ns, '\0', len)) {
			rc = bw_error_set(err, BW_EINVAL,
					  "service-account namespace %s is not text", ns_path);
			goto out;
		}
		trim(ns);
	}
	if (ns && ns[0]) {
		cfg->namespace = ns;
		ns = NULL;
	} else {
		cfg->namespace = dup_mem("default", 7);
		if (!cfg->namespace)
			rc = bw_error_set(err, BW_ENOMEM, "out of memory");
	}
out:
	if (rc)
		bw_kubeconfig_release(cfg);
	free(ca_path);
	free(ns_path);
	free(ns);
	return rc;
}

/* Appends one "tried" entry to buf, for the message when nothing is found. */
static void tried_add(char *buf, size_t size, const char *what, const char *path, const char *why)
{
	size_t used = strlen(buf);

	if (used + 1 < size)
		snprintf(buf + used, size - used, "%s%s%s%s (%s)", used ? "; " : "", what,
			 *what && path ? " " : "", path ? path : "", why);
}

/* True when path names something to load; otherwise records why not. */
static int candidate(const char *what, const char *path, char *tried, size_t size)
{
	struct stat st;
	char ebuf[128];

	if (stat(path, &st) == 0 || errno != ENOENT)
		return 1;
	tried_add(tried, size, what, path, bw_file_strerror(errno, ebuf, sizeof(ebuf)));
	return 0;
}

int bw_kubeconfig_load_default(struct bw_kube_config *cfg, const char *path, const char *context,
			       struct bw_error *err)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	const char *env = getenv("KUBECONFIG"), *home = getenv("HOME"), *end;
	char tried[384] = "", *file = NULL;
	struct stat st;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (path && *path)
		return bw_kubeconfig_load(cfg, path, context, err);

	/* in-cluster, when this is a pod with a service-account token; a context
	 * asked for by name can only come from a kubeconfig */
	if (context && *context)
		tried_add(tried, sizeof(tried), "in-cluster", NULL, "skipped: a context was named");
	else if (!host || !*host || !port || !*port)
		tried_add(tried, sizeof(tried), "in-cluster", NULL,
			  "KUBERNETES_SERVICE_HOST/PORT not set");
	else if (stat(KC_SA_DIR "/token", &st) != 0)
		tried_add(tried, sizeof(tried), "in-cluster", NULL, "no " KC_SA_DIR "/token");
	else
		return bw_kubeconfig_in_cluster(cfg, NULL, err);

	/* the first entry of $KUBECONFIG */
	while (env && *env == ':')
		env++;
	if (env && *env) {
		end = strchr(env, ':');
		file = dup_mem(env, end ? (size_t)(end - env) : strlen(env));
		if (!file) {
			rc = bw_error_set(err, BW_ENOMEM, "out of memory");
			goto out;
		}
		if (candidate("$KUBECONFIG", file, tried, sizeof(tried))) {
			rc = bw_kubeconfig_load(cfg, file, context, err);
			goto out;
		}
		free(file);
		file = NULL;
	} else {
		tried_add(tried, sizeof(tried), "$KUBECONFIG", NULL, "not set");
	}

	if (home && *home) {
		file = path_join(home, ".kube/config");
		if (!file) {
			rc = bw_error_set(err, BW_ENOMEM, "out of memory");
			goto out;
		}
		if (candidate("", file, tried, sizeof(tried))) {
			rc = bw_kubeconfig_load(cfg, file, context, err);
			goto out;
		}
	} else {
		tried_add(tried, sizeof(tried), "~/.kube/config", NULL, "$HOME not set");
	}
	rc = bw_error_set(err, BW_ENOTFOUND, "no Kubernetes configuration found; tried %s", tried);
out:
	free(file);
	return rc;
}

void bw_kubeconfig_release(struct bw_kube_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->server);
	free(cfg->context);
	free(cfg->namespace);
	free(cfg->ca_pem);
	free(cfg->cert_pem);
	free_secret(cfg->key_pem);
	free_secret(cfg->token);
	free(cfg->token_file);
	memset(cfg, 0, sizeof(*cfg));
}
