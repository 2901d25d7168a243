#!/usr/bin/env bash
# The fake nodes stay healthy the way real ones do: kwok holds a Lease for
# each in kube-node-lease and renews it, so a node that keeps changing does
# not go NotReady. Without the Lease, each change to a Node put kwok's next
# Ready heartbeat off by 20-45 s again (tests/cluster/kwok.yaml), past the
# node lifecycle controller's 50 s grace: the node went NotReady and its
# pods lost Ready for good, which once failed tests/autoscaling/metrics.sh
# in CI right after `cluster.sh metrics` patched the nodes. And kwok plays a
# node only while it holds its Lease: a restarted kwok (a new identity) must
# not wait for the old process's Leases to expire before it readies pods.
. "$(dirname "$0")/../lib.sh"

nodes=$(kubectl get nodes -l type=kwok -o jsonpath='{.items[*].metadata.name}')
check "there are fake nodes" test -n "$nodes"
leases=
for n in $nodes; do
	leases+="$(kubectl -n kube-node-lease get lease "$n" -o jsonpath='{.spec.leaseDurationSeconds}' 2>/dev/null) "
done
check_eq "each fake node has a Lease of 40 s in kube-node-lease" "$(for n in $nodes; do printf '40 '; done)" "$leases"

node=${nodes%% *}
renewed() { kubectl -n kube-node-lease get lease "$node" -o jsonpath='{.spec.renewTime}'; }
renewed_since() { [ "$(renewed)" != "$1" ]; }
check "kwok renews it (every 10 s)" eventually 20 renewed_since "$(renewed)"

# A change every 10 s for 70 s: longer than the grace period, and each
# change is sooner than kwok's next heartbeat would have been.
t0=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ready=
for i in 1 2 3 4 5 6 7; do
	kubectl annotate node "$node" --overwrite "breakwater.io/test-touch=$i" >/dev/null
	sleep 10
	ready+="$(kubectl get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') "
done
kubectl annotate node "$node" breakwater.io/test-touch- >/dev/null
check_eq "a node changed every 10 s for 70 s stays Ready" "True True True True True True True " "$ready"
since=$(kubectl get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].lastTransitionTime}')
check "its Ready condition did not change meanwhile (last transition $since, before $t0)" \
	test "$since" \< "$t0"

# A restart: the old process's Leases are not in the new one's way.
use_namespace nodes
check "kwok restarts" "$top/tests/cluster/cluster.sh" restart kwok
kubectl -n "$ns" run probe --image=registry.local/probe:1 --restart=Never >/dev/null
check "right after, a new pod becomes Ready within 25 s (the old Leases expire only 40 s after their last renewal)" \
	kubectl -n "$ns" wait --for=condition=Ready pod/probe --timeout=25s

# Many nodes at once, as bench/scale.sh adds them (81 for 10,000 Services):
# `cluster.sh nodes` returns once all are Ready. Its readiness wait was a
# `kubectl wait --all` with a 2 s timeout that, node after node under
# kubectl's client-side rate limit, could not finish past about 40 nodes.
have=$(kubectl get nodes -l type=kwok -o name | wc -l)
many=$((have + 45))
check "cluster.sh nodes grows the cluster to $many fake nodes and returns when they are Ready" \
	env BREAKWATER_NODES=$many "$top/tests/cluster/cluster.sh" nodes
check_eq "all $many are Ready" "$many" \
	"$(kubectl get nodes -l type=kwok -o json | jq '[.items[] | select(any(.status.conditions[]; .type == "Ready" and .status == "True"))] | length')"
extra=$(for ((i = have; i < many; i++)); do printf 'kwok-node-%d ' "$i"; done)
# shellcheck disable=SC2086 # one name per word
kubectl delete node $extra --wait=true >/dev/null
# shellcheck disable=SC2086
kubectl -n kube-node-lease delete lease $extra --ignore-not-found >/dev/null
check_eq "the extra nodes are gone again" "$have" "$(kubectl get nodes -l type=kwok -o name | wc -l)"
