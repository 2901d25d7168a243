#!/usr/bin/env bash
# spec.route beyond a plain Ingress (issue 13, item 3): TLS, status.routeURL
# (the URL column of `kubectl get bsvc`), the Gateway API HTTPRoute chosen
# by spec.route.kind, and host + path conflicts across namespaces and kinds.
# The Gateway API CRDs (tests/gateway-api/) are removed first, so the
# operator is seen running without them (a Service of kind HTTPRoute is not
# Ready with reason GatewayAPIMissing, the others are untouched), then
# installed, and removed again at the end.
. "$(dirname "$0")/../lib.sh"

gwapi() { KUBECTL="$state/bin/kubectl" "$top/tests/gateway-api/install.sh" "$@"; }

install_crds || { not_ok "the CRDs are installed"; exit 1; }
gwapi uninstall || { not_ok "the Gateway API CRDs are removed"; exit 1; }
nsA=bw-test-gwa-$$
nsB=bw-test-gwb-$$
cleanup() {
	stop_operator
	kubectl delete mutatingwebhookconfiguration,validatingwebhookconfiguration breakwater \
		--ignore-not-found >/dev/null 2>&1
	kubectl delete namespace "$nsA" "$nsB" --wait=false >/dev/null 2>&1
	gwapi uninstall >/dev/null 2>&1
}
trap cleanup EXIT
for n in "$nsA" "$nsB"; do kubectl create namespace "$n" >/dev/null; done

# bsvc NS NAME ROUTE: applies a Service with that spec.route (flow YAML).
bsvc() {
	cat <<EOF | kubectl -n "$1" apply -f - 2>&1
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: $2}
spec:
  image: registry.local/shop/web:1.0.0
  port: 8000
  route: $3
EOF
}
get() { kubectl -n "$1" get "$2" -o jsonpath="$3" 2>/dev/null; }
reason() { get "$1" "bsvc/$2" '{.status.conditions[?(@.type=="Ready")].reason}'; }
is_reason() { [ "$(reason "$1" "$2")" == "$3" ]; }
exists() { kubectl -n "$1" get "$2" -o name >/dev/null 2>&1; }
gone() { ! exists "$@"; }
routeurl() { [ "$(get "$1" "bsvc/$2" '{.status.routeURL}')" == "$3" ]; }

# The schema's rules, before any operator (and webhook) runs.
out=$(bsvc "$nsA" bad '{pathPrefix: /api/bad/, tls: {secretName: bad-cert}}')
check "TLS without a host is refused, naming spec.route.host ($out)" grep -q "spec.route.host is required when spec.route.tls is set" <<<"$out"
out=$(bsvc "$nsA" bad '{pathPrefix: /api/bad/, kind: HTTPRoute}')
check "an HTTPRoute without parentRef is refused ($out)" grep -q "spec.route.parentRef is required when spec.route.kind is HTTPRoute" <<<"$out"
out=$(bsvc "$nsA" bad '{pathPrefix: /api/bad/, host: a.local, kind: HTTPRoute, parentRef: {name: gw}, tls: {secretName: c}}')
check "TLS with an HTTPRoute is refused ($out)" grep -q "spec.route.tls applies to kind Ingress only" <<<"$out"
out=$(bsvc "$nsA" bad '{pathPrefix: /api/bad/, kind: Gateway}')
check "an unknown kind is refused ($out)" grep -q 'spec.route.kind: Unsupported value: "Gateway"' <<<"$out"

# A conflict across namespaces and kinds, stored while no webhook runs: an
# HTTPRoute claim in nsA, an Ingress claim of the same host + path in nsB a
# second later (creationTimestamp has one-second resolution).
bsvc "$nsA" older '{pathPrefix: /api/x/, host: x.local, kind: HTTPRoute, parentRef: {name: shop-gw}}' >/dev/null
sleep 1.2
bsvc "$nsB" newer '{pathPrefix: /api/x/, host: x.local}' >/dev/null

launch_operator gateway
if ! eventually 30 curl -sf "http://127.0.0.1:$op_health/readyz"; then
	not_ok "the operator starts and becomes ready without the Gateway API CRDs" "$(tail -n 20 "$op_log")"
	exit 1
fi
ok "the operator starts and becomes ready without the Gateway API CRDs"

# TLS: the Ingress's tls section for the host, https in status.routeURL.
bsvc "$nsA" web '{pathPrefix: /api/web/, host: web.local, tls: {secretName: web-cert}}' >/dev/null
check "the TLS Service becomes Ready (its Secret does not exist: never read)" \
	kubectl -n "$nsA" wait --for=condition=Ready bsvc/web --timeout=60s
check_eq "the Ingress's tls names the Secret for the host" "web-cert web.local" \
	"$(get "$nsA" ingress/web '{.spec.tls[0].secretName} {.spec.tls[0].hosts[*]}')"
check_eq "status.routeURL is https://HOST/PREFIX" "https://web.local/api/web/" \
	"$(get "$nsA" bsvc/web '{.status.routeURL}')"
row=$(kubectl -n "$nsA" get bsvc web 2>&1)
check "kubectl get bsvc shows it in the URL column ($(tr '\n' ' ' <<<"$row"))" \
	bash -c "head -1 <<<'$row' | grep -q ' URL ' && tail -1 <<<'$row' | grep -q ' https://web.local/api/web/ '"

# No host: the Ingress's load-balancer address, once its controller sets one
# (played here by a status patch, as an Ingress controller writes it).
bsvc "$nsA" nohost '{pathPrefix: /api/nohost/}' >/dev/null
check "the host-less route's Ingress is made" eventually 30 exists "$nsA" ingress/nohost
check "no address yet: no routeURL" eventually 30 is_reason "$nsA" nohost RolloutComplete
check_eq "(none shown)" "" "$(get "$nsA" bsvc/nohost '{.status.routeURL}')"
kubectl -n "$nsA" patch ingress nohost --subresource=status --type=merge \
	-p '{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.7"}]}}}' >/dev/null
check "status.routeURL becomes the load balancer's address" \
	eventually 30 routeurl "$nsA" nohost "http://203.0.113.7/api/nohost/"

# The Gateway API is not installed: a Service of kind HTTPRoute says so.
bsvc "$nsA" gw '{pathPrefix: /api/gw/, host: gw.local, kind: HTTPRoute, parentRef: {name: shop-gw, sectionName: http}}' >/dev/null
check "kind HTTPRoute without the CRDs: Ready False, reason GatewayAPIMissing" \
	eventually 30 is_reason "$nsA" gw GatewayAPIMissing
msg=$(get "$nsA" bsvc/gw '{.status.conditions[?(@.type=="Ready")].message}')
check "the message names the missing CRD ($msg)" grep -qF "httproutes.gateway.networking.k8s.io" <<<"$msg"
check "a Warning Event GatewayAPIMissing is recorded" eventually 15 bash -c \
	"'$state/bin/kubectl' -n '$nsA' get events --field-selector involvedObject.name=gw,reason=GatewayAPIMissing,type=Warning -o name | grep -q ."
check "its Deployment is written all the same" eventually 30 exists "$nsA" deployment/gw
check_eq "the other Services stay Ready" "RolloutComplete" "$(reason "$nsA" web)"
check "the operator stays ready" curl -sf "http://127.0.0.1:$op_health/readyz"

# The cross-namespace, cross-kind conflict: the older HTTPRoute claim holds.
check "the newer Ingress claim reports RouteConflict" eventually 30 is_reason "$nsB" newer RouteConflict
msg=$(get "$nsB" bsvc/newer '{.status.conditions[?(@.type=="Ready")].message}')
check "naming the holder in the other namespace ($msg)" grep -qF "is the route of Service $nsA/older" <<<"$msg"
check "and it has no Ingress" gone "$nsB" ingress/newer
out=$(bsvc "$nsB" third '{pathPrefix: /api/x/, host: x.local, kind: HTTPRoute, parentRef: {name: shop-gw}}')
check "the webhook refuses a third claim of another kind ($out)" grep -q "already the route of Service" <<<"$out"

# Install the Gateway API: within the re-check the HTTPRoute is made.
gwapi install || not_ok "the Gateway API CRDs are installed"
check "with the CRDs the HTTPRoute is made" eventually 60 exists "$nsA" httproute/gw
check "and the Service becomes Ready" kubectl -n "$nsA" wait --for=condition=Ready bsvc/gw --timeout=60s
uid=$(get "$nsA" bsvc/gw '{.metadata.uid}')
check_eq "its spec: Gateway, host, PathPrefix match, backend Service and port" \
	"Gateway shop-gw http|gw.local|PathPrefix /api/gw/|Service gw 8000" \
	"$(get "$nsA" httproute/gw '{.spec.parentRefs[0].kind} {.spec.parentRefs[0].name} {.spec.parentRefs[0].sectionName}|{.spec.hostnames[*]}|{.spec.rules[0].matches[0].path.type} {.spec.rules[0].matches[0].path.value}|{.spec.rules[0].backendRefs[0].kind} {.spec.rules[0].backendRefs[0].name} {.spec.rules[0].backendRefs[0].port}')"
check_eq "it is controlled by the Service" "true $uid" \
	"$(get "$nsA" httproute/gw '{.metadata.ownerReferences[0].controller} {.metadata.ownerReferences[0].uid}')"
check_eq "no Ingress for it" "" "$(kubectl -n "$nsA" get ingress gw -o name 2>/dev/null)"
check_eq "status.routeURL" "http://gw.local/api/gw/" "$(get "$nsA" bsvc/gw '{.status.routeURL}')"

# Switching the kind replaces the object.
kubectl -n "$nsA" patch bsvc gw --type=merge -p '{"spec":{"route":{"kind":"Ingress","parentRef":null}}}' >/dev/null
check "kind Ingress: the Ingress is made" eventually 30 exists "$nsA" ingress/gw
check "and the HTTPRoute deleted" eventually 30 gone "$nsA" httproute/gw
kubectl -n "$nsA" patch bsvc gw --type=merge -p '{"spec":{"route":{"kind":"HTTPRoute","parentRef":{"name":"shop-gw"}}}}' >/dev/null
check "back to HTTPRoute: the HTTPRoute is made" eventually 30 exists "$nsA" httproute/gw
check "and the Ingress deleted" eventually 30 gone "$nsA" ingress/gw
kubectl -n "$nsA" patch bsvc gw --type=json -p '[{"op":"remove","path":"/spec/route"}]' >/dev/null
check "the route removed: the HTTPRoute is deleted" eventually 30 gone "$nsA" httproute/gw
check "and status.routeURL cleared" eventually 30 routeurl "$nsA" gw ""

# An HTTPRoute of that name that is not ours is never taken over.
cat <<EOF | kubectl -n "$nsA" apply -f - >/dev/null
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: taken}
spec:
  parentRefs: [{name: other-gw}]
  rules: [{backendRefs: [{name: elsewhere, port: 80}]}]
EOF
bsvc "$nsA" taken '{pathPrefix: /api/taken/, kind: HTTPRoute, parentRef: {name: shop-gw}}' >/dev/null
check "an existing unowned HTTPRoute: OwnershipConflict" eventually 30 is_reason "$nsA" taken OwnershipConflict
check_eq "and it is left as it was" "other-gw elsewhere" \
	"$(get "$nsA" httproute/taken '{.spec.parentRefs[0].name} {.spec.rules[0].backendRefs[0].name}{.metadata.ownerReferences}')"

stop_operator
check_operator_log
