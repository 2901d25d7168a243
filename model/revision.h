/*
 * A Service's revisions: the part of its spec that defines its pods (the
 * "template"), as kept in the ControllerRevisions the operator owns for
 * each Service, and the spec an undo writes back. Pure; the caller owns
 * every json_t it gets.
 *
 * The template is the spec without the fields that say how many pods run,
 * how they are rolled out or reached: bw_revision_kept_fields. Any other
 * spec field, present or to come, is part of the template, so a new pod
 * field is in the history without a change here. The operator's config
 * hash (BW_CONFIG_HASH_FIELD, confighash.h), set on its in-memory copy of
 * the spec, is part of the template too: new content of a referenced
 * ConfigMap or Secret is a new revision, and a rollback returns to the
 * revision's hash (the objects' content stays what it is now).
 *
 * A ControllerRevision of Service S (apps/v1, S's namespace):
 *   name      S-<bw_revision_hash of its template>
 *   labels    breakwater.io/service: S
 *   owner     S, controller: true
 *   revision  1, 2, ... in the order the templates were rolled out
 *   data      {"spec": <the template>}
 */
#ifndef BW_MODEL_REVISION_H
#define BW_MODEL_REVISION_H

#include <stddef.h>

#include <jansson.h>

#include "error.h"

#define BW_REVISION_HASH_LEN 10
/* spec.revisionHistoryLimit when unset (the CRD's default) */
#define BW_REVISION_DEFAULT_LIMIT 10
/* A revision's name: the Service's (at most 63 characters), '-', the hash. */
#define BW_REVISION_NAME_MAX (63 + 1 + BW_REVISION_HASH_LEN + 1)

/* The spec fields outside the template, NULL-terminated. */
extern const char *const bw_revision_kept_fields[];

/* The template of spec (a JSON object): a deep copy without the kept
 * fields. NULL when spec is not an object or on allocation failure. */
json_t *bw_revision_template(const json_t *spec);

/* BW_REVISION_HASH_LEN lowercase hex characters and a NUL into out: FNV-1a
 * (64-bit) of the template dumped compact with sorted keys, so equal
 * templates hash alike whatever their key order. -1 when it cannot be
 * dumped. */
int bw_revision_hash(const json_t *template, char out[BW_REVISION_HASH_LEN + 1]);

/* The spec an undo to a revision writes: its template (with its config
 * hash, which a rollback renders; the plugin's undo drops it before
 * writing, since the CRD has no such field), with the kept fields of the current spec (an undo
 * changes the pods, not how many run or how they are reached). A field of the current template that
 * the revision lacks is absent. NULL with err set on bad input. */
json_t *bw_revision_undo_spec(const json_t *current_spec, const json_t *template,
			      struct bw_error *err);

/* The name of the revision of spec's template for Service service:
 * "<service>-<hash>", into out (size bytes). -1 when spec is not an object
 * or the name does not fit. */
int bw_revision_name(const char *service, const json_t *spec, char *out, size_t size);

/* A ControllerRevision of the Service as listed: its name and revision. */
struct bw_revision_entry {
	const char *name;
	long revision;
};

/* What to write of the history, and what to delete (bw_revision_plan). */
struct bw_revision_plan {
	/* the revision number to write the update revision with: max + 1 when
	 * it is new, or when it comes back (an undo, or a spec reverted) and
	 * an other revision is newer, as a Deployment's ReplicaSets are
	 * renumbered; 0: it is already the newest, nothing to write */
	long write_revision;
	int create; /* the update revision does not exist yet */
	/* the names to delete, oldest first (pointers into the entries) */
	const char **prune;
	size_t n_prune;
};

/*
 * The history's next step, pure: given the revisions there are (n
 * entries), the update revision (the template of the spec), the current
 * one (the last template whose rollout completed; NULL: none) and
 * spec.revisionHistoryLimit (negative: BW_REVISION_DEFAULT_LIMIT), the
 * revision number to write and which revisions to prune. The update and
 * current revisions are never pruned and not counted: limit is how many
 * other (older) revisions are kept, the newest of them, as a StatefulSet's
 * revisionHistoryLimit. prune must have room for n names; out->prune is
 * set to it.
 */
void bw_revision_plan(const struct bw_revision_entry *entries, size_t n, const char *update,
		      const char *current, long limit, const char **prune,
		      struct bw_revision_plan *out);

#endif
