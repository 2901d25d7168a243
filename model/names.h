/*
 * The names breakwater puts on and reads from cluster objects, each defined
 * once for the operator, the webhook and the sidecar: the API group and
 * version of its resources, labels, annotations, the registry ConfigMap and
 * its keys, the app container and the server-side-apply field manager.
 * Nothing else in the tree spells these strings out.
 */
#ifndef BW_NAMES_H
#define BW_NAMES_H

/* The custom resources: group, version, kinds and plurals. */
#define BW_API_GROUP	    "breakwater.io"
#define BW_API_VERSION_ONLY "v1alpha1"
#define BW_API_VERSION	    BW_API_GROUP "/" BW_API_VERSION_ONLY
#define BW_KIND_SERVICE	    "Service"
#define BW_KIND_BREAKER	    "Breaker"
#define BW_PLURAL_SERVICES  "services"
#define BW_PLURAL_BREAKERS  "breakers"

/* Who manages what breakwater writes: the field manager of its applies and
 * the value of the managed-by label. */
#define BW_FIELD_MANAGER "breakwater"
#define BW_MANAGER	 "breakwater"

#define BW_LABEL_SERVICE "breakwater.io/service"
#define BW_LABEL_INJECT	 "breakwater.io/inject"
/* a namespace's opt-in to the breaker sidecar (webhook/mutate.h) */
#define BW_LABEL_PROXY	 "breakwater.io/proxy"
#define BW_LABEL_MANAGED "app.kubernetes.io/managed-by"
#define BW_LABEL_NAME	 "app.kubernetes.io/name"
/* on a pod: the injection generation it was given (mutate.h) */
#define BW_ANNOTATION_INJECTED "breakwater.io/injected"
/* on a Deployment's pod template: the last repair restart (--repair-pods) */
#define BW_ANNOTATION_RESTARTED_AT "breakwater.io/restartedAt"
/* on a Deployment's pod template: spec.restartAt, a restart the user asked
 * for (part of the template, so it makes a revision); not restartedAt, which
 * is the operator's own repair restart and counted by its back-off */
#define BW_ANNOTATION_RESTART_AT "breakwater.io/restartAt"
/* on a Deployment's pod template: the hash of the ConfigMaps and Secrets
 * its pods reference (model/confighash.h), so a change of their content
 * rolls out; absent when none is referenced or spec.configRollout is
 * Disabled */
#define BW_ANNOTATION_CONFIG_HASH "breakwater.io/config-hash"
/* on a Deployment: the name of the ControllerRevision its template is
 * (revision.h), so the rollout decisions know what it runs */
#define BW_ANNOTATION_REVISION "breakwater.io/revision"
/* on a Deployment: the digest of what the operator last applied (applied.h) */
#define BW_ANNOTATION_APPLIED "breakwater.io/applied"

/* The container of a Deployment's pod template that runs spec.image. */
#define BW_APP_CONTAINER "app"
/* The native sidecar the webhook adds for the breaker proxy (mutate.h). */
#define BW_PROXY_CONTAINER "breakwater-proxy"

/* The registry ConfigMap of a namespace, its two keys, and where the webhook
 * mounts it in pods (the sidecar's default policy file is under it). */
#define BW_REGISTRY_NAME	 "breakwater-registry"
#define BW_REGISTRY_KEY		 "registry.json"
#define BW_REGISTRY_BREAKERS_KEY "breakers.json"
#define BW_REGISTRY_MOUNT_PATH	 "/etc/breakwater/"
/* The suffix of the variable a dependency's URL is injected as
 * (USERS_SERVICE_URL for dependsOn users). */
#define BW_SERVICE_URL_SUFFIX "_SERVICE_URL"

#endif
