/*
 * A Service's history: the ControllerRevisions the operator keeps of the
 * templates it rolls out (layout in model/revision.h), written and pruned
 * as bw_revision_plan decides, and read back for a rollback. The I/O of
 * the service controller's history; the decisions are pure (revision.h,
 * rollout.h).
 *
 * Ownership: svc and the names are borrowed; *spec of bw_history_spec is
 * the caller's. Thread-safety: as the client (one call at a time per
 * context, from the controller's worker).
 */
#ifndef BW_OPERATOR_HISTORY_H
#define BW_OPERATOR_HISTORY_H

#include <jansson.h>

#include "operator.h"

/* Lists the Service's revisions (label breakwater.io/service, controlled
 * by svc), writes the update revision (its template: svc's spec) with the
 * revision number the plan gives, and deletes those it prunes. current:
 * the current revision after this reconcile (NULL: none). Server-side
 * apply, field manager breakwater; a prune that finds the revision gone
 * is no error. The list is left out when the memo knows the outcome
 * (applied.h): nothing to do, or a new template numbered after the known
 * newest with nothing to prune, or a Service never reconciled to a status
 * (its first revision, number 1); such a revision is made by an apply that
 * cannot update, and one that exists after all is listed and renumbered
 * as before. */
int bw_history_sync(struct bw_operator_context *ctx, const json_t *svc, const char *update,
		    const char *current, struct bw_error *err);

/* The spec to render a rollback from: revision name's template, with the
 * kept fields of svc's spec (bw_revision_undo_spec), into *spec. Fails
 * when the revision is gone or is not svc's. */
int bw_history_spec(struct bw_operator_context *ctx, const json_t *svc, const char *name,
		    json_t **spec, struct bw_error *err);

#endif
