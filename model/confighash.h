/*
 * A Service's config hash: what its pods read of the ConfigMaps and Secrets
 * they reference, reduced to one hash that the operator puts on the pod
 * template (annotation BW_ANNOTATION_CONFIG_HASH), so a change of their
 * content is a template change, hence a rollout and a revision of its own.
 * docs/resources.md, "Config rollouts", is the reference.
 *
 * Pure: no I/O, no global state. The caller says what each referenced object
 * holds through a lookup callback (the operator: its ConfigMap and Secret
 * caches; the tests: fixture files). Only a digest of an object's data is
 * ever kept or compared (bw_config_digest), never the data itself.
 *
 * References are those of the pod template model/podtemplate.c renders:
 * env[].valueFrom.configMapKeyRef / secretKeyRef, envFrom[].configMapRef /
 * secretRef, volumes[].configMap / secret (secretName), and the configMap /
 * secret sources of volumes[].projected. A referenced object counts as a
 * whole (any data key changed rolls out, read or not); labels, annotations
 * and other metadata do not count.
 *
 * Ownership: spec and obj are borrowed during the call. Strings in a
 * struct bw_config_refs point into the spec it was read from. Thread-safety:
 * every function may be called from any thread at once.
 */
#ifndef BW_MODEL_CONFIGHASH_H
#define BW_MODEL_CONFIGHASH_H

#include <stddef.h>

#include <jansson.h>

/* Hex characters of the hash on the pod template, and of an object's digest. */
#define BW_CONFIG_HASH_LEN   16
#define BW_CONFIG_DIGEST_LEN 32
/* What a missing object hashes as. */
#define BW_CONFIG_MISSING "missing"
/* The spec field that switches config rollouts off (absent: Enabled). */
#define BW_CONFIG_ROLLOUT_FIELD	   "configRollout"
#define BW_CONFIG_ROLLOUT_DISABLED "Disabled"
/* Where the operator carries the hash inside the spec it renders and
 * records in a revision: a field the CRD does not have (so no user write
 * can set it: the API server prunes it), set only on the operator's
 * in-memory copy. Part of the template (revision.h), so a new hash is a
 * new revision; render.c turns it into the pod template's annotation; a
 * rollback renders the revision's own hash; the plugin's undo
 * (plugin/history.c) leaves it out of the spec it writes. */
#define BW_CONFIG_HASH_FIELD "configHash"

enum bw_config_kind { BW_CONFIG_CONFIGMAP, BW_CONFIG_SECRET };

/* "ConfigMap" or "Secret". */
const char *bw_config_kind_name(enum bw_config_kind kind);

/* One referenced object. optional: every use of it says optional: true (one
 * required use makes it required, as the kubelet needs it then). */
struct bw_config_ref {
	enum bw_config_kind kind;
	const char *name;
	int optional;
};

/* The distinct references of a spec, sorted by kind then name. */
struct bw_config_refs {
	struct bw_config_ref *v;
	size_t n, cap;
};

/* 0 when spec.configRollout is "Disabled", 1 otherwise (absent: Enabled). */
int bw_config_rollout_enabled(const json_t *spec);

/* The references of spec (a Service's spec object; anything else has none)
 * into out, which the caller releases with bw_config_refs_release() either
 * way. Names that are not non-empty strings are skipped. Returns 0, or -1 out
 * of memory. */
int bw_config_refs_of(const json_t *spec, struct bw_config_refs *out);
void bw_config_refs_release(struct bw_config_refs *refs);

/* The digest of a ConfigMap's or Secret's content: HMAC-SHA-256 of its
 * data and binaryData (dumped with sorted keys), keyed with its
 * metadata.uid, the first BW_CONFIG_DIGEST_LEN hex characters. Keyed so
 * that whoever can read a Deployment cannot test guesses of a Secret's
 * value against the hash on its template (the uid is readable only with
 * the Secret). Returns 0, or -1 out of memory. */
int bw_config_digest(const json_t *obj, char out[BW_CONFIG_DIGEST_LEN + 1]);

/* The digest of kind/name of the Service's namespace, or NULL when no such
 * object exists. The string is read during the call only. */
typedef const char *bw_config_lookup_fn(enum bw_config_kind kind, const char *name, void *arg);

/* What bw_config_hash decides. */
struct bw_config_hash {
	/* BW_CONFIG_HASH_LEN hex characters, or "" for no annotation: config
	 * rollouts disabled, or no reference */
	char hash[BW_CONFIG_HASH_LEN + 1];
	/* the required references with no object, "ConfigMap a, Secret b"
	 * (truncated with "..." past the buffer), n_missing of them */
	char missing[512];
	size_t n_missing;
};

/*
 * The hash of spec's references: SHA-256 over one line per reference,
 * "<Kind>/<name>=<digest or missing>", in the order of bw_config_refs_of,
 * its first BW_CONFIG_HASH_LEN hex characters. An object that is missing
 * hashes as "missing" whether optional or not, so its appearance rolls out;
 * a required missing one is also listed in out->missing (its pods cannot
 * start until it exists). Returns 0, or -1 out of memory.
 */
int bw_config_hash(const json_t *spec, bw_config_lookup_fn *lookup, void *arg,
		   struct bw_config_hash *out);

#endif
