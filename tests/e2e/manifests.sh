#!/usr/bin/env bash
# The cluster install renders and applies: namespace, RBAC, Deployment and
# Service are accepted by the real API server, and the Deployment's pods are
# scheduled (kwok plays the kubelet, so nothing runs the image itself). The
# ServiceAccount's RBAC allows what the operator does and no more.
. "$(dirname "$0")/../lib.sh"

# a namespace left terminating by an earlier run must be gone first
kubectl delete namespace breakwater-system --wait=true --timeout=90s >/dev/null 2>&1
trap 'kubectl delete -k "$top/manifests/base" --wait=false >/dev/null 2>&1' EXIT
check "kustomize renders the base" bash -c "'$state/bin/kubectl' kustomize '$top/manifests/base' >/dev/null"
local_render=$(kubectl kustomize "$top/manifests/local" 2>&1)
check_eq "the local overlay runs one replica of the :dev image, repairing pods" \
	"1 registry.local/breakwater/breakwater:dev --repair-pods" \
	"$(kubectl create --dry-run=client -f - -o json <<<"$local_render" 2>&1 |
		jq -r 'select(.kind == "Deployment") // (.items[]? | select(.kind == "Deployment")) |
			"\(.spec.replicas) \(.spec.template.spec.containers[0].image) \(.spec.template.spec.containers[0].args | map(select(. == "--repair-pods")) | join(""))"')"
check "the CRDs and the base apply" bash -c \
	"'$state/bin/kubectl' apply -f '$top/crds/' >/dev/null && '$state/bin/kubectl' apply -k '$top/manifests/base' >/dev/null"
check "the Deployment becomes available (kwok)" \
	kubectl -n breakwater-system wait --for=condition=Available deployment/breakwater --timeout=60s
check_eq "the webhook Service listens on 443, where the operator registers it" 443 \
	"$(kubectl -n breakwater-system get service breakwater-webhook -o jsonpath='{.spec.ports[0].port}')"
check_eq "and reaches both replicas on the webhook's default port" "9443 2" \
	"$(eventually 30 bash -c "'$state/bin/kubectl' -n breakwater-system get endpointslices \
		-l kubernetes.io/service-name=breakwater-webhook -o json |
		jq -e '[.items[].endpoints[]?] | length == 2' >/dev/null"
	kubectl -n breakwater-system get endpointslices -l kubernetes.io/service-name=breakwater-webhook -o json |
		jq -r '"\(.items[0].ports[0].port) \([.items[].endpoints[]?] | length)"')"
sa=system:serviceaccount:breakwater-system:breakwater
can() { [ "$(kubectl auth can-i "$@" --as=$sa 2>/dev/null)" = yes ]; }
check "the operator may watch Services cluster-wide" can watch services.breakwater.io -A
check "and patch their status" can patch services.breakwater.io --subresource=status -n shop
check "and apply Deployments" can patch deployments.apps -n shop
check "and record events" can create events -n shop
check "and hold its lease" can update leases.coordination.k8s.io -n breakwater-system
check "but may not read Secrets outside its namespace" bash -c "[ \"\$('$state/bin/kubectl' auth can-i get secrets -n shop --as=$sa)\" = no ]"
check "nor delete namespaces" bash -c "[ \"\$('$state/bin/kubectl' auth can-i delete namespaces --as=$sa)\" = no ]"

# --- the operator as its ServiceAccount ---
# can-i above samples a few rules; this runs the whole operator (cluster-wide,
# leader election, webhook and its certificates, the shop) with the
# ServiceAccount's token, so a rule it lacks shows as a 403 in its log.
sa_kc=$(mktemp)
ns=bw-test-rbac-$$
name=breakwater-e2e-rbac-$$
trap 'stop_operator; kubectl delete -k "$top/manifests/base" --wait=false >/dev/null 2>&1
	kubectl delete mutatingwebhookconfiguration,validatingwebhookconfiguration $name --ignore-not-found >/dev/null 2>&1
	kubectl delete namespace $ns --wait=false >/dev/null 2>&1; rm -f "$sa_kc"' EXIT
token=$(kubectl -n breakwater-system create token breakwater --duration=10m)
kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' |
	base64 -d >"$sa_kc.ca"
kubectl --kubeconfig "$sa_kc" config set-cluster local --embed-certs --certificate-authority "$sa_kc.ca" \
	--server "$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')" >/dev/null
rm -f "$sa_kc.ca"
kubectl --kubeconfig "$sa_kc" config set-credentials breakwater --token "$token" >/dev/null
kubectl --kubeconfig "$sa_kc" config set-context sa --cluster local --user breakwater >/dev/null
kubectl --kubeconfig "$sa_kc" config use-context sa >/dev/null
check "the token is the ServiceAccount's" bash -c \
	"'$state/bin/kubectl' --kubeconfig '$sa_kc' auth whoami -o jsonpath='{.status.userInfo.username}' | grep -qx '$sa'"

KUBECONFIG=$sa_kc launch_operator rbac --leader-elect=true --operator-namespace breakwater-system \
	--webhook-name "$name" --repair-pods
check "as the ServiceAccount, the operator syncs its caches and becomes ready" \
	eventually 60 curl -sf "http://127.0.0.1:$op_health/readyz"
check "with the ServiceAccount's kubeconfig" grep -q "API server .* (sa)" "$op_log"
check "it leads, on a Lease in its own namespace" eventually 30 bash -c \
	"'$state/bin/kubectl' -n breakwater-system get lease breakwater-leader -o jsonpath='{.spec.holderIdentity}' | grep -q ."
check "it keeps its certificate in a Secret there" eventually 30 \
	kubectl -n breakwater-system get secret "$name-webhook-tls"
check "and registers its webhooks" eventually 30 bash -c \
	"'$state/bin/kubectl' get validatingwebhookconfiguration $name -o jsonpath='{.webhooks[0].clientConfig.caBundle}' | grep -q ."

kubectl create namespace "$ns" >/dev/null
kubectl label namespace "$ns" breakwater.io/inject=enabled >/dev/null
apply_shop() { # the shop's resources, in $ns
	local f
	for f in "$top"/examples/shop/[1-9]*.yaml; do
		echo ---
		sed "s/namespace: shop/namespace: $ns/" "$f"
	done | kubectl apply -f - >/dev/null
}
check "the shop applies through its webhooks" apply_shop
check_eq "four Services" 4 "$(kubectl -n "$ns" get bsvc -o name | wc -l)"
check "every Service becomes Ready" kubectl -n "$ns" wait --for=condition=Ready bsvc --all --timeout=90s
check "its pods are injected" eventually 30 bash -c \
	"'$state/bin/kubectl' -n $ns get pods -l breakwater.io/service=orders -o json | jq -e '.items != [] and all(.items[]; .spec.containers[0].env | any(.name == \"USERS_SERVICE_URL\"))' >/dev/null"
check "the registry ConfigMap is written" eventually 30 bash -c \
	"'$state/bin/kubectl' -n $ns get configmap breakwater-registry -o jsonpath='{.data.registry\.json}' | jq -e '.services.orders' >/dev/null"
check "the Breakers report their clients" eventually 30 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get brk payments -o jsonpath='{.status.clients}')\" != '' ]"
check "events are recorded" eventually 30 bash -c \
	"'$state/bin/kubectl' -n $ns get events --field-selector reason=RolloutCompleted -o name | grep -q ."
# RBAC's refusals only: a namespace another test is deleting refuses writes
# with 403 too ("being terminated"), which no rule could grant
check "no request was refused by RBAC" bash -c "! grep -m3 'is forbidden: User ' '$op_log'"
stop_operator
check_eq "SIGTERM stops it cleanly" 0 "$?"
check_operator_log
