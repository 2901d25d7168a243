#!/usr/bin/env bash
# The operator's absence never blocks an edit. With the operator killed
# (SIGKILL: its webhook registrations stay behind, pointing at a port where
# nothing listens any more), a patch of spec.replicas, an image edit, kubectl
# scale, a Breaker edit and a new Service are all accepted; an invalid edit is
# still refused by the API server alone, naming the field; and once the
# operator is back everything converges, Ready at the new generation.
. "$(dirname "$0")/../lib.sh"

install_crds || { not_ok "the CRDs are installed"; exit 1; }
use_namespace down
trap cleanup_operator EXIT
start_operator "$ns"

get() { kubectl -n "$ns" get "$@" 2>/dev/null; }

cat <<EOF | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: orders}
spec:
  image: registry.local/shop/orders:1.0.0
  replicas: 2
  healthCheck: {path: /health}
  dependsOn: [payments]
---
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: payments}
spec: {image: registry.local/shop/payments:1.0.0}
---
apiVersion: breakwater.io/v1alpha1
kind: Breaker
metadata: {name: payments}
spec: {target: payments}
EOF
check "the Services become Ready" kubectl -n "$ns" wait --for=condition=Ready bsvc --all --timeout=60s
check "the validating webhook is registered" kubectl get validatingwebhookconfiguration "breakwater-$ns"

stop_operator KILL
check_operator_log
check "killed, it leaves its registrations behind" kubectl get validatingwebhookconfiguration "breakwater-$ns"
check "pointing at a port where nothing listens" bash -c "! curl -sk --max-time 2 https://127.0.0.1:$op_webhook/healthz"

# --- edits while it is down ---
new_service='apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: users}
spec: {image: registry.local/shop/users:1.0.0}'
check "kubectl patch of spec.replicas is accepted" \
	kubectl -n "$ns" patch bsvc orders --type=merge -p '{"spec":{"replicas":5}}'
check "an image edit is accepted" \
	kubectl -n "$ns" patch bsvc orders --type=merge -p '{"spec":{"image":"registry.local/shop/orders:1.1.0"}}'
check "kubectl scale is accepted" kubectl -n "$ns" scale bsvc/orders --replicas=4
check "a Breaker edit is accepted" \
	kubectl -n "$ns" patch brk payments --type=merge -p '{"spec":{"failureThreshold":3}}'
check "kubectl apply of a new Service is accepted" \
	bash -c "'$state/bin/kubectl' -n $ns apply -f - <<<'$new_service'"
check_eq "the edits are stored" "4 registry.local/shop/orders:1.1.0 3" \
	"$(get bsvc orders -o jsonpath='{.spec.replicas} {.spec.image}') $(get brk payments -o jsonpath='{.spec.failureThreshold}')"

# --- invalid edits are still refused, by the API server alone ---
refused() { # NAME FIELD COMMAND...: the command fails, naming FIELD, and not through a webhook
	local name=$1 field=$2 out
	shift 2
	if out=$("$@" 2>&1); then
		not_ok "$name" "accepted: $out"
	elif ! grep -qF -- "$field" <<<"$out" || grep -q 'admission webhook\|calling webhook' <<<"$out"; then
		not_ok "$name" "expected a refusal naming $field from the API server" "output: $out"
	else
		ok "$name"
	fi
}
refused "replicas 1001 is refused, naming spec.replicas" spec.replicas \
	kubectl -n "$ns" patch bsvc orders --type=merge -p '{"spec":{"replicas":1001}}'
refused "kubectl scale to 1001 is refused, naming spec.replicas" spec.replicas \
	kubectl -n "$ns" scale bsvc/orders --replicas=1001
refused "an image with a space is refused, naming spec.image" spec.image \
	kubectl -n "$ns" patch bsvc orders --type=merge -p '{"spec":{"image":"registry.local/shop/orders 2"}}'
refused "maxSurge and maxUnavailable both 0 are refused, naming spec.rollout.maxSurge" spec.rollout.maxSurge \
	kubectl -n "$ns" patch bsvc orders --type=merge -p '{"spec":{"rollout":{"maxSurge":0,"maxUnavailable":0}}}'
refused "a dependency that is not a Service name is refused, naming spec.dependsOn[0]" 'spec.dependsOn[0]' \
	kubectl -n "$ns" patch bsvc orders --type=merge -p '{"spec":{"dependsOn":["2fa"]}}'
refused "a Breaker target that is not a Service name is refused, naming spec.target" spec.target \
	kubectl -n "$ns" patch brk payments --type=merge -p '{"spec":{"target":"9lives"}}'
check_eq "the refused edits changed nothing" "4 registry.local/shop/orders:1.1.0 payments 3 payments" \
	"$(get bsvc orders -o jsonpath='{.spec.replicas} {.spec.image} {.spec.dependsOn[0]}') $(get brk payments -o jsonpath='{.spec.failureThreshold} {.spec.target}')"

# --- back: everything converges ---
start_operator "$ns"
check "every Service becomes Ready again" kubectl -n "$ns" wait --for=condition=Ready bsvc --all --timeout=90s
gen=$(get bsvc orders -o jsonpath='{.metadata.generation}')
check_eq "orders is Ready at its current generation" "$gen True" \
	"$(get bsvc orders -o jsonpath='{.status.conditions[?(@.type=="Ready")].observedGeneration} {.status.conditions[?(@.type=="Ready")].status}')"
check_eq "its Deployment has the edits" "4 registry.local/shop/orders:1.1.0" \
	"$(get deployment orders -o jsonpath='{.spec.replicas} {.spec.template.spec.containers[0].image}')"
check_eq "status.image is the new image, on every replica" "registry.local/shop/orders:1.1.0 4" \
	"$(get bsvc orders -o jsonpath='{.status.image} {.status.readyReplicas}')"
check "the Service created while it was down has its Deployment" eventually 30 \
	kubectl -n "$ns" get deployment users
check "the Breaker's edit is observed" eventually 30 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get brk payments -o jsonpath='{.status.observedGeneration}')\" = \"\$('$state/bin/kubectl' -n $ns get brk payments -o jsonpath='{.metadata.generation}')\" ]"
check "and the registry holds its new threshold" eventually 30 bash -c \
	"'$state/bin/kubectl' -n $ns get configmap breakwater-registry -o jsonpath='{.data.breakers\.json}' | jq -e '.breakers.payments.failureThreshold == 3' >/dev/null"
stop_operator
check_eq "SIGTERM stops it cleanly" 0 "$?"
check_operator_log
