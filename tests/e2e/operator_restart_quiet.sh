#!/usr/bin/env bash
# A restarted operator with everything converged writes nothing: the
# Deployments carry the digest of what was applied (breakwater.io/applied),
# so no Service is applied again, and the registry is already as it should
# be. Counted from the API server's audit log: the operator's writes to
# objects of this test's namespace (audit_requests in tests/lib.sh), so another
# test's operator on the same cluster does not count. A Deployment changed
# while no operator ran is still put back by the restarted one.
. "$(dirname "$0")/../lib.sh"

install_crds || { not_ok "the CRDs are installed"; exit 1; }
use_namespace quiet
trap cleanup_operator EXIT
start_operator "$ns"

t_apply=$(audit_now)
for s in users orders payments; do
	deps="[users]"
	[ $s = users ] && deps="[]"
	cat <<YAML
---
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: $s}
spec: {image: "registry.local/shop/$s:1", replicas: 1, healthCheck: {path: /health}, dependsOn: $deps}
YAML
done | kubectl -n "$ns" apply -f - >/dev/null
check "the Services become Ready" kubectl -n "$ns" wait --for=condition=Ready bsvc/users bsvc/orders bsvc/payments --timeout=90s
check "the Deployment carries the digest of what was applied" bash -c \
	"'$state/bin/kubectl' -n $ns get deployment orders -o jsonpath='{.metadata.annotations.breakwater\.io/applied}' | grep -Eq '^[0-9a-f]{64}$'"
check "the registry is written" eventually 10 kubectl -n "$ns" get configmap breakwater-registry
# the registry is rebuilt a second after the last count changed, and counts
# reach the status at most every 2 s: stopped before those, the restarted
# operator would rightly write them
check "the operator settles (no request for 3 s)" eventually 60 audit_quiet "$ns" "$t_apply"
stop_operator

since=$(audit_now)
start_operator "$ns"
# not a vacuous quiet: the restarted operator has reconciled the three
# Services and the registry, and then made no request for 3 s
reconciled() {
	curl -sf "http://127.0.0.1:$op_metrics/metrics" | awk '
		/^controller_runtime_reconcile_total[{]controller="service",result="success"[}]/ { s = $2 }
		/^controller_runtime_reconcile_total[{]controller="registry",result="success"[}]/ { r = $2 }
		END { exit !(s >= 3 && r >= 1) }'
}
check "the restarted operator reconciles the Services and the registry" eventually 30 reconciled
check "and settles" eventually 30 audit_quiet "$ns" "$since"
check_eq "a restart with everything converged writes nothing" "" "$(audit_requests "$ns" "$since" | grep -v '^get \|^list ')"
check "the Services are still Ready" kubectl -n "$ns" wait --for=condition=Ready bsvc/users bsvc/orders bsvc/payments --timeout=5s

# the first image edit after the restart: the Deployment is written without
# a read of the core Service or the route first (the restart recorded them
# as applied, from the digest that covers them)
since=$(audit_now)
kubectl -n "$ns" patch bsvc users --type=merge -p '{"spec":{"image":"registry.local/shop/users:2"}}' >/dev/null
check "an image edit after the restart reaches the Deployment" eventually 30 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get deployment users -o jsonpath='{.spec.template.spec.containers[0].image}')\" = registry.local/shop/users:2 ]"
check_eq "and nothing was read before writing it" "" "$(audit_requests "$ns" "$since" | grep '^get ')"
stop_operator
check_operator_log

# drift while no operator runs: an image and a replica count changed by hand
kubectl -n "$ns" set image deployment/orders app=registry.local/shop/orders:drifted >/dev/null
kubectl -n "$ns" scale deployment/payments --replicas=3 >/dev/null
start_operator "$ns"
check "a restarted operator puts a changed image back" eventually 30 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get deployment orders -o jsonpath='{.spec.template.spec.containers[0].image}')\" = registry.local/shop/orders:1 ]"
check "and a changed replica count" eventually 30 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get deployment payments -o jsonpath='{.spec.replicas}')\" = 1 ]"
stop_operator
check_operator_log
