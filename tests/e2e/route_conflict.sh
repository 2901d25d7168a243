#!/usr/bin/env bash
# A route (host + path prefix) leads to one Service in the whole cluster
# (issue 8, findings 7 and 8). Two Services of two namespaces claim one
# route while no webhook runs (as when it is unreachable): the operator
# (watching every namespace) gives the route to the older one only; the
# later one is Ready=False with reason RouteConflict naming the holder, with
# no Ingress. The webhook refuses a claim from a third namespace. When the
# holder goes, the later one gets its Ingress and becomes Ready.
. "$(dirname "$0")/../lib.sh"

install_crds || { not_ok "the CRDs are installed"; exit 1; }
nsA=bw-test-routea-$$
nsB=bw-test-routeb-$$
nsC=bw-test-routec-$$
ns=$nsA # for cleanup_operator
cleanup() {
	stop_operator
	kubectl delete mutatingwebhookconfiguration,validatingwebhookconfiguration breakwater \
		--ignore-not-found >/dev/null 2>&1
	kubectl delete namespace "$nsA" "$nsB" "$nsC" --wait=false >/dev/null 2>&1
}
trap cleanup EXIT
for n in "$nsA" "$nsB" "$nsC"; do kubectl create namespace "$n" >/dev/null; done

bsvc() {
	cat <<EOF | kubectl -n "$1" apply -f - 2>&1
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: $2}
spec:
  image: registry.local/shop/web:1.0.0
  port: 8000
  route: {pathPrefix: /api/shop/, host: shop.local}
EOF
}
cond() { kubectl -n "$1" get bsvc "$2" -o jsonpath="{.status.conditions[?(@.type==\"Ready\")].$3}" 2>/dev/null; }
is_reason() { [ "$(cond "$1" "$2" reason)" == "$3" ]; }

# No operator yet, so no webhook: both claims are stored. The second is
# created at least a second later (creationTimestamp has one-second
# resolution; a tie would go to the smaller namespace, nsA, all the same).
bsvc "$nsA" shop >/dev/null
sleep 1.2
bsvc "$nsB" shop >/dev/null

launch_operator route
if ! eventually 30 curl -sf "http://127.0.0.1:$op_health/readyz"; then
	not_ok "the operator starts and becomes ready" "$(tail -n 20 "$op_log")"
	exit 1
fi

check "the older Service becomes Ready" kubectl -n "$nsA" wait --for=condition=Ready bsvc/shop --timeout=60s
check "the later one reports RouteConflict" eventually 30 is_reason "$nsB" shop RouteConflict
check_eq "its Ready is False" False "$(cond "$nsB" shop status)"
check_eq "it is Stalled (what GitOps tools read as Failed; tests/e2e/kstatus.sh)" "True RouteConflict" \
	"$(kubectl -n "$nsB" get bsvc shop -o jsonpath='{.status.conditions[?(@.type=="Stalled")].status} {.status.conditions[?(@.type=="Stalled")].reason}')"
msg=$(cond "$nsB" shop message)
check "the message names the holder ($msg)" grep -qF "is the route of Service $nsA/shop" <<<"$msg"
check_eq "the older one has the Ingress" /api/shop/ \
	"$(kubectl -n "$nsA" get ingress shop -o jsonpath='{.spec.rules[0].http.paths[0].path}' 2>/dev/null)"
check_eq "the later one has none" "" "$(kubectl -n "$nsB" get ingress shop -o name 2>/dev/null)"
check "its Deployment is written all the same" eventually 30 kubectl -n "$nsB" get deployment shop
check "a Warning Event RouteConflict is recorded" eventually 15 bash -c \
	"'$state/bin/kubectl' -n '$nsB' get events --field-selector involvedObject.name=shop,reason=RouteConflict,type=Warning -o name | grep -q ."

# The webhook sees every namespace: a third claim is refused, naming a holder.
out=$(bsvc "$nsC" shop3)
check "the webhook refuses a claim from another namespace ($out)" \
	grep -q "spec.route: pathPrefix /api/shop/ on host shop.local is already the route of Service shop in namespace bw-test-route[ab]-$$" <<<"$out"
check_eq "and nothing is stored" "" "$(kubectl -n "$nsC" get bsvc shop3 -o name 2>/dev/null)"

# The holder goes: the later Service gets the route.
kubectl -n "$nsA" delete bsvc shop --wait=true --timeout=30s >/dev/null
check "the later Service becomes Ready once the route is free" \
	kubectl -n "$nsB" wait --for=condition=Ready bsvc/shop --timeout=90s
check "and has its Ingress" eventually 30 kubectl -n "$nsB" get ingress shop
check_eq "and is no longer Stalled" False \
	"$(kubectl -n "$nsB" get bsvc shop -o jsonpath='{.status.conditions[?(@.type=="Stalled")].status}')"

stop_operator
check_operator_log
