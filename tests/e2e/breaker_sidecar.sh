#!/usr/bin/env bash
# The breaker sidecar end to end (issue 12, items 2 and 5):
#  - a namespace opted in (breakwater.io/proxy=enabled), the shop's Services
#    and a Breaker on payments: the webhook gives an orders pod the native
#    sidecar (an init container with restartPolicy Always) running
#    `breakwater proxy`, points PAYMENTS_SERVICE_URL at it and leaves the
#    dependencies without a Breaker alone; the mounts, probes, resources and
#    securityContext are asserted from the pod object, and the sidecar alone
#    passes Pod Security "restricted" (a server-side dry run);
#  - kwok plays the kubelet and runs no containers, so the sidecar's EXACT
#    args and env, taken from that pod, run here as a local process
#    (build/asan/breakwater stands for the image's entrypoint,
#    /usr/bin/breakwater), in a network and mount namespace of its own
#    (unshare: no port of the host is taken), with the files of the real
#    breakwater-registry ConfigMap laid out as the kubelet does (the
#    timestamped folder and the `..data` symlink) at the sidecar's
#    mountPath, and an /etc/hosts (an overlay on /etc, the host's files
#    untouched) that sends payments' cluster DNS name to 127.0.0.9, where a
#    small upstream fails on command;
#  - through the port the application's PAYMENTS_SERVICE_URL names: CLOSED,
#    failures open it (503, Retry-After, the breakwater-breaker header, the
#    upstream not called), after openSeconds a HALF_OPEN trial closes it.
# Needs root (unshare, mount), python3, curl and jq.
. "$(dirname "$0")/../lib.sh"

image=registry.local/breakwater/breakwater:e2e
install_crds || { not_ok "the CRDs are installed"; exit 1; }
use_namespace sidecar
work=$(mktemp -d)
holder=
cleanup() {
	[ -n "$holder" ] && kill "$holder" 2>/dev/null # the namespaces' holder; its
	# processes (proxy, upstream) are ours too, stopped by pid below
	for p in $proxy_pid $upstream_pid; do kill "$p" 2>/dev/null; done
	for p in $proxy_pid $upstream_pid $holder; do wait "$p" 2>/dev/null; done
	kubectl delete namespace "$ns-psa" --ignore-not-found --wait=false >/dev/null 2>&1
	cleanup_operator
	rm -rf "$work"
}
trap cleanup EXIT
kubectl label namespace "$ns" breakwater.io/inject=enabled breakwater.io/proxy=enabled >/dev/null
start_operator "$ns" --proxy-image "$image" --repair-pods

# The shop's Services in this namespace, and a Breaker on payments with a
# short open time (users and products get none).
cat <<EOF | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: breakwater.io/v1alpha1
kind: Breaker
metadata: {name: payments}
spec: {target: payments, failureThreshold: 3, openSeconds: 3, halfOpenCalls: 1, mode: Enforce}
EOF
check "the shop applies" bash -c "for f in '$top'/examples/shop/[1-4]0-*.yaml; do
	sed 's/namespace: shop/namespace: $ns/' \"\$f\"; echo ---; done | '$state/bin/kubectl' apply -f -"

get() { kubectl -n "$ns" get "$@" 2>/dev/null; }
sidecar_pod() { # prints an orders pod with the sidecar
	get pods -l breakwater.io/service=orders -o json |
		jq -er '[.items[] | select(.spec.initContainers[0].name == "breakwater-proxy")][0].metadata.name'
}
if ! eventually 60 sidecar_pod; then
	not_ok "an orders pod gets the sidecar" "$(get pods -o json | jq -c '.items[] |
		{name: .metadata.name, injected: .metadata.annotations["breakwater.io/injected"],
		 init: [.spec.initContainers[]?.name]}')" "$(tail -n 20 "$op_log")"
	exit 1
fi
ok "an orders pod gets the sidecar"
pod=$(sidecar_pod)
get pod "$pod" -o json >"$work/pod.json"
q() { jq -r "$@" "$work/pod.json"; }
side='.spec.initContainers[0]'
app='.spec.containers[] | select(.name == "app")'

# --- the pod object ---
check_eq "a native sidecar: restartPolicy Always" Always "$(q "$side.restartPolicy")"
check_eq "the operator's --proxy-image" "$image" "$(q "$side.image")"
check_eq "running breakwater proxy for payments only, admin on the pod IP" \
	"proxy --dependency payments=15201=http://payments.$ns.svc.cluster.local:8000 --breakers-file /etc/breakwater/breakers.json --admin-bind-address 0.0.0.0:15200" \
	"$(q "$side.args | join(\" \")")"
env_of() { q "$app.env[] | select(.name == \"$1\") | .value"; }
check_eq "PAYMENTS_SERVICE_URL points at the sidecar" http://127.0.0.1:15201 "$(env_of PAYMENTS_SERVICE_URL)"
check_eq "a dependency without a Breaker keeps its URL" \
	"http://users.$ns.svc.cluster.local:8000 http://products.$ns.svc.cluster.local:8000" \
	"$(env_of USERS_SERVICE_URL) $(env_of PRODUCTS_SERVICE_URL)"
check_eq "the sidecar mounts the registry read-only" "breakwater-registry /etc/breakwater/ true" \
	"$(q "$side.volumeMounts[0] | \"\(.name) \(.mountPath) \(.readOnly)\"")"
check_eq "the app still mounts it too" /etc/breakwater/ \
	"$(q "$app.volumeMounts[] | select(.name == \"breakwater-registry\") | .mountPath")"
check_eq "restricted securityContext" \
	'{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},"readOnlyRootFilesystem":true,"runAsGroup":65532,"runAsNonRoot":true,"runAsUser":65532,"seccompProfile":{"type":"RuntimeDefault"}}' \
	"$(q -c "$side.securityContext | to_entries | sort_by(.key) | from_entries")"
check_eq "requests and limits" '{"limits":{"cpu":"1","memory":"64Mi"},"requests":{"cpu":"10m","memory":"16Mi"}}' \
	"$(q -c "$side.resources")"
check_eq "startup and readiness probes on /readyz, liveness on /healthz, port 15200" \
	"/readyz 15200 /readyz 15200 /healthz 15200" \
	"$(q "$side | \"\(.startupProbe.httpGet.path) \(.startupProbe.httpGet.port) \(.readinessProbe.httpGet.path) \(.readinessProbe.httpGet.port) \(.livenessProbe.httpGet.path) \(.livenessProbe.httpGet.port)\"")"
check_eq "the sidecar gets no injected env" null "$(q -c "$side.env")"
check "the pod carries the injection annotation" test -n "$(q '.metadata.annotations["breakwater.io/injected"]')"

# Pod Security "restricted": the sidecar as a pod's only container, dry-run
# in a namespace that enforces it (the application's own container is the
# team's business).
kubectl create namespace "$ns-psa" >/dev/null
kubectl label namespace "$ns-psa" pod-security.kubernetes.io/enforce=restricted >/dev/null
jq --arg ns "$ns-psa" "{apiVersion: \"v1\", kind: \"Pod\", metadata: {name: \"psa\", namespace: \$ns},
	spec: {containers: [$side | del(.restartPolicy) | .name = \"proxy\" |
		.volumeMounts |= map(select(.name == \"breakwater-registry\"))],
	volumes: [{name: \"breakwater-registry\", emptyDir: {}}]}}" "$work/pod.json" >"$work/psa.json"
check "the sidecar passes Pod Security restricted" kubectl create --dry-run=server -f "$work/psa.json"
kubectl delete namespace "$ns-psa" --wait=false >/dev/null 2>&1

# --- the sidecar's command line, run here ---
# The registry as the kubelet lays out a ConfigMap volume.
reg=$work/registry
stamp=..$(date -u +%Y_%m_%d_%H_%M_%S.000000000)
mkdir -p "$reg/$stamp"
get configmap breakwater-registry -o json >"$work/cm.json"
for key in $(jq -r '.data | keys[]' "$work/cm.json"); do
	jq -r --arg k "$key" '.data[$k]' "$work/cm.json" >"$reg/$stamp/$key"
	ln -s "..data/$key" "$reg/$key"
done
ln -s "$stamp" "$reg/..data"
check_eq "the real registry holds the payments Breaker" "payments 3" \
	"$(jq -r '.breakers.payments | "\(.target) \(.openSeconds)"' "$reg/breakers.json")"

# A network and mount namespace held by a sleeping process: loopback up,
# /etc an overlay (writes go to $work), the registry at the mountPath.
unshare --net --mount --propagation private sleep 100000 &
holder=$!
in_ns() { nsenter -t "$holder" -n -m "$@"; }
eventually 5 in_ns true
mkdir -p "$work/upper" "$work/ovl"
mount_path=$(q "$side.volumeMounts[0].mountPath")
host=$(q "$side.args[]" | sed -n 's|^payments=[0-9]*=http://\([^:]*\):\([0-9]*\)$|\1|p')
up_port=$(q "$side.args[]" | sed -n 's|^payments=[0-9]*=http://\([^:]*\):\([0-9]*\)$|\2|p')
check "a namespace of our own: loopback, /etc, the registry and hosts" in_ns sh -ec "
	ip link set lo up
	mount -t overlay overlay -o lowerdir=/etc,upperdir=$work/upper,workdir=$work/ovl /etc
	mkdir -p '$mount_path'
	mount --bind '$reg' '$mount_path'
	echo '127.0.0.9 $host' >>/etc/hosts"

# The upstream: 200 or, after GET /control/fail, 500; GET /control/count
# says how many calls reached it besides the controls.
cat >"$work/upstream.py" <<'EOF'
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
state = {"fail": False, "calls": 0}
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        code, body = 200, b"ok\n"
        if self.path == "/control/fail": state["fail"] = True
        elif self.path == "/control/ok": state["fail"] = False
        elif self.path == "/control/count": body = b"%d\n" % state["calls"]
        else:
            state["calls"] += 1
            if state["fail"]: code, body = 500, b"down\n"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
EOF
py=$(command -v /usr/bin/python3 python3 | head -n 1) # Debian's starts fast, pyenv's shim does not
nsenter -t "$holder" -n -m "$py" "$work/upstream.py" 127.0.0.9 "$up_port" &
upstream_pid=$!
control() { in_ns curl -sf "http://127.0.0.9:$up_port/control/$1"; }
check "the upstream answers at $host:$up_port" eventually 30 control count

mapfile -t args < <(q "$side.args[]")
mapfile -t envs < <(q "($side.env // [])[] | \"\(.name)=\(.value)\"")
nsenter -t "$holder" -n -m env -i ASAN_OPTIONS=detect_leaks=1 "${envs[@]}" \
	"$top/build/asan/breakwater" "${args[@]}" >"$work/proxy.log" 2>&1 &
proxy_pid=$!
admin=$(q "$side.startupProbe.httpGet.port")
check "the sidecar's startup probe passes" eventually 10 in_ns curl -sf "http://127.0.0.1:$admin/readyz"

url=$(env_of PAYMENTS_SERVICE_URL) # what the application calls
call() { in_ns curl -s -o "$work/body" -D "$work/head" -w '%{http_code}' "$url/charge"; }
state_of() {
	in_ns curl -s "http://127.0.0.1:$admin/metrics" |
		sed -n 's/^breakwater_proxy_breaker_state{.*dependency="payments".*state="\([A-Z_]*\)".* 1$/\1/p'
}
check_eq "CLOSED: a call goes through" 200 "$(call)"
check_eq "the metrics say CLOSED" CLOSED "$(state_of)"
# Three failures, then at once (openSeconds is 3) a call the breaker refuses.
before=$(control count)
control fail >/dev/null
codes=$(for i in 1 2 3; do call; echo; done | tr '\n' ' ')
opened=$SECONDS
refused=$(call)
check_eq "three failures pass to the application" "500 500 500 " "$codes"
check_eq "OPEN: answered at once with 503" 503 "$refused"
check "with Retry-After" grep -qi '^retry-after: [123]' "$work/head"
check "with the breaker's header" grep -qi '^breakwater-breaker: payments; state=OPEN' "$work/head"
check_eq "and a JSON body" "circuit open payments" "$(jq -r '"\(.error) \(.breaker)"' "$work/body")"
check_eq "the upstream was not called" "$((before + 3))" "$(control count)"
check_eq "the metrics say OPEN" OPEN "$(state_of)"
control ok >/dev/null
while [ $((SECONDS - opened)) -le 3 ]; do sleep 0.5; done # openSeconds passed
check_eq "after openSeconds a HALF_OPEN trial goes through" 200 "$(call)"
check_eq "and closes the breaker" CLOSED "$(state_of)"
check_eq "the upstream saw the trial" "$((before + 4))" "$(control count)"
check "the sidecar logged each transition" bash -c "grep -q 'CLOSED -> OPEN' '$work/proxy.log' &&
	grep -q 'OPEN -> HALF_OPEN' '$work/proxy.log' && grep -q 'HALF_OPEN -> CLOSED' '$work/proxy.log'"

# --- the Breaker's status: pods running the current policy ---
check "the Breaker counts orders' pods as configured" eventually 30 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get brk payments -o jsonpath='{.status.pods.configured} {.status.pods.stale}')\" = '3 0' ]"

kill "$proxy_pid" 2>/dev/null
wait "$proxy_pid" 2>/dev/null
proxy_pid=
if grep -q 'ERROR: \(AddressSanitizer\|LeakSanitizer\)\|runtime error:' "$work/proxy.log"; then
	not_ok "the sidecar ran clean under ASan/UBSan" "$(grep -m5 -A5 'ERROR\|runtime error' "$work/proxy.log")"
else
	ok "the sidecar ran clean under ASan/UBSan"
fi
check_operator_log
