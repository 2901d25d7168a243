#!/usr/bin/env bash
# The example shop: `kubectl apply -f examples/shop/` and every Service
# becomes Ready; the Deployments, Services and the registry ConfigMap hold
# what they should; the Breakers know their clients; `kubectl get breakwater`
# lists both kinds. A Breaker whose target does not exist says so.
. "$(dirname "$0")/../lib.sh"

install_crds || { not_ok "the CRDs are installed"; exit 1; }
ns=shop
kubectl delete namespace shop --wait=true --timeout=60s >/dev/null 2>&1
trap cleanup_operator EXIT
kubectl create namespace shop >/dev/null
start_operator shop

get() { kubectl -n shop get "$@" 2>/dev/null; }

check "the shop applies" kubectl apply -f "$top/examples/shop/"
services=$(get bsvc -o name | wc -l)
check_eq "four Services" 4 "$services"
check "every Service becomes Ready" kubectl -n shop wait --for=condition=Ready bsvc --all --timeout=90s

listing=$(get breakwater)
check "kubectl get breakwater lists the Services" grep -q "service.breakwater.io/orders" <<<"$listing"
check "and the Breakers" grep -q "breaker.breakwater.io/payments" <<<"$listing"
table=$(get bsvc)
check "the printer columns show image and readiness" grep -qE "^orders +registry.local/shop/orders:1.0.0 +3 +3 +RolloutComplete" <<<"$table"

for s in users products orders payments; do
	want=$(get bsvc $s -o jsonpath='{.spec.replicas}')
	check_eq "$s: its Deployment is available with $want replicas" "$want" \
		"$(get deployment $s -o jsonpath='{.status.availableReplicas}')"
	check_eq "$s: its Service exposes port 8000" 8000 "$(get service $s -o jsonpath='{.spec.ports[0].port}')"
done

reg=$(get configmap breakwater-registry -o jsonpath='{.data.registry\.json}')
check_eq "the registry lists the four Services" "orders payments products users" \
	"$(jq -r '.services | keys | join(" ")' <<<"$reg")"
check_eq "with orders' URL" "http://orders.shop.svc.cluster.local:8000" "$(jq -r .services.orders.url <<<"$reg")"
check "and ready replicas" eventually 30 bash -c \
	"'$state/bin/kubectl' -n shop get configmap breakwater-registry -o jsonpath='{.data.registry\.json}' | jq -e '.services.orders.readyReplicas == 3' >/dev/null"
brk=$(get configmap breakwater-registry -o jsonpath='{.data.breakers\.json}')
check_eq "breakers.json holds the payments policy" "payments 5 60 Enforce" \
	"$(jq -r '.breakers.payments | "\(.target) \(.failureThreshold) \(.openSeconds) \(.mode)"' <<<"$brk")"

# The webhook injected the registry into the shop's pods (the namespace opts in).
pod=$(get pods -l breakwater.io/service=orders -o jsonpath='{.items[0].metadata.name}')
envs=$(get pod "$pod" -o json | jq -r '.spec.containers[0].env[] | "\(.name)=\(.value)"' | sort | xargs)
check_eq "an orders pod finds its dependencies and the registry files" \
	"BREAKWATER_BREAKERS_FILE=/etc/breakwater/breakers.json BREAKWATER_NAMESPACE=shop BREAKWATER_REGISTRY_FILE=/etc/breakwater/registry.json BREAKWATER_SERVICE=orders DJANGO_SETTINGS_MODULE=orders.settings PAYMENTS_SERVICE_URL=http://payments.shop.svc.cluster.local:8000 PRODUCTS_SERVICE_URL=http://products.shop.svc.cluster.local:8000 USERS_SERVICE_URL=http://users.shop.svc.cluster.local:8000" \
	"$envs"
check_eq "with the registry mounted at /etc/breakwater/" /etc/breakwater/ \
	"$(get pod "$pod" -o jsonpath='{.spec.containers[0].volumeMounts[?(@.name=="breakwater-registry")].mountPath}')"
check "and the injection annotation" bash -c \
	"'$state/bin/kubectl' -n shop get pod $pod -o jsonpath='{.metadata.annotations.breakwater\.io/injected}' | grep -q ."
check "every shop pod is injected" eventually 30 bash -c \
	"[ \"\$('$state/bin/kubectl' -n shop get pods -o json | jq '[.items[] | select(.metadata.annotations[\"breakwater.io/injected\"] == null)] | length')\" = 0 ]"
check "the payments Breaker counts its client's 3 pods as configured" eventually 30 bash -c \
	"[ \"\$('$state/bin/kubectl' -n shop get brk payments -o jsonpath='{.status.pods.configured} {.status.pods.stale}')\" = '3 0' ]"

check_eq "the payments Breaker knows its client" '["orders"]' "$(get brk payments -o jsonpath='{.status.clients}')"
check_eq "and is Ready" True "$(get brk payments -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')"

cat <<EOF | kubectl -n shop apply -f - >/dev/null
apiVersion: breakwater.io/v1alpha1
kind: Breaker
metadata: {name: ghost}
spec: {target: nowhere}
EOF
check "a Breaker without a target Service says TargetNotFound" eventually 30 bash -c \
	"[ \"\$('$state/bin/kubectl' -n shop get brk ghost -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason}')\" = TargetNotFound ]"
check "the registry follows the new Breaker" eventually 30 bash -c \
	"'$state/bin/kubectl' -n shop get configmap breakwater-registry -o jsonpath='{.data.breakers\.json}' | jq -e '.breakers.ghost.target == \"nowhere\"' >/dev/null"

kubectl -n shop delete bsvc products >/dev/null
check "a deleted Service leaves the registry" eventually 30 bash -c \
	"! '$state/bin/kubectl' -n shop get configmap breakwater-registry -o jsonpath='{.data.registry\.json}' | jq -e '.services.products' >/dev/null"

stop_operator
check_eq "SIGTERM stops the operator cleanly" 0 "$?"
check_operator_log
