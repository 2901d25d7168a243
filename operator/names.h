/*
 * The names breakwater puts on cluster objects, in one place for the
 * operator and the webhook: labels, annotations, the registry ConfigMap and
 * the server-side-apply field manager.
 */
#ifndef BW_NAMES_H
#define BW_NAMES_H

#define BW_FIELD_MANAGER       "breakwater"
#define BW_LABEL_SERVICE       "breakwater.io/service"
#define BW_LABEL_INJECT	       "breakwater.io/inject"
#define BW_LABEL_MANAGED       "app.kubernetes.io/managed-by"
#define BW_ANNOTATION_INJECTED "breakwater.io/injected"
/* on a Deployment's pod template: the last repair restart (--repair-pods) */
#define BW_ANNOTATION_RESTARTED_AT "breakwater.io/restartedAt"
/* on a Deployment: the digest of what the operator last applied (applied.h) */
#define BW_ANNOTATION_APPLIED "breakwater.io/applied"
#define BW_REGISTRY_NAME      "breakwater-registry"

#endif
