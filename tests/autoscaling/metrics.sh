#!/usr/bin/env bash
# spec.autoscaling and spec.disruptionBudget (issue 11, item 4), end to end on
# the local control plane with metrics.k8s.io from metrics-server
# (tests/cluster/cluster.sh metrics: built from its Go module, scraping kwok's
# emulated resource usage, registered with the aggregation layer).
#
# A Service with autoscaling min 1 max 4 on 50% CPU and a disruption budget
# gets an HPA and a PDB it controls; the HPA targets the breakwater Service's
# scale subresource. Pods' usage is kwok's emulation, read from each pod's
# annotation kwok.x-k8s.io/usage-cpu (tests/cluster/kwok.yaml), which a loop
# here keeps on every pod of the Service: high (400m of a 100m request), the
# HPA raises the Service's spec.replicas through /scale to 4, the operator
# scales the Deployment, kwok runs 4 pods; low (1m), back to 1. The
# Deployment's replicas keep one manager (breakwater): nobody fights over
# them. The HPA's scale-down stabilization is shortened by the Service's own
# spec.autoscaling.behavior (no cluster flag); the test cluster's
# kube-controller-manager syncs HPAs every 5 s instead of 15 s. Edits,
# removal and foreign objects are tests/e2e/autoscaling.sh's.
. "$(dirname "$0")/../lib.sh"

install_crds || { not_ok "the CRDs are installed"; exit 1; }
mkdir -p "$top/build/test-logs"
if ! BREAKWATER_CLUSTER_DIR=$state "$top/tests/cluster/cluster.sh" metrics >"$top/build/test-logs/metrics-server-up.log" 2>&1; then
	not_ok "metrics-server runs and metrics.k8s.io is Available" "$(tail -n 15 "$top/build/test-logs/metrics-server-up.log")"
	exit 1
fi
ok "metrics-server runs and metrics.k8s.io is Available"
use_namespace hpa
load_pid=
usage_file=$(mktemp)
# The metrics API goes with the test: the e2e scripts (autoscaling.sh) run
# without one, on a cluster kept between runs too. metrics-server keeps
# running (stopped with the cluster); cluster.sh metrics registers it again.
cleanup() {
	[ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null
	rm -f "$usage_file"
	kubectl delete apiservice v1beta1.metrics.k8s.io --ignore-not-found >/dev/null 2>&1
	cleanup_operator
}
trap cleanup EXIT
start_operator "$ns"
t0=$SECONDS

get() { kubectl -n "$ns" get "$@" 2>/dev/null; }
jp() { get "$1" "$2" -o jsonpath="$3"; }
kubectl -n "$ns" apply -f - >/dev/null <<'EOF'
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: web}
spec:
  image: registry.local/shop/web:1.0.0
  port: 8000
  resources: {requests: {cpu: 100m, memory: 64Mi}}
  autoscaling:
    minReplicas: 1
    maxReplicas: 4
    metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
    behavior:
      scaleUp: {stabilizationWindowSeconds: 0}
      scaleDown:
        stabilizationWindowSeconds: 0
        policies: [{type: Percent, value: 100, periodSeconds: 5}]
  disruptionBudget: {maxUnavailable: 1}
EOF

check "the Service becomes Ready" kubectl -n "$ns" wait --for=condition=Ready bsvc/web --timeout=60s
check "its HPA is written" eventually 30 get hpa web
check_eq "the HPA targets the breakwater Service's scale subresource, not the Deployment" \
	"breakwater.io/v1alpha1 Service web" \
	"$(jp hpa web '{.spec.scaleTargetRef.apiVersion} {.spec.scaleTargetRef.kind} {.spec.scaleTargetRef.name}')"
check_eq "the HPA is controlled by the Service" "Service web true" \
	"$(jp hpa web '{.metadata.ownerReferences[0].kind} {.metadata.ownerReferences[0].name} {.metadata.ownerReferences[0].controller}')"
check_eq "min, max and the CPU target" "1 4 50" \
	"$(jp hpa web '{.spec.minReplicas} {.spec.maxReplicas} {.spec.metrics[0].resource.target.averageUtilization}')"
check_eq "its PDB selects the Service's pods" "web 1 Service" \
	"$(jp pdb web '{.spec.selector.matchLabels.breakwater\.io/service} {.spec.maxUnavailable} {.metadata.ownerReferences[0].kind}')"

# The load: every pod of the Service, new ones too, uses what the file says.
echo 400m >"$usage_file"
(
	while :; do
		kubectl -n "$ns" annotate pods -l breakwater.io/service=web --overwrite \
			"kwok.x-k8s.io/usage-cpu=$(cat "$usage_file")" >/dev/null 2>&1
		sleep 2
	done
) &
load_pid=$!

# What each link of the metrics path says, for a run where they never
# arrive: the pods and their nodes, metrics.k8s.io's answer, kwok's scrape
# page, the HPA's conditions and metrics-server's log.
metrics_diagnosis() {
	echo "# pods:"
	kubectl -n "$ns" get pods -o wide 2>&1 | sed 's/^/#   /'
	kubectl -n "$ns" get pods -o jsonpath='{range .items[*]}{.metadata.name} {.status.phase} {.status.conditions[?(@.type=="Ready")].status} {.metadata.annotations.kwok\.x-k8s\.io/usage-cpu} start={.status.startTime}{"\n"}{end}' 2>&1 | sed 's/^/#   /'
	echo "# nodes:"
	kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name} Ready={.status.conditions[?(@.type=="Ready")].status} heartbeat={.status.conditions[?(@.type=="Ready")].lastHeartbeatTime} since={.status.conditions[?(@.type=="Ready")].lastTransitionTime} taints={.spec.taints}{"\n"}{end}' 2>&1 | sed 's/^/#   /'
	echo "# metrics.k8s.io pods of $ns:"
	kubectl get --raw "/apis/metrics.k8s.io/v1beta1/namespaces/$ns/pods" 2>&1 | head -c 1500 | sed 's/^/#   /'
	echo
	echo "# apiservice: $(kubectl get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.status.conditions[0].status} {.status.conditions[0].reason} {.status.conditions[0].message}' 2>&1)"
	local node KWOK_PORT
	KWOK_PORT=$(sed -n 's/^KWOK_PORT=//p' "$state/run/ports.env")
	for node in $(kubectl -n "$ns" get pods -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' 2>/dev/null | sort -u); do
		echo "# kwok's resource metrics of $node (pod lines):"
		curl -sk --max-time 5 "https://127.0.0.1:$KWOK_PORT/metrics/nodes/$node/metrics/resource" 2>&1 | grep -E "^(pod_cpu|scrape_error|container_start)" | grep -E "scrape_error|$ns" | head -8 | sed 's/^/#   /'
	done
	echo "# HPA:"
	kubectl -n "$ns" describe hpa web 2>&1 | sed -n '/^Conditions:/,$p' | sed 's/^/#   /'
	echo "# metrics-server log (last 15 lines):"
	tail -n 15 "$state/logs/metrics-server.log" 2>&1 | sed 's/^/#   /'
}
# the CPU utilization the HPA last read, empty while it has none
hpa_utilization() { jp hpa web '{.status.currentMetrics[0].resource.current.averageUtilization}'; }
hpa_has_metrics() { [ -n "$(hpa_utilization)" ]; }
check "pod metrics reach the HPA (metrics-server, through the aggregation layer)" eventually 60 hpa_has_metrics
hpa_has_metrics || metrics_diagnosis
check "high usage: the HPA raises the Service's spec.replicas to 4 through /scale" eventually 90 \
	bash -c "[ \"\$('$state/bin/kubectl' -n $ns get bsvc web -o jsonpath='{.spec.replicas}')\" = 4 ]"
check "the operator scales the Deployment and kwok runs 4 ready pods" eventually 60 \
	bash -c "[ \"\$('$state/bin/kubectl' -n $ns get deploy web -o jsonpath='{.spec.replicas} {.status.readyReplicas}')\" = '4 4' ]"
# the operator writes the Service's status after its watch saw the
# Deployment's: a moment after the line above
service_ready_replicas_are() { [ "$(jp bsvc web '{.status.readyReplicas}')" = "$1" ]; }
check "the Service's status follows (readyReplicas 4)" eventually 30 service_ready_replicas_are 4
check "the Service is Ready at 4" kubectl -n "$ns" wait --for=condition=Ready bsvc/web --timeout=30s
echo "# scaled up after $((SECONDS - t0))s"
# 400m of a 100m request is 400% against a 50% target: 8 replicas wanted,
# capped at maxReplicas 4. The HPA's status shows the metric as read.
util=$(hpa_utilization)
echo "# HPA current CPU utilization: ${util}%"
check "the HPA's status shows the high utilization (kwok's 400m of 100m: 300% or more)" \
	test "${util:-0}" -ge 300
check_eq "the HPA computed 4 (8 wanted, capped by maxReplicas)" 4 "$(jp hpa web '{.status.desiredReplicas}')"
# currentReplicas is the /scale status as of the HPA's last sync (every 5 s)
check "the HPA's next sync reads 4 current replicas from /scale" eventually 20 \
	bash -c "[ \"\$('$state/bin/kubectl' -n $ns get hpa web -o jsonpath='{.status.currentReplicas}')\" = 4 ]"
check_eq "the HPA says it is limited by maxReplicas" "True TooManyReplicas" \
	"$(jp hpa web '{.status.conditions[?(@.type=="ScalingLimited")].status} {.status.conditions[?(@.type=="ScalingLimited")].reason}')"
# No fight: for 10 s the Deployment's replicas stay what the HPA set, and
# its spec is not rewritten (metadata.generation unchanged).
gen0=$(jp deploy web '{.metadata.generation}')
samples=
for _ in 1 2 3 4 5 6 7 8 9 10; do
	samples+="$(jp deploy web '{.spec.replicas}')/$(jp bsvc web '{.spec.replicas}') "
	sleep 1
done
check_eq "10 s sampled: the Deployment and the Service stay at 4 (deploy/bsvc)" \
	"4/4 4/4 4/4 4/4 4/4 4/4 4/4 4/4 4/4 4/4 " "$samples"
check_eq "the Deployment's spec is not rewritten meanwhile (generation)" "$gen0" \
	"$(jp deploy web '{.metadata.generation}')"
check_eq "the HPA wrote spec.replicas through the scale subresource" scale \
	"$(get bsvc web --show-managed-fields -o json | jq -r '[.metadata.managedFields[] | select(.fieldsV1["f:spec"]["f:replicas"] != null) | .subresource // empty] | first // ""')"
check_eq "the Deployment's replicas have one manager, breakwater (no fight)" breakwater \
	"$(get deploy web --show-managed-fields -o json | jq -r '[.metadata.managedFields[] | select(.fieldsV1["f:spec"]["f:replicas"] != null) | .manager] | join(",")')"

echo 1m >"$usage_file"
t1=$SECONDS
check "low usage: back to 1 replica" eventually 90 \
	bash -c "[ \"\$('$state/bin/kubectl' -n $ns get bsvc web -o jsonpath='{.spec.replicas}')\" = 1 ]"
check "the Deployment follows" eventually 60 \
	bash -c "[ \"\$('$state/bin/kubectl' -n $ns get deploy web -o jsonpath='{.spec.replicas} {.status.readyReplicas}')\" = '1 1' ]"
check "the Service is Ready at 1" kubectl -n "$ns" wait --for=condition=Ready bsvc/web --timeout=30s
check_eq "the Service's status follows" 1 "$(jp bsvc web '{.status.readyReplicas}')"
echo "# scaled down after $((SECONDS - t1))s"
util=$(hpa_utilization)
echo "# HPA current CPU utilization: ${util}%"
check "the HPA's status shows the low utilization (1m of 100m: under 10%)" test "${util:-100}" -lt 10
check_eq "the HPA wants minReplicas" 1 "$(jp hpa web '{.status.desiredReplicas}')"
kill "$load_pid" 2>/dev/null
load_pid=

# Editing and removing the fields, and foreign HPAs and PDBs, are checked by
# tests/e2e/autoscaling.sh (in `make test`): here only what needs metrics.

echo "# run time $((SECONDS - t0))s"
stop_operator
check_operator_log
