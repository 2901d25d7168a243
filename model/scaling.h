/*
 * spec.autoscaling and spec.disruptionBudget of a breakwater Service: the
 * checks (the same as the CRD's schema and CEL rules) and the two objects
 * the operator owns for them, rendered as server-side-apply bodies:
 *
 *   - an autoscaling/v2 HorizontalPodAutoscaler NAME whose scaleTargetRef is
 *     the breakwater Service itself (breakwater.io/v1alpha1 Service NAME,
 *     through its scale subresource), never the Deployment: the HPA writes
 *     the Service's spec.replicas and the operator carries that to the
 *     Deployment it alone writes, so no two managers set one field;
 *   - a policy/v1 PodDisruptionBudget NAME selecting the Service's pods
 *     (breakwater.io/service=NAME).
 *
 * docs/resources.md, "Autoscaling" and "Disruption budget", is the
 * reference. Pure functions: no I/O, no global state.
 *
 * Ownership: svc and spec are borrowed for the call. *out receives a NEW
 * reference (json_decref() it) that shares nothing with svc; NULL when the
 * field is absent (the controller then deletes the object it owns) or on
 * failure. Thread-safety: any thread, at once.
 */
#ifndef BW_MODEL_SCALING_H
#define BW_MODEL_SCALING_H

#include <jansson.h>

#include "error.h"

/* spec.autoscaling.maxReplicas' ceiling: spec.replicas' (render.c). */
#define BW_SCALING_REPLICAS_MAX 1000

/*
 * Checks spec.autoscaling and spec.disruptionBudget of spec (the Service's
 * spec object); absent fields are fine. autoscaling: minReplicas (default 1)
 * and maxReplicas (required) integers with 1 <= minReplicas <= maxReplicas
 * <= 1000; metrics, when given, a list of autoscaling/v2 MetricSpecs whose
 * type is Resource, ContainerResource, Pods, Object or External and which
 * carry the member the type names; a Resource or ContainerResource metric
 * names its resource and has a target of type Utilization (with
 * averageUtilization >= 1), AverageValue (with averageValue) or Value;
 * behavior, when given, an object (autoscaling/v2 HPABehavior, passed
 * through). disruptionBudget: exactly one of minAvailable and
 * maxUnavailable, an integer >= 0 or a percentage "0%".."100%".
 * Returns 0, or BW_EINVAL with a message that starts with the field
 * ("spec.autoscaling.minReplicas: must be <= maxReplicas (4), got 5").
 */
int bw_scaling_check(const json_t *spec, struct bw_error *err);

/*
 * The HorizontalPodAutoscaler for svc (the whole breakwater Service:
 * metadata {name, namespace, uid}, spec), or *out = NULL when
 * spec.autoscaling is absent. metrics and behavior are deep copies of the
 * spec's; without metrics the API server's default applies (CPU at 80%
 * utilization). Checks the whole Service as bw_render_validate() does.
 * Returns 0, BW_EINVAL (the field named) or BW_ENOMEM.
 */
int bw_scaling_hpa(const json_t *svc, json_t **out, struct bw_error *err);

/*
 * The PodDisruptionBudget for svc, or *out = NULL when
 * spec.disruptionBudget is absent. Same contract as bw_scaling_hpa().
 */
int bw_scaling_pdb(const json_t *svc, json_t **out, struct bw_error *err);

#endif
