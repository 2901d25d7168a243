#!/usr/bin/env bash
# The Service controller end to end: a Service becomes Ready with its owned
# Deployment, Service and Ingress; an image edit rolls out (Ready goes False,
# then True at the new generation; status.image follows only at the end);
# kubectl scale and a spec.replicas edit reach the Deployment and status;
# drift in owned fields is put back and foreign fields are left alone;
# deleting the Service removes what it owned and its registry entry.
. "$(dirname "$0")/../lib.sh"

install_crds || { not_ok "the CRDs are installed"; exit 1; }
use_namespace svc
trap cleanup_operator EXIT
start_operator "$ns"
check "the operator becomes ready" curl -sf "http://127.0.0.1:$op_health/readyz"

get() { kubectl -n "$ns" get "$@" 2>/dev/null; }
cond() { get bsvc "$1" -o jsonpath="{.status.conditions[?(@.type==\"$2\")].$3}"; }

cat <<EOF | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: web}
spec:
  image: registry.local/shop/web:1.0.0
  replicas: 2
  port: 8000
  healthCheck: {path: /health/}
  env: [{name: MODE, value: test}]
  route: {pathPrefix: /api/web/}
EOF
check "a new Service becomes Ready" kubectl -n "$ns" wait --for=condition=Ready bsvc/web --timeout=60s
check_eq "status.image is the image" registry.local/shop/web:1.0.0 "$(get bsvc web -o jsonpath='{.status.image}')"
check_eq "status counts the replicas" "2 2 2" \
	"$(get bsvc web -o jsonpath='{.status.replicas} {.status.readyReplicas} {.status.availableReplicas}')"
check_eq "status.selector is set" "breakwater.io/service=web" "$(get bsvc web -o jsonpath='{.status.selector}')"
check_eq "status.url is set" "http://web.$ns.svc.cluster.local:8000" "$(get bsvc web -o jsonpath='{.status.url}')"
check_eq "Ready carries the generation" "$(get bsvc web -o jsonpath='{.metadata.generation}')" "$(cond web Ready observedGeneration)"

dep=$(get deployment web -o json)
check_eq "the Deployment runs the image" registry.local/shop/web:1.0.0 "$(jq -r '.spec.template.spec.containers[0].image' <<<"$dep")"
check_eq "with the replicas" 2 "$(jq -r .spec.replicas <<<"$dep")"
check_eq "with the readiness probe" /health/ "$(jq -r '.spec.template.spec.containers[0].readinessProbe.httpGet.path' <<<"$dep")"
check_eq "with the env" test "$(jq -r '.spec.template.spec.containers[0].env[] | select(.name=="MODE") | .value' <<<"$dep")"
check_eq "its pod template is labelled" web "$(jq -r '.spec.template.metadata.labels["breakwater.io/service"]' <<<"$dep")"
check_eq "it is owned by the Service" "Service web true" \
	"$(jq -r '.metadata.ownerReferences[0] | "\(.kind) \(.name) \(.controller)"' <<<"$dep")"
check_eq "the ClusterIP Service serves the port" 8000 "$(get service web -o jsonpath='{.spec.ports[0].port}')"
check_eq "the Ingress routes the prefix" /api/web/ "$(get ingress web -o jsonpath='{.spec.rules[0].http.paths[0].path}')"
# the registry is rebuilt at most once a second after a change: it may
# follow Ready by that much
check "the registry lists the Service, its 2 replicas ready" eventually 30 bash -c \
	"'$state/bin/kubectl' -n $ns get configmap breakwater-registry -o jsonpath='{.data.registry\\.json}' | jq -e '.services.web | .url == \"http://web.$ns.svc.cluster.local:8000\" and .readyReplicas == 2' >/dev/null"

# --- an image rollout ---
gen_before=$(get bsvc web -o jsonpath='{.metadata.generation}')
# Every version of the object, through a watch: nothing is missed.
snapshots=$top/build/test-logs/snapshots-$$.json
"$state/bin/kubectl" -n "$ns" get bsvc web -w -o json >"$snapshots" 2>/dev/null &
sampler=$!
# the watch has listed (the object as it is now is its first output)
check "a watch of the Service is open" eventually 15 test -s "$snapshots"
kubectl -n "$ns" patch bsvc web --type=merge -p '{"spec":{"image":"registry.local/shop/web:1.1.0"}}' >/dev/null
gen=$(get bsvc web -o jsonpath='{.metadata.generation}')
check "editing the image bumps the generation" test "$gen" -gt "$gen_before"
check "kubectl wait returns when the rollout is done" kubectl -n "$ns" wait --for=condition=Ready bsvc/web --timeout=60s
sleep 1
kill $sampler 2>/dev/null
wait $sampler 2>/dev/null
versions=$(jq -c '{g: .metadata.generation, image: .status.image,
	ready: (.status.conditions // [] | map(select(.type=="Ready"))[0] | {status, observedGeneration})}' "$snapshots")
check_eq "Ready is True at the new generation" "True $gen" "$(cond web Ready status) $(cond web Ready observedGeneration)"
check_eq "the Deployment has the new image" registry.local/shop/web:1.1.0 \
	"$(get deployment web -o jsonpath='{.spec.template.spec.containers[0].image}')"
check_eq "status.image follows" registry.local/shop/web:1.1.0 "$(get bsvc web -o jsonpath='{.status.image}')"
check_eq "one image edit is one change of the Deployment (generation 2)" 2 \
	"$(get deployment web -o jsonpath='{.metadata.generation}')"
check_eq "status.lastGoodImage keeps the previous one" registry.local/shop/web:1.0.0 \
	"$(get bsvc web -o jsonpath='{.status.lastGoodImage}')"
check "Ready went False at the new generation during the rollout" \
	grep -q "\"ready\":{\"status\":\"False\",\"observedGeneration\":$gen}" <<<"$versions"
# whenever status.image showed the new image, Ready was True for the new generation
early=$(jq -c "select(.image == \"registry.local/shop/web:1.1.0\" and .ready.status != \"True\")" <<<"$versions" | head -1)
check_eq "status.image changed only when the rollout was complete" "" "$early"
# events are sent by the recorder's own thread, not ordered with the status
check "a RolloutStarted event names the image" eventually 15 bash -c \
	"'$state/bin/kubectl' -n $ns get events --field-selector involvedObject.name=web,reason=RolloutStarted -o jsonpath='{.items[*].message}' | grep -q 1.1.0"
check "a RolloutCompleted event is recorded" eventually 15 bash -c \
	"'$state/bin/kubectl' -n $ns get events --field-selector involvedObject.name=web,reason=RolloutCompleted -o name | grep -q ."

# --- scaling ---
kubectl -n "$ns" scale bsvc/web --replicas=4 >/dev/null
check "kubectl scale reaches the Deployment" eventually 30 \
	bash -c "[ \"\$('$state/bin/kubectl' -n $ns get deployment web -o jsonpath='{.spec.replicas}')\" = 4 ]"
check "and the status" eventually 30 \
	bash -c "[ \"\$('$state/bin/kubectl' -n $ns get bsvc web -o jsonpath='{.status.availableReplicas}')\" = 4 ]"
kubectl -n "$ns" patch bsvc web --type=merge -p '{"spec":{"replicas":1}}' >/dev/null
check "a spec.replicas edit reaches the Deployment" eventually 30 \
	bash -c "[ \"\$('$state/bin/kubectl' -n $ns get deployment web -o jsonpath='{.spec.replicas}')\" = 1 ]"
check "and the status" eventually 30 \
	bash -c "[ \"\$('$state/bin/kubectl' -n $ns get bsvc web -o jsonpath='{.status.replicas}')\" = 1 ]"
check "the Service is Ready again after scaling" kubectl -n "$ns" wait --for=condition=Ready bsvc/web --timeout=30s

# --- drift ---
kubectl -n "$ns" set image deployment/web app=registry.local/intruder:6.6.6 >/dev/null
kubectl -n "$ns" annotate deployment web example.com/owner=team-a >/dev/null
check "a changed image on the Deployment is put back" eventually 30 \
	bash -c "[ \"\$('$state/bin/kubectl' -n $ns get deployment web -o jsonpath='{.spec.template.spec.containers[0].image}')\" = registry.local/shop/web:1.1.0 ]"
check_eq "a field breakwater does not own is left alone" team-a \
	"$(get deployment web -o jsonpath='{.metadata.annotations.example\.com/owner}')"

# --- a route removed ---
kubectl -n "$ns" patch bsvc web --type=json -p '[{"op":"remove","path":"/spec/route"}]' >/dev/null
check "removing the route deletes the Ingress" eventually 30 bash -c "! '$state/bin/kubectl' -n $ns get ingress web 2>/dev/null"

# --- no hot loop: with nothing changing, nothing is written ---
# First the drift's rollout ends (the controller-manager writes the
# Deployment's status meanwhile, the operator the Service's counts, held up
# to 2 s): settled is two readings 3 s apart that agree, which a hot loop
# would never give.
versions_of() { get bsvc web -o jsonpath='{.metadata.resourceVersion}'; get deployment web -o jsonpath='{.metadata.resourceVersion}'; }
settled() {
	local before
	before=$(versions_of)
	sleep 3
	[ "$before" = "$(versions_of)" ]
}
check "the Service and its Deployment settle" eventually 60 settled
rv1=$(get bsvc web -o jsonpath='{.metadata.resourceVersion}')
d1=$(get deployment web -o jsonpath='{.metadata.resourceVersion}')
sleep 3
check_eq "a settled Service is not written again" "$rv1" "$(get bsvc web -o jsonpath='{.metadata.resourceVersion}')"
check_eq "a settled Deployment is not written again" "$d1" "$(get deployment web -o jsonpath='{.metadata.resourceVersion}')"

# --- deletion ---
kubectl -n "$ns" delete bsvc web --wait=true --timeout=30s >/dev/null
check "deleting the Service removes its Deployment" eventually 30 bash -c "! '$state/bin/kubectl' -n $ns get deployment web 2>/dev/null"
check "and its ClusterIP Service" eventually 30 bash -c "! '$state/bin/kubectl' -n $ns get service web 2>/dev/null"
check "and the registry of an empty namespace" eventually 30 \
	bash -c "! '$state/bin/kubectl' -n $ns get configmap breakwater-registry 2>/dev/null"

check "metrics are served with controller-runtime's names" bash -c \
	"curl -sf http://127.0.0.1:$op_metrics/metrics | grep -q 'controller_runtime_reconcile_total{controller=\"service\",result=\"success\"}'"
check "work-queue metrics are served" bash -c \
	"curl -sf http://127.0.0.1:$op_metrics/metrics | grep -q '^workqueue_depth{name=\"service\"}'"
check "watch metrics are served" bash -c \
	"curl -sf http://127.0.0.1:$op_metrics/metrics | grep -q '^breakwater_watch_relists_total{resource=\"pods\"} [1-9]'"
check "the work-queue histograms end in +Inf" bash -c \
	"curl -sf http://127.0.0.1:$op_metrics/metrics | grep -q '^workqueue_work_duration_seconds_bucket{name=\"service\",le=\"+Inf\"} [1-9]'"
check "/metrics has one HELP and one TYPE per metric, before its samples" bash -c \
	"curl -sf http://127.0.0.1:$op_metrics/metrics | awk -f '$top/tests/exposition.awk'"
stop_operator
check_eq "SIGTERM stops the operator cleanly" 0 "$?"
check_operator_log
