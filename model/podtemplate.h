/*
 * The pod-template fields of a breakwater Service beyond image, port, env,
 * resources and healthCheck: separate probes, command/args, envFrom,
 * volumes and volumeMounts, scheduling (nodeSelector, affinity, tolerations,
 * topologySpreadConstraints), serviceAccountName, imagePullSecrets, pod and
 * container securityContext (restricted by default), terminationGrace-
 * PeriodSeconds, preStop, minReadySeconds and podMetadata.
 * docs/resources.md, "The pod template", is the reference; every check here
 * is also a CRD rule (crds/services.breakwater.io.yaml) with the same
 * meaning, so edits are refused with the operator down.
 *
 * Pure functions: no I/O, no global state. spec is the Service's spec
 * object, borrowed and read during the call only; nothing returned or added
 * shares memory with it (values are deep copies).
 * Thread-safety: every function may be called from any thread at once.
 */
#ifndef BW_PODTEMPLATE_H
#define BW_PODTEMPLATE_H

#include <jansson.h>

#include "error.h"

/* Limits, the CRD's maxItems / maximum. */
#define BW_PODTEMPLATE_LIST_MAX	     32 /* volumes, volumeMounts, envFrom, tolerations */
#define BW_PODTEMPLATE_ARGS_MAX	     64 /* command, args */
#define BW_PODTEMPLATE_GRACE_MAX     86400
#define BW_PODTEMPLATE_MIN_READY_MAX 86400

/*
 * Checks the pod-template fields of spec (an object; absent fields are
 * fine). deadline is spec.rollout.progressDeadlineSeconds as defaulted:
 * minReadySeconds must be below it (the Deployment's rule). Returns 0, or
 * BW_EINVAL with a message starting with the field ("spec.volumes[1]: ...").
 */
int bw_podtemplate_check(const json_t *spec, json_int_t deadline, struct bw_error *err);

/*
 * Adds the fields of a checked spec to what render.c built: the pod
 * template's metadata (labels and annotations of podMetadata; the labels
 * already there win, and check refused any clash), the pod spec, the app
 * container (probes set here replace those of healthCheck) and the
 * Deployment spec (minReadySeconds). The restricted securityContext
 * defaults are set when spec has none. Returns 0, or -1 when out of memory.
 */
int bw_podtemplate_apply(const json_t *spec, json_t *pod_metadata, json_t *pod_spec,
			 json_t *container, json_t *deployment_spec);

#endif
