#!/usr/bin/env bash
# An operator started before its CRDs are installed says what is missing and
# how to fix it, is not ready, and starts working once they are applied,
# without a restart.
. "$(dirname "$0")/../lib.sh"

use_namespace crds-later
trap 'stop_operator; install_crds; kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1' EXIT
check "the CRDs are removed" kubectl delete -f "$top/crds/" --wait=true --timeout=90s

launch_operator crds-later --namespace "$ns" --webhook-port 0
check "without its CRDs the operator says which are missing and how to install them" eventually 15 \
	grep -q "not installed.*kubectl apply -f crds/" "$op_log"
check "it stays up" kill -0 "$op_pid"
check_eq "and is not ready" 503 \
	"$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$op_health/readyz")"

check "the CRDs are applied" install_crds
check "the operator becomes ready without a restart" eventually 60 \
	curl -sf "http://127.0.0.1:$op_health/readyz"
cat <<YAML | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: web}
spec: {image: "registry.local/web:1"}
YAML
check "and reconciles a Service" kubectl -n "$ns" wait --for=condition=Ready bsvc/web --timeout=60s
stop_operator
check_eq "SIGTERM stops it cleanly" 0 "$?"
check_operator_log
