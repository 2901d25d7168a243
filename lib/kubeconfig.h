/*
 * Where and how to reach the Kubernetes API server: parsed from a kubeconfig
 * file (libyaml) or from the in-cluster service-account environment.
 *
 * Kubeconfig fields read: current-context; contexts[].context.{cluster, user,
 * namespace}; clusters[].cluster.{server, certificate-authority(-data),
 * insecure-skip-tls-verify}; users[].user.{client-certificate(-data),
 * client-key(-data), token, tokenFile}. As with kubectl, a -data field wins
 * over its file, tokenFile wins over token, and a server without a scheme
 * ("host:6443") means https. Other fields are ignored; a user with only exec,
 * auth-provider or username/password credentials is refused (unsupported).
 * Refused as unsafe: a server that is not https:// or http://, or whose URL
 * holds credentials (user:password@, which curl would send and the log
 * would show; the message does not quote it); a cluster with
 * insecure-skip-tls-verify and a certificate-authority(-data) together (as
 * kubectl refuses it); an http:// server with a bearer token or tokenFile
 * (client-go would send the token in clear text; breakwater does not, even
 * to a loopback address).
 *
 * Caps: a kubeconfig of at most 4 MiB, certificate, key, token and namespace
 * files of at most 1 MiB each, read only when they are regular files
 * (BW_ETOOBIG, BW_EIO otherwise).
 *
 * Ownership: a struct bw_kube_config is filled by bw_kubeconfig_load*() and
 * owns every string in it; bw_kubeconfig_release() frees them. The load
 * functions overwrite *cfg without releasing it first. Strings are
 * NUL-terminated; PEM blobs hold PEM text (file contents or decoded -data).
 * Thread-safety: a loaded config is read-only and may be shared by threads;
 * loading and releasing need the caller's own synchronisation.
 */
#ifndef BW_KUBECONFIG_H
#define BW_KUBECONFIG_H

#include <time.h>

#include "error.h"

struct bw_kube_config {
	char *server;	  /* "https://127.0.0.1:6443", no trailing slash */
	char *context;	  /* the context used; NULL in-cluster */
	char *namespace;  /* the context's namespace, or the pod's; "default" if none */
	char *ca_pem;	  /* certificate-authority(-data); NULL: system trust store */
	char *cert_pem;	  /* client-certificate(-data); NULL when none */
	char *key_pem;	  /* client-key(-data); NULL when none */
	char *token;	  /* bearer token, or NULL */
	char *token_file; /* tokenFile (kubeconfig, made absolute) or the service-account token
			     path; token holds what it held at load time (trimmed); re-read it
			     when it changes */
	int insecure_skip_tls_verify;
};

/* Parses the kubeconfig at path, using context (NULL or "": current-context).
 * Relative file paths inside it are resolved against the file's folder, made
 * absolute. Errors name the file and what is wrong: BW_EIO (cannot read path
 * or a file it names, with the system's reason), BW_EPARSE (YAML syntax, with
 * 1-based line and column; an empty document or one whose top level is not a
 * mapping), BW_ENOTFOUND (no current-context, or a context, cluster or user
 * that does not exist; the message lists the ones that do), BW_EINVAL (no
 * server, a -data field that is not base64, a field of the wrong type, a
 * name defined twice, one of the unsafe settings above), BW_ETOOBIG (a
 * cap above). On error *cfg is left empty. */
int bw_kubeconfig_load(struct bw_kube_config *cfg, const char *path, const char *context,
		       struct bw_error *err);

/* Same, from a buffer of len bytes (need not be NUL-terminated); base_dir
 * resolves relative paths (NULL: cwd). Messages do not name a file. */
int bw_kubeconfig_parse(struct bw_kube_config *cfg, const char *yaml, size_t len,
			const char *base_dir, const char *context, struct bw_error *err);

/* In-cluster: server https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT
 * (an IPv6 host in brackets), and the files token (required; token_file is
 * its path), ca.crt (required) and namespace (optional; "default") under
 * sa_dir (NULL: /var/run/secrets/kubernetes.io/serviceaccount). BW_ENOTFOUND
 * when those variables are not set; BW_EINVAL when they are not a host and a
 * port; BW_EIO when a required file cannot be read. */
int bw_kubeconfig_in_cluster(struct bw_kube_config *cfg, const char *sa_dir, struct bw_error *err);

/* The usual search: explicit path if given; else in-cluster, when the
 * KUBERNETES_SERVICE_* variables are set and the service-account token exists
 * (skipped when a context is named: only a kubeconfig has contexts); else
 * the first non-empty entry of $KUBECONFIG (a ':' list); else
 * $HOME/.kube/config. A candidate that does not exist is skipped; one that
 * exists but fails to load is the error returned. When none exists:
 * BW_ENOTFOUND, naming each place tried and why it was passed over. */
int bw_kubeconfig_load_default(struct bw_kube_config *cfg, const char *path, const char *context,
			       struct bw_error *err);

/* Reads a bearer token file (tokenFile, the service-account token) into
 * *token (malloc'd; free it after OPENSSL_cleanse) and its modification time
 * into *mtime (may be NULL): surrounding whitespace trimmed, then refused
 * with BW_EINVAL when empty or holding a NUL or any control character (a
 * CR/LF would add headers to every request). `what` names the file in
 * messages, which never quote its contents. Other errors as bw_file_read()
 * (1 MiB cap, regular files only). The client re-reads a rotated token
 * through this. */
int bw_kubeconfig_read_token(const char *path, const char *what, char **token,
			     struct timespec *mtime, struct bw_error *err);

/* Frees every string and zeroes *cfg; safe on a zeroed or released config. */
void bw_kubeconfig_release(struct bw_kube_config *cfg);

#endif
