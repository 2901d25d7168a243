#!/usr/bin/env bash
# The cluster install renders and applies: namespace, RBAC, Deployment and
# Service are accepted by the real API server, and the Deployment's pods are
# scheduled (kwok plays the kubelet, so nothing runs the image itself). The
# ServiceAccount's RBAC allows what the operator does and no more: the whole
# operator runs with its token, and what the API server's audit log shows it
# did is compared with what rbac.yaml grants. Any refusal fails, and so does
# any grant never used unless manifests/base/rbac-unused-grants.txt says
# which code needs it. The table of both goes to build/test-logs/rbac-table.md.
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
check_eq "the base repairs pods that missed injection (docs/webhook.md: --repair-pods=false turns it off)" \
	"--repair-pods" \
	"$(kubectl kustomize "$top/manifests/base" | kubectl create --dry-run=client -f - -o json 2>&1 |
		jq -r 'select(.kind == "Deployment") // (.items[]? | select(.kind == "Deployment")) |
			.spec.template.spec.containers[0].args | map(select(startswith("--repair-pods"))) | join(" ")')"
# the breaker sidecar runs the operator's own image (one image for both)
same_image() { # RENDERED: "IMAGE PROXY-IMAGE" of the Deployment
	kubectl create --dry-run=client -f - -o json <<<"$1" 2>&1 |
		jq -r 'select(.kind == "Deployment") // (.items[]? | select(.kind == "Deployment")) |
			.spec.template.spec.containers[0] |
			"\(.image) \(.args | map(select(startswith("--proxy-image=")) | ltrimstr("--proxy-image=")) | join(""))"'
}
check_eq "the local overlay's sidecar image is the operator's" \
	"registry.local/breakwater/breakwater:dev registry.local/breakwater/breakwater:dev" "$(same_image "$local_render")"
check_eq "and the base's" \
	"registry.local/breakwater/breakwater:0.1.0 registry.local/breakwater/breakwater:0.1.0" \
	"$(same_image "$(kubectl kustomize "$top/manifests/base" 2>&1)")"
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
cannot() { [ "$(kubectl auth can-i "$@" --as=$sa 2>/dev/null)" = no ]; }
check "the operator may watch Services cluster-wide" can watch services.breakwater.io -A
check "and patch their status" can patch services.breakwater.io --subresource=status -n shop
check "and apply Deployments" can patch deployments.apps -n shop
check "and record events" can create events -n shop
check "and hold its lease" can update leases.coordination.k8s.io/breakwater-leader -n breakwater-system
check "but no other" cannot update leases.coordination.k8s.io/other -n breakwater-system
check "but may not get a Secret outside its namespace" cannot get secrets -n shop
check "nor other Secrets in its own" cannot get secrets/other -n breakwater-system
# config rollouts (docs/resources.md) list and watch every ConfigMap and
# Secret to hash their data; a get of one is never needed
check "it may list and watch Secrets and ConfigMaps (config rollouts)" bash -c \
	"[ \"\$('$state/bin/kubectl' auth can-i list secrets -A --as=$sa)\" = yes ] && [ \"\$('$state/bin/kubectl' auth can-i watch configmaps -A --as=$sa)\" = yes ]"
check "nor get ConfigMaps other than the registry by name" cannot get configmaps/app-config -n shop
check "nor patch another webhook configuration" cannot patch validatingwebhookconfigurations/other
check "nor delete Deployments" cannot delete deployments.apps -n shop
check "nor delete namespaces" cannot delete namespaces

# --- the operator as its ServiceAccount ---
# can-i above samples a few rules; this runs the whole operator (cluster-wide,
# leader election, webhook and its certificates, the shop) with the
# ServiceAccount's token, so a rule it lacks shows as a 403 in its log and in
# the audit log. It registers its webhooks under the manifests' name, the one
# its RBAC allows.
sa_kc=$(mktemp)
ns=bw-test-rbac-$$
name=breakwater
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

audit=$state/logs/audit.log
check "the API server keeps an audit log (restart an older cluster: cluster.sh down; cluster.sh up)" test -s "$audit"
since=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
# a serving certificate of 15 s is rotated after 10 s: the Secret is updated
KUBECONFIG=$sa_kc launch_operator rbac --leader-elect=true --operator-namespace breakwater-system \
	--webhook-name "$name" --repair-pods --webhook-cert-validity 15
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
# the code paths that remove what the operator made, and the rotation
secret_rv=$(kubectl -n breakwater-system get secret "$name-webhook-tls" -o jsonpath='{.metadata.resourceVersion}')
check "the rotated certificate is written to its Secret" eventually 40 bash -c \
	"[ \"\$('$state/bin/kubectl' -n breakwater-system get secret '$name-webhook-tls' -o jsonpath='{.metadata.resourceVersion}')\" != '$secret_rv' ]"
check "a route removed removes its Ingress" bash -c \
	"'$state/bin/kubectl' -n $ns patch bsvc users --type=json -p '[{\"op\":\"remove\",\"path\":\"/spec/route\"}]' >/dev/null"
check "the Ingress goes" eventually 30 bash -c "! '$state/bin/kubectl' -n $ns get ingress users 2>/dev/null"
# the HPA and PDB of a Service (operator/scaler.c): created, then removed
check "autoscaling and a disruption budget added to a Service" bash -c \
	"'$state/bin/kubectl' -n $ns patch bsvc orders --type=merge -p '{\"spec\":{\"autoscaling\":{\"minReplicas\":1,\"maxReplicas\":3},\"disruptionBudget\":{\"maxUnavailable\":1}}}' >/dev/null"
check "its HPA is written" eventually 30 kubectl -n "$ns" get hpa orders
check "its PDB is written" eventually 30 kubectl -n "$ns" get pdb orders
check "both removed" bash -c \
	"'$state/bin/kubectl' -n $ns patch bsvc orders --type=json -p '[{\"op\":\"remove\",\"path\":\"/spec/autoscaling\"},{\"op\":\"remove\",\"path\":\"/spec/disruptionBudget\"}]' >/dev/null"
check "the HPA goes" eventually 30 bash -c "! '$state/bin/kubectl' -n $ns get hpa orders 2>/dev/null"
check "the PDB goes" eventually 30 bash -c "! '$state/bin/kubectl' -n $ns get pdb orders 2>/dev/null"
kubectl -n "$ns" delete bsvc,brk --all --wait=false >/dev/null
check "when the last Service and Breaker go, so does the registry ConfigMap" eventually 30 bash -c \
	"! '$state/bin/kubectl' -n $ns get configmap breakwater-registry 2>/dev/null"
# RBAC's refusals only: a namespace another test is deleting refuses writes
# with 403 too ("being terminated"), which no rule could grant
check "no request was refused by RBAC" bash -c "! grep -m3 'is forbidden: User ' '$op_log'"
stop_operator
check_eq "SIGTERM stops it cleanly" 0 "$?"
check "and removes its webhook registrations (out of a cluster)" bash -c \
	"! '$state/bin/kubectl' get validatingwebhookconfiguration $name 2>/dev/null"
check_operator_log

# --- granted versus used ---
# What the ServiceAccount asked for since the operator started, from the
# audit log (and its rotated files), against every rule of the rendered
# ClusterRole and Role, expanded to one row per verb and resource.
used=$(cat "$state"/logs/audit*.log | grep -F "\"username\":\"$sa\"" | jq -c --arg sa "$sa" --arg since "$since" '
	select(.user.username == $sa and .requestReceivedTimestamp >= $since and .objectRef != null)
	| {group: (.objectRef.apiGroup // ""),
	   resource: (.objectRef.resource + (if .objectRef.subresource then "/" + .objectRef.subresource else "" end)),
	   ns: (.objectRef.namespace // ""), name: (.objectRef.name // ""), verb,
	   code: (.responseStatus.code // 0), message: (.responseStatus.message // "")}
	# a server-side apply that creates the object (201) needs create too
	| ., (select(.verb == "patch" and .code == 201) | .verb = "create")' | jq -s -c .)
rules=$(kubectl kustomize "$top/manifests/base" | kubectl create --dry-run=client -f - -o json |
	jq -s -c '[.[] | (.items // [.])[] | select(.kind == "ClusterRole" or .kind == "Role") | .kind as $kind
		| .metadata.namespace as $rns | .rules[] | .resourceNames as $names
		| .apiGroups[] as $g | .resources[] as $r | .verbs[] as $v
		| {scope: (if $kind == "Role" then $rns else "*" end), group: $g, resource: $r,
		   names: ($names // []), verb: $v}]')
unused_ok=$(grep -v '^#' "$top/manifests/base/rbac-unused-grants.txt" | awk 'NF >= 3 {
	g = $1 == "core" ? "" : $1; why = ""; for (i = 4; i <= NF; i++) why = why (i > 4 ? " " : "") $i
	printf "{\"group\":\"%s\",\"resource\":\"%s\",\"verb\":\"%s\",\"why\":\"%s\"}\n", g, $2, $3, why }' | jq -s -c .)
report=$(jq -n -c --argjson used "$used" --argjson rules "$rules" --argjson listed "$unused_ok" '
	def covers($u): .group == $u.group and .resource == $u.resource and .verb == $u.verb
		and (.scope == "*" or .scope == $u.ns) and (.names == [] or (.names | index($u.name)));
	# a 403 that is not RBAC: writes into a namespace being deleted
	def refused: .code == 403 and (.message | test("being terminated") | not);
	{rows: [$rules[] | . as $g | {grant: $g, uses: [$used[] | select(refused | not) | . as $u | select($g | covers($u))] | length,
		why: ([$listed[] | select(.group == $g.group and .resource == $g.resource and .verb == $g.verb) | .why] | first)}],
	 refused: [$used[] | select(refused)] | unique_by([.group, .resource, .verb, .ns, .name]),
	 ungranted: [$used[] | select(refused | not) | . as $u | select([$rules[] | covers($u)] | any | not)]
		| unique_by([.group, .resource, .verb])}')
{
	echo "| scope | apiGroup | resource | resourceNames | verb | requests | status |"
	echo "|---|---|---|---|---|---|---|"
	jq -r '.rows[] | "| \(if .grant.scope == "*" then "cluster" else .grant.scope end) | \(if .grant.group == "" then "core" else .grant.group end) | \(.grant.resource) | \(.grant.names | join(", ")) | \(.grant.verb) | \(.uses) | \(if .uses > 0 then "used" elif .why then "not requested: \(.why)" else "**UNUSED**" end) |"' <<<"$report"
	jq -r '.refused[] | "| \(.ns) | \(if .group == "" then "core" else .group end) | \(.resource) | \(.name) | \(.verb) | refused | **REFUSED** (\(.code)) |"' <<<"$report"
	jq -r '.ungranted[] | "| \(.ns) | \(if .group == "" then "core" else .group end) | \(.resource) | \(.name) | \(.verb) | allowed | **NOT IN rbac.yaml** |"' <<<"$report"
} >"$top/build/test-logs/rbac-table.md"
sed 's/^/# /' "$top/build/test-logs/rbac-table.md"
check "the audit log shows the ServiceAccount's requests" test "$(jq length <<<"$used")" -gt 20
check "the rendered ClusterRole and Role have rules" test "$(jq length <<<"$rules")" -gt 20
check "and they are compared" test "$(jq '.rows | length' <<<"$report")" = "$(jq length <<<"$rules")"
check_eq "no request of the ServiceAccount was refused" "" \
	"$(jq -r '.refused[] | "\(.verb) \(if .group == "" then "core" else .group end)/\(.resource) \(.ns)/\(.name): \(.code) \(.message)"' <<<"$report")"
check_eq "every grant is used, or listed in rbac-unused-grants.txt with the code that needs it" "" \
	"$(jq -r '.rows[] | select(.uses == 0 and .why == null) | .grant | "\(.verb) \(if .group == "" then "core" else .group end)/\(.resource) \(.names | join(",")) (\(.scope))"' <<<"$report")"
check_eq "every listed unused grant is a grant" "" \
	"$(jq -r --argjson rules "$rules" '.[] | . as $l | select([$rules[] | select(.group == $l.group and .resource == $l.resource and .verb == $l.verb)] | length == 0) | "\(.verb) \(if .group == "" then "core" else .group end)/\(.resource)"' <<<"$unused_ok")"
check_eq "everything it did is granted by rbac.yaml, not by some other role" "" \
	"$(jq -r '.ungranted[] | "\(.verb) \(if .group == "" then "core" else .group end)/\(.resource) \(.ns)/\(.name)"' <<<"$report")"
