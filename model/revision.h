/*
 * A Service's revisions: the part of its spec that defines its pods (the
 * "template"), as kept in the ControllerRevisions the operator owns for
 * each Service, and the spec an undo writes back. Pure; the caller owns
 * every json_t it gets.
 *
 * The template is the spec without the fields that say how many pods run,
 * how they are rolled out or reached: bw_revision_kept_fields. Any other
 * spec field, present or to come, is part of the template, so a new pod
 * field is in the history without a change here.
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

#include <jansson.h>

#include "error.h"

#define BW_REVISION_HASH_LEN 10

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

/* The spec an undo to a revision writes: its template, with the kept
 * fields of the current spec (an undo changes the pods, not how many run
 * or how they are reached). A field of the current template that the
 * revision lacks is absent. NULL with err set on bad input. */
json_t *bw_revision_undo_spec(const json_t *current_spec, const json_t *template,
			      struct bw_error *err);

#endif
