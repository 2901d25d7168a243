#!/usr/bin/env bash
# The control plane's lifecycle: `up` is idempotent, `down` stops exactly the
# processes `up` started and leaves none behind, a warm `up` takes seconds and
# keeps the data, and a restarted API server is usable again.
. "$(dirname "$0")/../lib.sh"
cluster=$top/tests/cluster/cluster.sh

out=$("$cluster" up 2>&1)
rc=$?
check_eq "a second 'up' while running exits 0" 0 "$rc"
check "a second 'up' says it is already running" grep -q 'already running' <<<"$out"

kubectl create configmap bw-restart-marker-$$ -n default --from-literal=kept=yes >/dev/null
pids=$(cat "$state"/run/*.pid)

check "'down' succeeds" "$cluster" down
left=""
for pid in $pids; do
	# zombies (exited, not yet reaped) do not count
	ps -o stat= -g "$pid" 2>/dev/null | grep -qv '^Z' && left+=" $pid"
done
check_eq "no process started by 'up' is left" "" "$left"
# "[x]yz" matches "xyz" but not the pgrep command line that holds the pattern.
check "no process names the state folder any more" bash -c "! pgrep -f -- '[${state:0:1}]${state:1}/' >/dev/null"
check "'status' reports stopped with exit 1" bash -c "! '$cluster' status >/dev/null"

start=$SECONDS
check "a warm 'up' succeeds" "$cluster" up
took=$((SECONDS - start))
echo "# warm up took ${took}s"
check "a warm 'up' takes under 60s" test "$took" -lt 60
check_eq "data survives down and up" yes \
	"$(kubectl get configmap bw-restart-marker-$$ -n default -o jsonpath='{.data.kept}')"

check "the API server restarts" "$cluster" restart kube-apiserver
check "kubectl works after the API server restart" eventually 60 kubectl get configmap bw-restart-marker-$$ -n default
kubectl delete configmap bw-restart-marker-$$ -n default >/dev/null
check "every component still runs" "$cluster" status
