#!/usr/bin/env bash
# Needs a running local control plane (make cluster-up) and bin/breakwater.
# RSS of the operator (release build) on a namespace with N ConfigMaps and N Secrets of 1 KiB each.
cd "$(dirname "$0")/.."
. tests/lib.sh
N=${N:-2000}
ns=bw-memtest-$$
kubectl create namespace $ns >/dev/null
trap 'kill $pid 2>/dev/null; kubectl delete namespace $ns --wait=false >/dev/null 2>&1' EXIT
rss() { awk '/VmRSS/ {print $2}' /proc/$1/status; }
run_op() {
	take_port h; take_port m; take_port w
	./bin/breakwater --kubeconfig "$KUBECONFIG" --namespace $ns --health-probe-bind-address 127.0.0.1:$h \
		--metrics-bind-address 127.0.0.1:$m --webhook-port $w --log-level warn >build/config-memory-op.log 2>&1 &
	pid=$!
	eventually 60 curl -sf http://127.0.0.1:$h/readyz
	sleep 5
}
run_op; echo "empty namespace: RSS $(rss $pid) KiB"; kill $pid; wait $pid 2>/dev/null
data=$(head -c 768 /dev/urandom | base64 -w0)
python3 - "$N" "$data" > build/config-memory-objs.json <<'PY'
import json,sys
n=int(sys.argv[1]); d=sys.argv[2]
items=[]
for i in range(n):
    items.append({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-%d"%i},"data":{"k":d}})
    items.append({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s-%d"%i},"data":{"k":__import__('base64').b64encode(d.encode()).decode()}})
print(json.dumps({"apiVersion":"v1","kind":"List","items":items}))
PY
kubectl -n $ns create -f build/config-memory-objs.json >/dev/null
echo "created $N ConfigMaps and $N Secrets of ~1 KiB"
run_op; echo "with them: RSS $(rss $pid) KiB, VmHWM $(awk '/VmHWM/ {print $2}' /proc/$pid/status) KiB"
