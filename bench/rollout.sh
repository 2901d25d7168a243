#!/usr/bin/env bash
# What the operator adds to getting services running and rolling them out.
#
# Baseline: N Deployments (+ their ClusterIP Services), written directly with
# kubectl apply, in one namespace. Measured: N breakwater Services, which the
# operator (the release build, watching its namespace) turns into the same
# Deployments and Services, in another. Both on the local control plane, in
# the same run, one after the other, timed the same way: from the apply until
# a poll (every 0.2 s, one kubectl get) sees every one done:
#   create:  every Deployment available (baseline) / every Service Ready;
#   rollout: a new image in all N, until every Deployment has observed it
#            with all replicas updated and available (baseline) / every
#            Service Ready at its new generation with status.image the new one.
# Also: the operator's CPU time over both phases and its resident memory,
# beside the kube-controller-manager's CPU time over the same span.
#
#   bench/rollout.sh            (N=100 services of 2 replicas; N=50 bench/rollout.sh)
set -uo pipefail
. "$(dirname "$0")/../tests/lib.sh" # top, state, $KUBECONFIG, kubectl, free_port
N=${N:-100}
base=bw-bench-deploy
ops=bw-bench-bsvc
bin=$top/bin/breakwater
[ -x "$bin" ] || { echo "rollout.sh: build bin/breakwater first (make)" >&2; exit 1; }

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# wait_until SECONDS FUNCTION: polls FUNCTION every 0.2 s.
wait_until() {
	local deadline=$((SECONDS + $1))
	until "$2"; do
		[ $SECONDS -lt $deadline ] || { echo "rollout.sh: timed out waiting for $2" >&2; exit 1; }
		sleep 0.2
	done
}

deployments() { # IMAGE-TAG
	local i
	for i in $(seq 1 "$N"); do
		cat <<EOF
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: svc-$i, namespace: $base}
spec:
  replicas: 2
  selector: {matchLabels: {app: svc-$i}}
  strategy: {rollingUpdate: {maxSurge: 25%, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: svc-$i}}
    spec:
      containers:
      - name: app
        image: "registry.local/bench/svc-$i:$1"
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /health, port: 8080}}
        livenessProbe: {httpGet: {path: /health, port: 8080}}
---
apiVersion: v1
kind: Service
metadata: {name: svc-$i, namespace: $base}
spec: {selector: {app: svc-$i}, ports: [{port: 8080}]}
EOF
	done
}

services() { # IMAGE-TAG
	local i
	for i in $(seq 1 "$N"); do
		cat <<EOF
---
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: svc-$i, namespace: $ops}
spec: {image: "registry.local/bench/svc-$i:$1", replicas: 2, healthCheck: {path: /health}}
EOF
	done
}

deployments_done() { # every Deployment at its generation, all replicas updated and available
	[ "$(kubectl -n "$base" get deployments -o json | jq --argjson n "$N" --arg tag "$tag" '
		[.items[] | select(.status.observedGeneration == .metadata.generation and
			(.spec.template.spec.containers[0].image | endswith(":" + $tag)) and
			.status.updatedReplicas == .spec.replicas and .status.availableReplicas == .spec.replicas and
			(.status.replicas // 0) == .spec.replicas)] | length == $n')" = true ]
}

services_done() { # every Service Ready at its generation, running the image
	[ "$(kubectl -n "$ops" get services.breakwater.io -o json | jq --argjson n "$N" --arg tag "$tag" '
		[.items[] | . as $s | select(.status.observedGeneration == $s.metadata.generation and
			((.status.image // "") | endswith(":" + $tag)) and
			any(.status.conditions[]?; .type == "Ready" and .status == "True" and
				.observedGeneration == $s.metadata.generation))] | length == $n')" = true ]
}

cpu_seconds() { # utime + stime of a pid, in seconds
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}

for ns in "$base" "$ops"; do
	kubectl delete namespace "$ns" --wait=true --timeout=180s >/dev/null 2>&1
	kubectl create namespace "$ns" >/dev/null
done
kubectl apply -f "$top/crds/" >/dev/null
kubectl wait --for=condition=Established crd/services.breakwater.io --timeout=30s >/dev/null

# the whole product path: controllers and the webhook, which injects every pod
# of the measured namespace (the baseline's namespace is not sent to it)
port=$(free_port)
log=$(mktemp)
"$bin" --kubeconfig "$KUBECONFIG" --namespace "$ops" --webhook-port "$port" \
	--metrics-bind-address 0 --health-probe-bind-address 0 >"$log" 2>&1 &
op=$!
trap 'kill $op 2>/dev/null; wait $op 2>/dev/null; rm -f "$log"
	kubectl delete namespace $base $ops --wait=false >/dev/null 2>&1' EXIT
for _ in $(seq 1 150); do
	grep -q 'controllers started' "$log" && break
	sleep 0.2
done
grep -q 'controllers started' "$log" || { echo "rollout.sh: the operator did not start:" >&2; tail -5 "$log" >&2; exit 1; }
cpu0=$(cpu_seconds $op)
# for scale: the controller-manager, whose Deployment and ReplicaSet
# controllers do their part of both namespaces' work in the same run
kcm=$(pgrep -f "^$state/bin/kube-controller-manager " | head -n 1)
kcm0=$(cpu_seconds "$kcm")

echo "== $N services of 2 replicas, create"
tag=1
t=$(now); deployments 1 | kubectl apply -f - >/dev/null; wait_until 300 deployments_done
base_create=$(since "$t")
t=$(now); services 1 | kubectl apply -f - >/dev/null; wait_until 300 services_done
ops_create=$(since "$t")
echo "== rollout of a new image to all $N"
tag=2
t=$(now); deployments 2 | kubectl apply -f - >/dev/null; wait_until 300 deployments_done
base_roll=$(since "$t")
t=$(now); services 2 | kubectl apply -f - >/dev/null; wait_until 300 services_done
ops_roll=$(since "$t")
cpu1=$(cpu_seconds $op)
kcm1=$(cpu_seconds "$kcm")
rss=$(awk '/VmRSS/ { print $2 }' "/proc/$op/status")

printf '\n| what (%d services, 2 replicas each) | time | ratio |\n|---|---:|---:|\n' "$N"
printf '| baseline: Deployments + Services applied, until all available | %s s | 1 |\n' "$base_create"
printf '| breakwater Services applied, until all Ready | %s s | %s |\n' "$ops_create" "$(ratio "$ops_create" "$base_create")"
printf '| baseline: new image in every Deployment, until all rolled out | %s s | 1 |\n' "$base_roll"
printf '| new image in every breakwater Service, until all Ready | %s s | %s |\n' "$ops_roll" "$(ratio "$ops_roll" "$base_roll")"
printf '\nCPU over both phases: operator %s s (%s KiB resident at the end); kube-controller-manager %s s (both namespaces)\n' \
	"$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')" "$rss" \
	"$(awk -v a="$kcm0" -v b="$kcm1" 'BEGIN { printf "%.2f", b - a }')"
