#!/usr/bin/env bash
# Killing the operator (SIGKILL) in the middle of a rollout loses nothing: a
# restarted operator converges to the same state, with nothing duplicated.
# Also: a second operator with leader election waits while the first leads.
. "$(dirname "$0")/../lib.sh"

install_crds || { not_ok "the CRDs are installed"; exit 1; }
use_namespace crash
trap cleanup_operator EXIT
start_operator "$ns"

get() { kubectl -n "$ns" get "$@" 2>/dev/null; }

cat <<EOF | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: orders}
spec:
  image: registry.local/shop/orders:1.0.0
  replicas: 8
  rollout: {maxSurge: 1, maxUnavailable: 0}
EOF
check "the Service becomes Ready" kubectl -n "$ns" wait --for=condition=Ready bsvc/orders --timeout=60s

kubectl -n "$ns" patch bsvc orders --type=merge -p '{"spec":{"image":"registry.local/shop/orders:1.1.0"}}' >/dev/null
check "the rollout starts" eventually 20 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get deployment orders -o jsonpath='{.spec.template.spec.containers[0].image}')\" = registry.local/shop/orders:1.1.0 ]"
updated=$(get deployment orders -o jsonpath='{.status.updatedReplicas}')
stop_operator KILL
echo "# killed with ${updated:-0} of 8 replicas updated"
check_operator_log

start_operator "$ns"
check "a restarted operator brings the rollout to Ready" kubectl -n "$ns" wait --for=condition=Ready bsvc/orders --timeout=90s
gen=$(get bsvc orders -o jsonpath='{.metadata.generation}')
check_eq "at the current generation" "$gen" \
	"$(get bsvc orders -o jsonpath='{.status.conditions[?(@.type=="Ready")].observedGeneration}')"
check_eq "status.image is the new image" registry.local/shop/orders:1.1.0 "$(get bsvc orders -o jsonpath='{.status.image}')"
check_eq "lastGoodImage the old one" registry.local/shop/orders:1.0.0 "$(get bsvc orders -o jsonpath='{.status.lastGoodImage}')"
check_eq "one Deployment" 1 "$(get deployments -l breakwater.io/service=orders -o name | wc -l)"
check_eq "one ClusterIP Service" 1 "$(get services -l breakwater.io/service=orders -o name | wc -l)"
check_eq "two ReplicaSets: the old, scaled to 0, and the new" "0 8" \
	"$(get replicasets -l breakwater.io/service=orders -o jsonpath='{range .items[*]}{.spec.replicas}{"\n"}{end}' | sort -n | xargs)"
# the old ReplicaSet's last pods may still be terminating: not counted
check_eq "8 pods, all of the new image" "8 registry.local/shop/orders:1.1.0" \
	"$(get pods -l breakwater.io/service=orders -o json | jq -r '.items[] | select(.metadata.deletionTimestamp == null) | .spec.containers[0].image' | sort | uniq -c | xargs)"
check_eq "one registry ConfigMap" 1 "$(get configmaps --field-selector metadata.name=breakwater-registry -o name | wc -l)"

# Two operators with leader election: one leads, the other waits; when the
# leader stops, the other takes over and keeps reconciling.
stop_operator
lease_ns=$ns
start_operator "$ns" --leader-elect --leader-election-namespace "$lease_ns" --leader-election-id crash-test
first_pid=$op_pid first_log=$op_log first_metrics=$op_metrics
check "the first operator leads" eventually 20 bash -c \
	"curl -sf http://127.0.0.1:$first_metrics/metrics | grep -q '^leader_election_master_status 1'"
start_operator "$ns" --leader-elect --leader-election-namespace "$lease_ns" --leader-election-id crash-test
# not vacuous: the second has read the lease and found it held
check "the second finds the lease held" eventually 20 grep -q "lease $lease_ns/crash-test is held by" "$op_log"
check "and waits" bash -c "curl -sf http://127.0.0.1:$op_metrics/metrics | grep -q '^leader_election_master_status 0'"
kill -TERM "$first_pid"
wait "$first_pid"
check_eq "the first exits cleanly on SIGTERM" 0 "$?"
check "the second takes over at once (the lease was released)" eventually 8 bash -c \
	"curl -sf http://127.0.0.1:$op_metrics/metrics | grep -q '^leader_election_master_status 1'"
kubectl -n "$ns" scale bsvc/orders --replicas=3 >/dev/null
check "and reconciles" eventually 30 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get deployment orders -o jsonpath='{.spec.replicas}')\" = 3 ]"
# A restarted API server is survived: the watches resume and work goes on.
# By an operator without leader election: a leader whose API server is away
# longer than its renew deadline (10 s, which a restart on a busy machine can
# take) must give the lease up and exit at once (lib/leader.h).
stop_operator
check_eq "the leader stops cleanly" 0 "$?"
check_operator_log
second_log=$op_log
start_operator "$ns"
check "the API server restarts under the running operator" "$top/tests/cluster/cluster.sh" restart kube-apiserver
check "kubectl is served again" eventually 60 kubectl -n "$ns" get bsvc orders
kubectl -n "$ns" scale bsvc/orders --replicas=2 >/dev/null
check "the operator still reconciles after the restart" eventually 60 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get deployment orders -o jsonpath='{.status.availableReplicas}')\" = 2 ]"
check "and its status follows" eventually 30 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get bsvc orders -o jsonpath='{.status.readyReplicas}')\" = 2 ]"
check "the operator process is still the same" kill -0 "$op_pid"
stop_operator
check_eq "SIGTERM stops it cleanly" 0 "$?"
check_operator_log
op_log=$first_log
check_operator_log
op_log=$second_log
check_operator_log
