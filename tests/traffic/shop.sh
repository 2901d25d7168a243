#!/usr/bin/env bash
# The example shop carries real traffic: `kubectl apply -f examples/shop/`
# with the operator running, then requests through Traefik (the gateway, its
# Kubernetes Ingress provider reading the operator's Ingresses) to the pods,
# which answer in the harness's network namespace (tests/traffic/lib.sh).
# Load balancing over ready replicas, a not-ready pod left out, a scale-up
# added, a rollout without a failed request (counted), and the breaker
# sidecar between orders and payments opening and recovering.
. "$(dirname "$0")/../lib.sh"
. "$top/tests/traffic/lib.sh"

"$top/tests/traffic/build.sh" >/dev/null || { not_ok "Traefik builds (tests/traffic/build.sh)"; exit 1; }
install_crds || { not_ok "the CRDs are installed"; exit 1; }
ns=shop
kubectl delete namespace shop --wait=true --timeout=60s >/dev/null 2>&1
work=$(mktemp -d)
trap 'traffic_stop; cleanup_operator; [ -n "${TR_KEEP:-}" ] && echo "kept $work" || rm -rf "$work"' EXIT
kubectl create namespace shop >/dev/null
start_operator shop --proxy-image registry.local/breakwater/breakwater:traffic --repair-pods

check "the shop applies" kubectl apply -f "$top/examples/shop/"
check "every Service becomes Ready" kubectl -n shop wait --for=condition=Ready bsvc --all --timeout=90s

# (not in $(...): what it starts in the background would hold the pipe open)
if ! traffic_start "$work" shop 2>"$work/start.log"; then
	not_ok "the harness starts (netns, API bridge, pods, Traefik)" "$(cat "$work/start.log")" \
		"$(tail -n 5 "$work"/*.log)"
	exit 1
fi
ok "the harness starts (netns, API bridge, pods, Traefik)"

# orders' ready pods, by name, sorted
ready_pods() {
	kubectl -n shop get pods -l breakwater.io/service=orders -o json | jq -r '.items[]
		| select(.metadata.deletionTimestamp == null)
		| select(any(.status.conditions[]?; .type == "Ready" and .status == "True"))
		| .metadata.name' | sort | xargs
}
# the pods that answered N requests, sorted
answering() { tr_spread /api/orders/ "$1" | jq -r 'keys | join(" ")'; }
same_pods() { [ "$(answering "$2")" = "$1" ]; }

reaches() { tr_gw /api/orders/ | grep -q '^pod orders-'; }
check "a request to the gateway for /api/orders/ reaches an orders pod" eventually 60 reaches
body=$(tr_gw /api/orders/)
check "the pod says which it is and what was asked" grep -qE '^pod orders-[a-z0-9-]+ ip 10\.244\.[0-9.]+ path /api/orders/$' <<<"$body"
check "/api/payments/ reaches a payments pod" bash -c "grep -q '^pod payments-' <<<'$(tr_gw /api/payments/)'"
check_eq "a path with no route gets Traefik's 404" 404 \
	"$(tr_in curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1/api/nothing/)"

pods=$(ready_pods)
check_eq "three orders pods are ready" 3 "$(wc -w <<<"$pods")"
check "requests spread over the three ready replicas" eventually 30 same_pods "$pods" 30
counts=$(tr_spread /api/orders/ 300)
echo "# figure: 300 requests over 3 replicas: $counts"
check "each replica gets at least a fifth of 300 requests" \
	jq -e '[.[]] | length == 3 and min >= 60' <<<"$counts"

# A pod that is not ready gets none. kwok's stages act on Pending pods only,
# so a Ready condition set through the status subresource stays.
victim=${pods%% *}
cond() { printf '{"status":{"conditions":[{"type":"Ready","status":"%s"}]}}' "$1"; }
check "$victim is made not ready (status subresource)" \
	kubectl -n shop patch pod "$victim" --subresource=status -p "$(cond False)"
rest=$(ready_pods)
check_eq "two pods are ready" 2 "$(wc -w <<<"$rest")"
check "the not-ready pod leaves the rotation" eventually 30 same_pods "$rest" 30
counts=$(tr_spread /api/orders/ 100)
check "it gets none of 100 requests" jq -e --arg p "$victim" '.[$p] == null and ([.[]] | add) == 100' <<<"$counts"
check_eq "kwok left its Ready condition as set" False \
	"$(kubectl -n shop get pod "$victim" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')"
check "ready again, it is back in the rotation" kubectl -n shop patch pod "$victim" --subresource=status -p "$(cond True)"
check "and gets requests again" eventually 30 same_pods "$pods" 30

# Scaling up adds a replica to the rotation.
check "kubectl scale bsvc/orders --replicas=4" kubectl -n shop scale bsvc/orders --replicas=4
four() { [ "$(wc -w <<<"$(ready_pods)")" = 4 ]; }
check "four orders pods become ready" eventually 60 four
pods=$(ready_pods)
check "requests spread over the four" eventually 30 same_pods "$pods" 40

# A rollout moves the traffic to the new pods without a failed request: a
# client sends requests one after the other all along.
old=$pods
nsenter -t "$tr_holder" -n -m "$tr_py" "$tr_dir/podnet.py" load http://127.0.0.1/api/orders/ \
	"$work/stop" "$work/load.json" &
client=$!
sleep 2
check "the rollout starts (spec.image edited)" kubectl -n shop patch bsvc orders --type=merge \
	-p '{"spec":{"image":"registry.local/shop/orders:1.1.0"}}'
rolled() {
	[ "$(kubectl -n shop get bsvc orders -o jsonpath='{.status.image} {.status.updatedReplicas} {.status.readyReplicas}')" = \
		"registry.local/shop/orders:1.1.0 4 4" ] &&
		[ "$(kubectl -n shop get pods -l breakwater.io/service=orders -o name | wc -l)" = 4 ]
}
check "the rollout completes" eventually 120 rolled
new=$(ready_pods)
# the load goes on until the gateway has dropped the old pods
check "the traffic moves to the new pods" eventually 60 same_pods "$new" 40
touch "$work/stop"
wait "$client"
load=$(cat "$work/load.json")
read -r sent answered failed < <(jq -r '"\(.sent) \(.answered) \(.failed)"' <<<"$load")
echo "# figure: rollout: sent $sent, answered $answered, failed $failed; per pod: $(jq -c .pods <<<"$load")"
# all along: the old pods answered some of them and the new pods some (a
# count floor would be a speed test of this machine)
check "the client sent requests all along: old pods answered some" jq -e --arg old "$old" \
	'[.pods | to_entries[] | select(.key as $k | ($old | split(" ") | index($k)) != null) | .value] | add > 0' <<<"$load"
check_eq "no request failed during the rollout" "0 errors: {}" "$failed errors: $(jq -c .errors <<<"$load")"
check_eq "every request was answered" "$sent" "$answered"
check "the new pods are other pods" bash -c "[ -z \"\$(comm -12 <(tr ' ' '\n' <<<'$old') <(tr ' ' '\n' <<<'$new'))\" ]"
check "new pods answered during the rollout" jq -e --arg p "${new%% *}" '.pods[$p] > 0' <<<"$load"


# --- the breaker sidecar between orders and payments ---
# A short open time for the test, then orders' pods get the sidecar (the
# operator's --repair-pods restarts them). Its command line, from such a pod, runs in the
# harness's namespace; orders' servers call payments through its port.
check "the payments Breaker opens after 3 failures for 5 s" kubectl -n shop patch brk payments \
	--type=merge -p '{"spec":{"failureThreshold":3,"openSeconds":5}}'
check "orders gets the breaker sidecar (spec.breakerSidecar: Enabled)" kubectl -n shop patch bsvc orders \
	--type=merge -p '{"spec":{"breakerSidecar":"Enabled"}}'
with_sidecar() {
	[ "$(kubectl -n shop get pods -l breakwater.io/service=orders -o json | jq '[.items[]
		| select(.metadata.deletionTimestamp == null)
		| select(.spec.initContainers[0].name == "breakwater-proxy")
		| select(any(.status.conditions[]?; .type == "Ready" and .status == "True"))] | length')" = 4 ]
}
check "four orders pods with the sidecar become ready" eventually 120 with_sidecar
check "the gateway sends orders' traffic to them only" eventually 60 same_pods "$(ready_pods)" 20
pod=$(kubectl -n shop get pods -l breakwater.io/service=orders -o json |
	jq -r '[.items[] | select(.spec.initContainers[0].name == "breakwater-proxy")][0].metadata.name')
kubectl -n shop get pod "$pod" -o json >"$work/pod.json"
policy() { kubectl -n shop get configmap breakwater-registry -o jsonpath='{.data.breakers\.json}' |
	jq -e '.breakers.payments.openSeconds == 5' >/dev/null; }
check "the registry holds the new policy" eventually 30 policy
kubectl -n shop get configmap breakwater-registry -o json >"$work/cm.json"
payments_ips=$(kubectl -n shop get pods -l breakwater.io/service=payments -o jsonpath='{.items[*].status.podIP}')
pay_ip=${payments_ips%% *}
if ! tr_sidecar_start "$work/pod.json" "$work/cm.json" payments "$pay_ip" \
	"$top/build/asan/breakwater" 2>"$work/sidecar.err"; then
	not_ok "the sidecar runs in the harness with the pod's args and env" "$(cat "$work/sidecar.err")"
	exit 1
fi
ok "the sidecar runs in the harness with the pod's args and env"
pay() { tr_in curl -s "http://$pay_ip:8000/control/$1"; }
order() { tr_in curl -s -o "$work/body" -D "$work/head" -w '%{http_code}' --max-time 10 http://127.0.0.1/api/orders/checkout; }
through() { [ "$(order)" = 200 ] && grep -q '^payments 200 pod payments-' "$work/body"; }
check "an order through the gateway reaches payments through the sidecar" eventually 60 through
check_eq "CLOSED" CLOSED "$(tr_breaker_state payments)"
before=$(pay count)
pay fail >/dev/null
codes=$(for i in 1 2 3; do order; echo; done | tr '\n' ' ')
opened=$SECONDS
refused=$(order)
check_eq "payments failing: its 500s come back through orders" "500 500 500 " "$codes"
check_eq "then the breaker opens: 503 through the gateway" 503 "$refused"
check "with the breaker's header" grep -qi '^breakwater-breaker: payments; state=OPEN' "$work/head"
check "and Retry-After" grep -qi '^retry-after: [1-5]' "$work/head"
check_eq "payments was not called while open" "$((before + 3))" "$(pay count)"
check_eq "the sidecar's metrics say OPEN" OPEN "$(tr_breaker_state payments)"
pay ok >/dev/null
while [ $((SECONDS - opened)) -le 5 ]; do sleep 0.5; done # openSeconds passed
check_eq "payments back: after openSeconds a trial goes through" 200 "$(order)"
check_eq "and closes the breaker" CLOSED "$(tr_breaker_state payments)"
check "the sidecar logged each transition" bash -c "grep -q 'CLOSED -> OPEN' '$work/proxy.log' &&
	grep -q 'OPEN -> HALF_OPEN' '$work/proxy.log' && grep -q 'HALF_OPEN -> CLOSED' '$work/proxy.log'"
traffic_stop
if grep -q 'ERROR: \(AddressSanitizer\|LeakSanitizer\)\|runtime error:' "$work/proxy.log"; then
	not_ok "the sidecar ran clean under ASan/UBSan" "$(grep -m5 -A5 'ERROR\|runtime error' "$work/proxy.log")"
else
	ok "the sidecar ran clean under ASan/UBSan"
fi

check_operator_log
