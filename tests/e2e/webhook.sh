#!/usr/bin/env bash
# The admission webhook end to end, on the real API server:
#  - pods of a Service carry the registry env, volume, mount and annotation;
#  - a pod in a namespace not opted in is untouched, one opted out too;
#  - writes are validated: a dependsOn naming no Service is a warning, a
#    route taken by another Service is refused;
#  - a pod created while the webhook is down is reported, and repaired with
#    --repair-pods;
#  - certificates rotate during a stream of pod creations, with no failed
#    admission.
. "$(dirname "$0")/../lib.sh"

install_crds || { not_ok "the CRDs are installed"; exit 1; }
use_namespace webhook
work_bundles=$(mktemp)
trap 'cleanup_operator; rm -f "$work_bundles"' EXIT
# Short-lived certificates: notBefore is backdated a tenth of the validity,
# and renewal comes at 2/3 of the whole: a 10 s serving certificate is
# renewed about every 6 s, a 30 s CA about every 19 s.
start_operator "$ns" --webhook-cert-validity 10 --webhook-ca-validity 30

get() { kubectl -n "$ns" get "$@" 2>/dev/null; }
pod_env() { # POD VAR
	get pod "$1" -o json | jq -r --arg v "$2" '.spec.containers[0].env // [] | map(select(.name == $v)) | map(.value) | join(",")'
}

check "the webhook registrations are written" bash -c \
	"'$state/bin/kubectl' get mutatingwebhookconfiguration breakwater-$ns -o jsonpath='{.webhooks[0].clientConfig.caBundle}' | grep -q ."
check_eq "pod mutation fails open" Ignore \
	"$(kubectl get mutatingwebhookconfiguration breakwater-$ns -o jsonpath='{.webhooks[0].failurePolicy}')"
check_eq "validation fails open (the CRD holds the single-object rules)" "Ignore Ignore" \
	"$(kubectl get validatingwebhookconfiguration breakwater-$ns -o jsonpath='{.webhooks[*].failurePolicy}')"
check "kube-system is never sent to the webhook" bash -c \
	"'$state/bin/kubectl' get mutatingwebhookconfiguration breakwater-$ns -o json | jq -e '.webhooks[0].namespaceSelector.matchExpressions[0].values | index(\"kube-system\")' >/dev/null"

# --- validation ---
# the API server loads new registrations from its own watch: until then a
# request is admitted without them (failurePolicy Ignore). A server-side dry
# run of a Service naming a missing dependency shows when it calls us.
webhook_called() {
	cat <<EOF | kubectl -n "$ns" apply --dry-run=server -f - 2>&1 | grep -qi "warning.*no-such-dependency"
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: probe}
spec: {image: "registry.local/shop/probe:1.0.0", dependsOn: [no-such-dependency]}
EOF
}
check "the API server calls the webhook" eventually 15 webhook_called
out=$(cat <<EOF | kubectl -n "$ns" apply -f - 2>&1
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: users}
spec: {image: "registry.local/shop/users:1.0.0", port: 8000, route: {pathPrefix: /api/users/}}
---
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: orders}
spec:
  image: registry.local/shop/orders:1.0.0
  port: 8000
  replicas: 2
  dependsOn: [users, payments]
EOF
)
check "Services are admitted" grep -q "service.breakwater.io/orders created" <<<"$out"
check "a dependsOn naming no Service is a warning kubectl shows" grep -qi "warning.*payments" <<<"$out"
out=$(cat <<EOF | kubectl -n "$ns" apply -f - 2>&1
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: thief}
spec: {image: "registry.local/shop/thief:1.0.0", route: {pathPrefix: /api/users/}}
EOF
)
check "a route another Service has is refused" grep -q "denied" <<<"$out"
check "naming the Service that has it" grep -q "users" <<<"$out"
check "and nothing is stored" bash -c "! '$state/bin/kubectl' -n $ns get bsvc thief 2>/dev/null"

# --- injection ---
check "the Services become Ready" kubectl -n "$ns" wait --for=condition=Ready bsvc/orders bsvc/users --timeout=60s
pod=$(get pods -l breakwater.io/service=orders -o jsonpath='{.items[0].metadata.name}')
check "a pod of orders exists" test -n "$pod"
check_eq "it knows its Service" orders "$(pod_env "$pod" BREAKWATER_SERVICE)"
check_eq "and namespace" "$ns" "$(pod_env "$pod" BREAKWATER_NAMESPACE)"
check_eq "it finds users through the registry env" "http://users.$ns.svc.cluster.local:8000" "$(pod_env "$pod" USERS_SERVICE_URL)"
check_eq "a missing dependency gets no URL" "" "$(pod_env "$pod" PAYMENTS_SERVICE_URL)"
check_eq "the registry file" /etc/breakwater/registry.json "$(pod_env "$pod" BREAKWATER_REGISTRY_FILE)"
check_eq "the breakers file" /etc/breakwater/breakers.json "$(pod_env "$pod" BREAKWATER_BREAKERS_FILE)"
check_eq "the registry ConfigMap is its volume" breakwater-registry \
	"$(get pod "$pod" -o jsonpath='{.spec.volumes[?(@.name=="breakwater-registry")].configMap.name}')"
check_eq "mounted read-only at /etc/breakwater/" "/etc/breakwater/ true" \
	"$(get pod "$pod" -o jsonpath='{.spec.containers[0].volumeMounts[?(@.name=="breakwater-registry")].mountPath} {.spec.containers[0].volumeMounts[?(@.name=="breakwater-registry")].readOnly}')"
check "it carries the injection annotation" bash -c \
	"'$state/bin/kubectl' -n $ns get pod $pod -o jsonpath='{.metadata.annotations.breakwater\.io/injected}' | grep -q ."
check_eq "each variable once" 1 "$(get pod "$pod" -o json | jq '[.spec.containers[0].env[] | select(.name=="USERS_SERVICE_URL")] | length')"

# --- the review memo: the pods of one ReplicaSet come as the same review
# but for its uid, and get the first one's answer while the inputs are the
# same; a dependency made in between is a new input, never a stale answer ---
memo_hits() {
	curl -sf "http://127.0.0.1:$op_metrics/metrics" |
		awk '/^breakwater_webhook_review_memo_total[{]outcome="hit"[}]/ { n = $2 } END { print n + 0 }'
}
memo_pods_are() { [ "$(get pods -l breakwater.io/service=memo -o name | wc -l)" = "$1" ]; }
late_urls() { # each memo pod's LATE_SERVICE_URL, "none" for none, sorted
	get pods -l breakwater.io/service=memo -o json | jq -r '[.items[] | .spec.containers[0].env // []
		| map(select(.name == "LATE_SERVICE_URL") | .value) | first // "none"] | sort | join(" ")'
}
cat <<EOF | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: memo}
spec: {image: "registry.local/shop/memo:1.0.0", dependsOn: [late]}
EOF
check "a pod of memo is made" eventually 30 memo_pods_are 1
check_eq "before late exists, it gets no LATE_SERVICE_URL" none "$(late_urls)"
cat <<EOF | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: late}
spec: {image: "registry.local/shop/late:1.0.0", port: 7000}
EOF
check "late is reconciled (so cached)" kubectl -n "$ns" wait --for=condition=Ready bsvc/late --timeout=60s
hits=$(memo_hits)
kubectl -n "$ns" patch bsvc memo --type merge -p '{"spec":{"replicas":3}}' >/dev/null
check "memo scales to 3 pods of one ReplicaSet" eventually 60 memo_pods_are 3
check_eq "the two made after late get its URL, not the first pod's answer" \
	"http://late.$ns.svc.cluster.local:7000 http://late.$ns.svc.cluster.local:7000 none" "$(late_urls)"
check "and one of them was answered from the memo" test "$(memo_hits)" -gt "$hits"

kubectl -n "$ns" run plain --image=registry.local/plain:1 --restart=Never >/dev/null
check_eq "a pod in a namespace not opted in is untouched" "" \
	"$(get pod plain -o jsonpath='{.metadata.annotations.breakwater\.io/injected}')"
kubectl label namespace "$ns" breakwater.io/inject=enabled >/dev/null
check "once the namespace opts in, a plain pod is injected" eventually 10 bash -c \
	"'$state/bin/kubectl' -n $ns run plain2-\$RANDOM --image=registry.local/plain:1 --restart=Never -o jsonpath='{.metadata.annotations.breakwater\.io/injected}' | grep -q ."
kubectl -n "$ns" run optout --image=registry.local/plain:1 --restart=Never -l breakwater.io/inject=disabled >/dev/null
check_eq "a pod labelled inject=disabled is untouched" "" \
	"$(get pod optout -o jsonpath='{.metadata.annotations.breakwater\.io/injected}')"

# --- certificates rotate during a stream of pod creations ---
rotations_before=$(grep -c "webhook serving a new certificate" "$op_log")
cas_before=$(grep -c "making a new webhook CA" "$op_log")
bundles=$work_bundles
failed=0
for i in $(seq 1 40); do
	kubectl get mutatingwebhookconfiguration "breakwater-$ns" \
		-o jsonpath='{.webhooks[0].clientConfig.caBundle}' >>"$bundles"
	echo >>"$bundles"
	got=$("$state/bin/kubectl" -n "$ns" run stream-$i --image=registry.local/plain:1 --restart=Never \
		-o jsonpath='{.metadata.annotations.breakwater\.io/injected}' 2>&1)
	[ -n "$got" ] || { failed=$((failed + 1)); echo "# stream-$i: $got"; }
	sleep 0.5
done
rotations=$(($(grep -c "webhook serving a new certificate" "$op_log") - rotations_before))
cas=$(($(grep -c "making a new webhook CA" "$op_log") - cas_before))
echo "# $rotations serving certificates and $cas CAs made during 40 pod creations"
check "the serving certificate rotated during the stream" test "$rotations" -ge 2
check "so did the CA" test "$cas" -ge 1
check "and the registrations' caBundle changed with it" test "$(sort -u "$bundles" | grep -c .)" -ge 2
check_eq "every pod of the stream was admitted and injected" 0 "$failed"

# --- a pod created while the webhook is down ---
stop_operator KILL
victim=$(get pods -l breakwater.io/service=orders -o jsonpath='{.items[0].metadata.name}')
kubectl -n "$ns" delete pod "$victim" --wait=false >/dev/null
check "with the webhook down, the ReplicaSet still makes a pod (failurePolicy Ignore)" eventually 30 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get pods -l breakwater.io/service=orders -o json | jq '[.items[] | select(.metadata.annotations[\"breakwater.io/injected\"] == null)] | length')\" -ge 1 ]"
start_operator "$ns" --webhook-cert-validity 3600 --repair-pods
check "the missed pod is reported in the Service's status" eventually 30 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get bsvc orders -o jsonpath='{.status.pods.stale}')\" -ge 1 ] || [ -n \"\$('$state/bin/kubectl' -n $ns get bsvc orders -o jsonpath='{.status.podsRestartedAt}')\" ]"
check "and in an Event" eventually 30 bash -c \
	"'$state/bin/kubectl' -n $ns get events --field-selector involvedObject.name=orders,reason=PodsNotInjected -o name | grep -q ."
check "--repair-pods restarts them until every pod is injected" eventually 60 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get bsvc orders -o jsonpath='{.status.pods.stale}/{.status.pods.configured}')\" = 0/2 ]"
check_eq "every pod of orders carries the injection" 0 \
	"$(get pods -l breakwater.io/service=orders -o json | jq '[.items[] | select(.metadata.deletionTimestamp == null and .metadata.annotations["breakwater.io/injected"] == null)] | length')"

# A dependency created later: the pods' injection is outdated (no
# PAYMENTS_SERVICE_URL); they count as stale and are restarted to get it.
cat <<EOF | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: payments}
spec: {image: "registry.local/shop/payments:1.0.0", port: 9000}
EOF
payments_urls() {
	kubectl -n "$ns" get pods -l breakwater.io/service=orders -o json | jq -r '[.items[]
		| select(.metadata.deletionTimestamp == null) | .spec.containers[0].env[]
		| select(.name == "PAYMENTS_SERVICE_URL") | .value] | unique | join(",")'
}
has_payments_url() {
	[ "$(payments_urls)" = "http://payments.$ns.svc.cluster.local:9000" ] &&
		[ "$(get pods -l breakwater.io/service=orders -o json | jq '[.items[] | select(.metadata.deletionTimestamp == null)] | length')" = 2 ]
}
check "pods injected before a dependency existed are restarted to get its URL" eventually 90 has_payments_url
check "and then none is stale" eventually 60 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get bsvc orders -o jsonpath='{.status.pods.stale}/{.status.pods.configured}')\" = 0/2 ]"
if ! has_payments_url; then # what the operator saw, for the log
	echo "# orders status: $(get bsvc orders -o jsonpath='{.status.pods} {.status.podsRestartedAt}')"
	get events --field-selector involvedObject.name=orders | sed 's/^/# /'
	get pods -l breakwater.io/service=orders -o json |
		jq -r '.items[] | "# \(.metadata.name) \(.metadata.annotations["breakwater.io/injected"])"'
fi

check "admission metrics are served" bash -c \
	"curl -sf http://127.0.0.1:$op_metrics/metrics | grep -q 'breakwater_webhook_requests_total{endpoint=\"mutate-pods\",result=\"patched\"}'"
stop_operator
check_eq "SIGTERM stops the operator cleanly" 0 "$?"
check "a stopped out-of-cluster operator removes its registrations" bash -c \
	"! '$state/bin/kubectl' get mutatingwebhookconfiguration breakwater-$ns 2>/dev/null"
check_operator_log
