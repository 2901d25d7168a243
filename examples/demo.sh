#!/usr/bin/env bash
# The demo (`make demo`): the local control plane, the operator, the example
# shop, and a rollout: an image edit rolled out, then a bad image rolled back
# automatically; the breaker sidecar; at the end requests to the shop
# through the gateway (Traefik), answered by the pods (tests/traffic/). The control plane stays up afterwards (`make cluster-down`);
# the operator is stopped at the end (`make run` runs it again).
set -eEuo pipefail
# a step that fails says where the demo stopped (its own message comes first)
trap 'rc=$?; [ "$BASH_SUBSHELL" -eq 0 ] && echo "demo: stopped at examples/demo.sh:$LINENO: $BASH_COMMAND (exit $rc)" >&2' ERR

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
state=.cluster
export KUBECONFIG=$top/$state/kubeconfig
kubectl() { "$top/$state/bin/kubectl" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "the local Kubernetes control plane"
tests/cluster/cluster.sh up

step "the CRDs"
kubectl apply -f crds/
KUBECTL=$top/$state/bin/kubectl tests/cluster/wait-established.sh services.breakwater.io breakers.breakwater.io

step "the operator (log: $state/logs/operator.log)"
bin/breakwater --kubeconfig "$KUBECONFIG" --health-probe-bind-address 127.0.0.1:18081 \
	--metrics-bind-address 127.0.0.1:18080 --webhook-port 18443 --repair-pods \
	--proxy-image registry.local/breakwater/breakwater:dev \
	>"$state/logs/operator.log" 2>&1 &
operator=$!
trap 'kill -TERM $operator 2>/dev/null; wait $operator 2>/dev/null' EXIT
for _ in $(seq 1 60); do
	curl -sf http://127.0.0.1:18081/readyz >/dev/null && break
	kill -0 $operator 2>/dev/null || { tail -20 "$state/logs/operator.log"; exit 1; }
	sleep 0.5
done
echo "ready: /metrics on 127.0.0.1:18080, admission webhook on 127.0.0.1:18443"

step "kubectl apply -f examples/shop/"
kubectl apply -f examples/shop/
kubectl -n shop wait --for=condition=Ready bsvc --all --timeout=120s
kubectl -n shop get breakwater

step "what a pod of orders was given by the webhook"
pod=$(kubectl -n shop get pods -l breakwater.io/service=orders -o jsonpath='{.items[0].metadata.name}')
kubectl -n shop get pod "$pod" -o json |
	jq -r '.spec.containers[0].env[] | "  \(.name)=\(.value)"'
echo "  registry mounted at $(kubectl -n shop get pod "$pod" -o jsonpath='{.spec.containers[0].volumeMounts[0].mountPath}')"
kubectl -n shop get configmap breakwater-registry -o jsonpath='{.data.breakers\.json}' | jq .
memo=$(curl -s http://127.0.0.1:18080/metrics | awk '/^breakwater_webhook_review_memo_total[{]outcome="(hit|miss)"[}]/ { sub(/.*outcome="/, ""); sub(/"[}]/, ""); printf "%s%s", sep, $0; sep = ", " }')
echo "review memo (a ReplicaSet's pods after its first get the first one's answer): ${memo:-no pod admitted yet}"

step "roll out orders 1.1.0"
kubectl -n shop patch bsvc orders --type=merge -p '{"spec":{"image":"registry.local/shop/orders:1.1.0"}}'
kubectl -n shop wait --for=condition=Ready bsvc/orders --timeout=120s
kubectl -n shop get bsvc orders -o jsonpath='image {.status.image}, lastGoodImage {.status.lastGoodImage}{"\n"}'

step "roll out an image that never becomes ready: rolled back after its deadline"
kubectl -n shop patch bsvc orders --type=merge \
	-p '{"spec":{"image":"registry.local/shop/orders:2.0-never-ready","rollout":{"progressDeadlineSeconds":10}}}'
for _ in $(seq 1 120); do
	reason=$(kubectl -n shop get bsvc orders -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}')
	[ "$reason" = RolledBack ] && break
	sleep 1
done
kubectl -n shop get bsvc orders
kubectl -n shop get bsvc orders -o jsonpath='{.status.conditions[?(@.type=="Ready")].message}{"\n"}'
kubectl -n shop get events --field-selector involvedObject.name=orders,reason=RolledBack
echo "what GitOps tools read (kstatus: Stalled True is Failed, so a pipeline fails fast):"
kubectl -n shop get bsvc orders \
	-o jsonpath='  Stalled={.status.conditions[?(@.type=="Stalled")].status} {.status.conditions[?(@.type=="Stalled")].reason}, Reconciling={.status.conditions[?(@.type=="Reconciling")].status}{"\n"}'

step "the breaker sidecar: payments opts in; the users Breaker opens for 5 s"
kubectl -n shop patch breaker users --type=merge -p '{"spec":{"openSeconds":5}}'
kubectl -n shop patch bsvc payments --type=merge -p '{"spec":{"breakerSidecar":"Enabled"}}'
# the injection changed: the operator restarts payments' pods (--repair-pods)
pod=
for _ in $(seq 1 120); do
	pod=$(kubectl -n shop get pods -l breakwater.io/service=payments -o json |
		jq -r '[.items[] | select(.spec.initContainers[0].name == "breakwater-proxy")][0].metadata.name // empty')
	[ -n "$pod" ] && break
	sleep 0.5
done
work=$(mktemp -d)
kubectl -n shop get pod "$pod" -o json >"$work/pod.json"
jq -r '"  pod \(.metadata.name): init container \(.spec.initContainers[0].name), restartPolicy \(.spec.initContainers[0].restartPolicy)",
	"  args: \(.spec.initContainers[0].args | join(" "))",
	(.spec.containers[0].env[] | select(.name == "USERS_SERVICE_URL") | "  app: \(.name)=\(.value)")' "$work/pod.json"

step "that sidecar's command line, run here (kwok runs no containers), users failing on command"
if [ "$(id -u)" != 0 ]; then
	echo "skipped: running it in a namespace of its own needs root (unshare, mount)"
else
	. tests/sidecar_local.sh
	trap 'sidecar_local_stop; rm -rf "$work"; kill -TERM $operator 2>/dev/null; wait $operator 2>/dev/null' EXIT
	# the sidecar reads the Breaker from the registry ConfigMap: wait until
	# the operator has written the 5 s patched above into it
	for _ in $(seq 1 60); do
		kubectl -n shop get configmap breakwater-registry -o json >"$work/cm.json"
		jq -e '.data["breakers.json"] | fromjson | .breakers.users.openSeconds == 5' "$work/cm.json" >/dev/null && break
		sleep 0.5
	done
	jq -r '.data["breakers.json"] | fromjson | .breakers.users | "  the users Breaker in the registry: openSeconds \(.openSeconds), failureThreshold \(.failureThreshold)"' "$work/cm.json"
	sidecar_local_start "$work" "$work/pod.json" "$work/cm.json" users "$top/bin/breakwater"
	url=$(jq -r '.spec.containers[0].env[] | select(.name == "USERS_SERVICE_URL") | .value' "$work/pod.json")
	call() { # what the application's GET $url/api/users/1 gets, and the breaker's state
		local code
		code=$(sl_in curl -s -o /dev/null -D "$work/head" -w '%{http_code}' "$url/api/users/1")
		printf '  %-28s GET %s/api/users/1 -> %s   breaker %s%s\n' "$1" "$url" "$code" "$(sl_state users)" \
			"$(tr -d '\r' <"$work/head" | sed -n 's/^[Bb]reakwater-[Bb]reaker: \(.*\)/ (\1)/p')"
	}
	call "users healthy:"
	sl_control fail >/dev/null
	for i in 1 2 3; do call "users failing ($i):"; done
	call "not forwarded while OPEN:"
	echo "  calls that reached users: $(sl_control count) (the refused one never left the pod)"
	sl_control ok >/dev/null
	sleep 5.2
	call "after openSeconds, a trial:"
	sed -n 's/.*\(breaker users.*\)/  sidecar log: \1/p' "$work/proxy.log"
	sidecar_local_stop
fi
rm -rf "$work"

step "the shop through the gateway: Traefik, its Kubernetes Ingress provider reading this cluster"
if [ "$(id -u)" != 0 ]; then
	echo "skipped: the pods answer in a network namespace of their own, which needs root"
else
	# built from its Go module and cached (minutes the first time; tests/traffic/README.md)
	tests/traffic/build.sh >/dev/null
	. tests/traffic/lib.sh
	work=$(mktemp -d)
	trap 'traffic_stop; rm -rf "$work"; kill -TERM $operator 2>/dev/null; wait $operator 2>/dev/null' EXIT
	traffic_start "$work" shop
	# the pods answer as themselves (tests/traffic/podnet.py): "pod NAME ip IP path PATH"
	# (Traefik reads the Ingresses and EndpointSlices; payments' pods may be restarting)
	for svc in orders payments users products; do
		for _ in $(seq 1 60); do tr_gw "/api/$svc/" | grep -q "^pod $svc-" && break; sleep 0.5; done
	done
	for path in /api/orders/ /api/orders/ /api/orders/ /api/orders/ /api/payments/ /api/payments/ \
		/api/users/ /api/products/; do
		printf '  GET %-15s -> %s\n' "$path" "$(tr_gw "$path" | head -n 1 | cut -d' ' -f1-4)"
	done
	traffic_stop
	rm -rf "$work"
fi

step "done"
echo "The control plane is still up: KUBECONFIG=$KUBECONFIG, kubectl at $state/bin/kubectl."
echo "Run the operator again with 'make run'; stop everything with 'make cluster-down'."
