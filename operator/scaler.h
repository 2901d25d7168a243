/*
 * The HorizontalPodAutoscaler and PodDisruptionBudget a breakwater Service
 * owns (spec.autoscaling, spec.disruptionBudget; model/scaling.h renders
 * them): written when wanted, deleted when the field is removed, never
 * taken over when someone else's.
 *
 * Neither is watched: an informer over every HPA and PDB would cost memory
 * at 10,000 Services for objects that rarely change. So what was last
 * written for a Service is remembered in the controller's applied memo
 * (applied.h, under "KEY#scaler"): a reconcile that would write the same
 * objects writes nothing; drift (an edited or deleted HPA) is put back
 * within the resync age. The first reconcile of a Service in a process
 * reads both objects (two GETs) to learn whether there is one of ours to
 * delete, but for a Service whose spec was never edited (generation 1) and
 * asks for neither: it never had one, so creating a Service costs no GET.
 *
 * The HPA targets the breakwater Service's scale subresource: it writes
 * spec.replicas, which the Deployment follows. The Deployment's replicas
 * keep one writer (the operator, applied with force), so nobody fights.
 *
 * Ownership: svc is borrowed. Thread-safety: the service controller's
 * workers, one key at a time.
 */
#ifndef BW_OPERATOR_SCALER_H
#define BW_OPERATOR_SCALER_H

#include <stddef.h>

#include <jansson.h>

#include "operator.h"

/*
 * Brings the HPA and the PDB of svc (a whole breakwater Service as cached)
 * in line with its spec. When either exists and is not svc's, nothing of
 * it is written and conflict (size bytes) names it for the
 * OwnershipConflict condition; else conflict is "". Returns 0 or a BW_E*
 * code (err says which object).
 */
int bw_scaler_sync(struct bw_operator_context *ctx, const json_t *svc, const char *key,
		   char *conflict, size_t size, struct bw_error *err);

/* Forgets key's memo entry: the Service is gone. */
void bw_scaler_forget(struct bw_operator_context *ctx, const char *key);

#endif
