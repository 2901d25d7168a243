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
#    /usr/bin/breakwater; tests/sidecar_local.sh): in a network and mount
#    namespace of its own, with the files of the real breakwater-registry
#    ConfigMap laid out as the kubelet does (the `..data` symlink) at the
#    sidecar's mountPath, and an /etc/hosts that sends payments' cluster DNS
#    name to a small upstream on 127.0.0.9 that fails on command;
#  - through the port the application's PAYMENTS_SERVICE_URL names: CLOSED,
#    failures open it (503, Retry-After, the breakwater-breaker header, the
#    upstream not called), after openSeconds a HALF_OPEN trial closes it;
#  - the Breaker's status.pods counts orders' pods as configured.
# Needs root (unshare, mount), python3, curl and jq.
. "$(dirname "$0")/../lib.sh"
. "$top/tests/sidecar_local.sh"

image=registry.local/breakwater/breakwater:e2e
install_crds || { not_ok "the CRDs are installed"; exit 1; }
use_namespace sidecar
work=$(mktemp -d)
cleanup() {
	sidecar_local_stop
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
spec: {target: payments, failureThreshold: 3, openSeconds: 5, halfOpenCalls: 1, mode: Enforce}
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

# --- the sidecar's command line, run here (tests/sidecar_local.sh) ---
if [ "$(id -u)" != 0 ]; then
	echo "# skipped: running the sidecar here needs root (unshare, mount)"
	check_operator_log
	exit 0
fi
get configmap breakwater-registry -o json >"$work/cm.json"
check_eq "the real registry holds the payments Breaker" "payments 5" \
	"$(jq -r '.data["breakers.json"] | fromjson | .breakers.payments | "\(.target) \(.openSeconds)"' "$work/cm.json")"
# (the sidecar gets the pod's env only: ASan's leak check is on by default)
if ! sidecar_local_start "$work" "$work/pod.json" "$work/cm.json" payments \
	"$top/build/asan/breakwater" 2>"$work/start.err"; then
	not_ok "the sidecar runs here with the pod's args and env" "$(cat "$work/start.err")"
	exit 1
fi
ok "the sidecar runs here with the pod's args and env"
# its overlay on /etc is in the holder's mount namespace only (tests/netns.sh)
check "its /etc overlay is not on the host's /etc" bash -c "! grep -qF 'upperdir=$work/upper' /proc/$$/mounts"
check "but in its own namespace" sl_in grep -qF "upperdir=$work/upper" /proc/self/mounts
url=$(env_of PAYMENTS_SERVICE_URL) # what the application calls
call() { sl_in curl -s -o "$work/body" -D "$work/head" -w '%{http_code}' "$url/charge"; }
state_of() { sl_state payments; }
check_eq "CLOSED: a call goes through" 200 "$(call)"
check_eq "the metrics say CLOSED" CLOSED "$(state_of)"
# Three failures, then at once (openSeconds is 5: margin for a loaded
# machine) a call the breaker refuses, and its state.
before=$(sl_control count)
sl_control fail >/dev/null
codes=$(for i in 1 2 3; do call; echo; done | tr '\n' ' ')
opened=$SECONDS
refused=$(call)
state_open=$(state_of)
check_eq "three failures pass to the application" "500 500 500 " "$codes"
check_eq "OPEN: answered at once with 503" 503 "$refused"
check "with Retry-After" grep -qi '^retry-after: [1-5]' "$work/head"
check "with the breaker's header" grep -qi '^breakwater-breaker: payments; state=OPEN' "$work/head"
check_eq "and a JSON body" "circuit open payments" "$(jq -r '"\(.error) \(.breaker)"' "$work/body")"
check_eq "the upstream was not called" "$((before + 3))" "$(sl_control count)"
check_eq "the metrics say OPEN" OPEN "$state_open"
sl_control ok >/dev/null
while [ $((SECONDS - opened)) -le 5 ]; do sleep 0.5; done # openSeconds passed
check_eq "after openSeconds a HALF_OPEN trial goes through" 200 "$(call)"
check_eq "and closes the breaker" CLOSED "$(state_of)"
check_eq "the upstream saw the trial" "$((before + 4))" "$(sl_control count)"
check "the sidecar logged each transition" bash -c "grep -q 'CLOSED -> OPEN' '$work/proxy.log' &&
	grep -q 'OPEN -> HALF_OPEN' '$work/proxy.log' && grep -q 'HALF_OPEN -> CLOSED' '$work/proxy.log'"

# --- the Breaker's status: pods running the current policy ---
check "the Breaker counts orders' pods as configured" eventually 30 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get brk payments -o jsonpath='{.status.pods.configured} {.status.pods.stale}')\" = '3 0' ]"

sidecar_local_stop
if grep -q 'ERROR: \(AddressSanitizer\|LeakSanitizer\)\|runtime error:' "$work/proxy.log"; then
	not_ok "the sidecar ran clean under ASan/UBSan" "$(grep -m5 -A5 'ERROR\|runtime error' "$work/proxy.log")"
else
	ok "the sidecar ran clean under ASan/UBSan"
fi
check_operator_log
