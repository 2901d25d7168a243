/*
 * Where and how to reach the Kubernetes API server: parsed from a kubeconfig
 * file (libyaml) or from the in-cluster service-account environment.
 *
 * Ownership: a struct bw_kube_config is filled by bw_kubeconfig_load*() and
 * owns every string in it; bw_kubeconfig_release() frees them. Strings are
 * NUL-terminated; PEM blobs hold PEM text (file contents or decoded -data).
 * Thread-safety: a loaded config is read-only and may be shared by threads;
 * loading and releasing need the caller's own synchronisation.
 */
#ifndef BW_KUBECONFIG_H
#define BW_KUBECONFIG_H

#include "error.h"

struct bw_kube_config {
	char *server;	  /* "https://127.0.0.1:6443", no trailing slash */
	char *context;	  /* the context used; NULL in-cluster */
	char *namespace;  /* the context's namespace, or the pod's; "default" if none */
	char *ca_pem;	  /* certificate-authority(-data); NULL: system trust store */
	char *cert_pem;	  /* client-certificate(-data); NULL when none */
	char *key_pem;	  /* client-key(-data); NULL when none */
	char *token;	  /* bearer token, or NULL */
	char *token_file; /* tokenFile (kubeconfig) or the service-account token path; re-read when
			     it changes */
	int insecure_skip_tls_verify;
};

/* Parses the kubeconfig at path, using context (NULL: current-context).
 * Relative file paths inside it are resolved against the file's folder.
 * Errors name the file and what is wrong: BW_EIO (cannot read path or a file
 * it names), BW_EPARSE (YAML syntax, with line and column), BW_ENOTFOUND (a
 * context, cluster or user that does not exist), BW_EINVAL (no server, or a
 * -data field that is not base64). On error *cfg is left empty. */
int bw_kubeconfig_load(struct bw_kube_config *cfg, const char *path, const char *context,
		       struct bw_error *err);

/* Same, from a buffer; base_dir resolves relative paths (NULL: cwd). */
int bw_kubeconfig_parse(struct bw_kube_config *cfg, const char *yaml, size_t len,
			const char *base_dir, const char *context, struct bw_error *err);

/* In-cluster: KUBERNETES_SERVICE_HOST/_PORT, the service-account token,
 * ca.crt and namespace under sa_dir (NULL: /var/run/secrets/kubernetes.io/serviceaccount).
 * BW_ENOTFOUND when not running in a cluster. */
int bw_kubeconfig_in_cluster(struct bw_kube_config *cfg, const char *sa_dir, struct bw_error *err);

/* The usual search: explicit path if given; else in-cluster; else $KUBECONFIG
 * (first file of a ':' list); else ~/.kube/config. */
int bw_kubeconfig_load_default(struct bw_kube_config *cfg, const char *path, const char *context,
			       struct bw_error *err);

/* Frees every string and zeroes *cfg; safe on a zeroed or released config. */
void bw_kubeconfig_release(struct bw_kube_config *cfg);

#endif
