#!/usr/bin/env bash
# A breakwater Service never takes over an object it does not own (issue 8,
# finding 3). For each kind it writes (Deployment, core Service, Ingress), an
# unrelated object of the same name exists first: the breakwater Service must
# leave it exactly as it was (no selector change, no ownerReference), report
# Ready=False reason OwnershipConflict naming it, record an Event, write none
# of its other objects; deleting the breakwater Service must leave the victim
# alive; and once the victim is deleted the breakwater Service converges.
. "$(dirname "$0")/../lib.sh"

install_crds || { not_ok "the CRDs are installed"; exit 1; }
use_namespace own
trap cleanup_operator EXIT
start_operator "$ns"

get() { kubectl -n "$ns" get "$@" 2>/dev/null; }
reason() { get bsvc "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}'; }
message() { get bsvc "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].message}'; }
is_reason() { [ "$(reason "$1")" == "$2" ]; }
# what must not change in a victim: spec, owners, labels, annotations
shape() { get "$1" "$2" -o json | jq -cS '{spec, o: .metadata.ownerReferences, l: .metadata.labels, a: .metadata.annotations}'; }
bsvc() {
	cat <<EOF | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: $1}
spec:
  image: registry.local/shop/web:1.0.0
  port: 8000
  env: [{name: MODE, value: test}]
  route: {pathPrefix: /$1/}
EOF
}

victim_deployment() {
	cat <<EOF | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1, labels: {app: legacy}}
spec:
  replicas: 1
  selector: {matchLabels: {app: legacy-$1}}
  template:
    metadata: {labels: {app: legacy-$1}}
    spec: {containers: [{name: legacy, image: registry.local/legacy:7}]}
EOF
}
victim_service() {
	cat <<EOF | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: v1
kind: Service
metadata: {name: $1, labels: {app: legacy}}
spec:
  selector: {app: legacy-$1}
  ports: [{name: web, port: 80, targetPort: 8080}]
EOF
}
victim_ingress() {
	cat <<EOF | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: $1, labels: {app: legacy}}
spec:
  rules:
  - http:
      paths:
      - {path: /legacy-$1/, pathType: Prefix, backend: {service: {name: legacy, port: {number: 80}}}}
EOF
}

declare -A Kind=([deployment]=Deployment [service]=Service [ingress]=Ingress)
kinds=(deployment service ingress)

# The victims first, then breakwater Services of the same names.
for k in "${kinds[@]}"; do "victim_$k" "own-$k"; done
# the deployment controller annotates the victim Deployment with its
# revision (part of the shape) and observes it; its status never moves the
# shape
victim_observed() {
	get deployment own-deployment -o json | jq -e '.metadata.annotations["deployment.kubernetes.io/revision"] != null
		and .status.observedGeneration == .metadata.generation' >/dev/null
}
check "the victim Deployment is observed by its controller" eventually 30 victim_observed
declare -A before
for k in "${kinds[@]}"; do before[$k]=$(shape "$k" "own-$k"); done
for k in "${kinds[@]}"; do bsvc "own-$k"; done

for k in "${kinds[@]}"; do
	n=own-$k
	check "$k: the breakwater Service reports OwnershipConflict" eventually 30 is_reason "$n" OwnershipConflict
	check_eq "$k: Ready is False" False "$(get bsvc "$n" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')"
	msg=$(message "$n")
	check "$k: the message names the object ($msg)" grep -qF "${Kind[$k]} $ns/$n exists and is not controlled by this Service" <<<"$msg"
	check "$k: a Warning Event OwnershipConflict is recorded" eventually 15 bash -c \
		"'$state/bin/kubectl' -n '$ns' get events --field-selector involvedObject.kind=Service,involvedObject.name=$n,reason=OwnershipConflict,type=Warning -o name | grep -q ."
	check_eq "$k: the victim is unchanged (spec, owners, labels, annotations)" "${before[$k]}" "$(shape "$k" "$n")"
	for other in "${kinds[@]}"; do
		[ "$other" == "$k" ] && continue
		check_eq "$k: no $other was written either" "" "$(get "$other" "$n" -o name)"
	done
done
check_eq "the Service victim's selector is its own" "{\"app\":\"legacy-own-service\"}" \
	"$(get service own-service -o jsonpath='{.spec.selector}')"

# Deleting the breakwater Services leaves the victims alive: they never got
# an ownerReference, so the garbage collector has nothing to follow.
# A canary the Service does own shows when the garbage collector has acted.
cat <<EOF | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: v1
kind: ConfigMap
metadata:
  name: gc-canary
  ownerReferences:
  - {apiVersion: breakwater.io/v1alpha1, kind: Service, name: own-deployment, uid: "$(get bsvc own-deployment -o jsonpath='{.metadata.uid}')"}
EOF
kubectl -n "$ns" delete bsvc own-deployment own-service own-ingress --wait=true --timeout=30s >/dev/null
check "the garbage collector acts on the deletion (an object the Service owns goes)" eventually 60 \
	bash -c "! '$state/bin/kubectl' -n '$ns' get configmap gc-canary 2>/dev/null"
for k in "${kinds[@]}"; do
	check_eq "$k: the victim survives the breakwater Service's deletion" "${before[$k]}" "$(shape "$k" "own-$k")"
done

# With the victim gone, the breakwater Service converges (it looks again on
# its own: nothing watches the foreign objects).
for k in "${kinds[@]}"; do bsvc "own-$k"; done
for k in "${kinds[@]}"; do
	check "$k: in conflict again" eventually 30 is_reason "own-$k" OwnershipConflict
	kubectl -n "$ns" delete "$k" "own-$k" --wait=true --timeout=30s >/dev/null
done
for k in "${kinds[@]}"; do
	n=own-$k
	check "$k: Ready once the victim is gone" kubectl -n "$ns" wait --for=condition=Ready "bsvc/$n" --timeout=90s
	uid=$(get bsvc "$n" -o jsonpath='{.metadata.uid}')
	for o in "${kinds[@]}"; do
		check_eq "$k: the $o is controlled by the breakwater Service" "$uid true" \
			"$(get "$o" "$n" -o json | jq -r '.metadata.ownerReferences[]? | select(.controller) | "\(.uid) \(.controller)"')"
	done
done

# A missing object is created by an apply that cannot update (write_owned()
# in operator/service_controller.c): it carries resourceVersion "1", which
# the API server drops on a create and checks on an update. What the
# operator relies on, tried on the API server itself: the same apply, with
# force, is refused on an object made since (so a Service made by someone
# between the operator's GET and its write is not taken over), and creates
# one that is absent.
rv1() {
	kubectl -n "$ns" apply --server-side --force-conflicts --field-manager=breakwater -f - <<EOF
apiVersion: v1
kind: ConfigMap
metadata: {name: $1, resourceVersion: "1"}
data: {owner: breakwater}
EOF
}
kubectl -n "$ns" create configmap made-meanwhile --from-literal=owner=someone-else >/dev/null
out=$(rv1 made-meanwhile 2>&1 | head -n 1)
check "an apply with resourceVersion 1 is refused on an existing object ($out)" grep -q 'the object has been modified' <<<"$out"
check_eq "... which keeps its data" someone-else "$(get configmap made-meanwhile -o jsonpath='{.data.owner}')"
check "and creates an absent one" rv1 absent-before
check_eq "... as the apply's: its manager's operation is Apply" "breakwater/Apply" \
	"$(get configmap absent-before -o json --show-managed-fields | jq -r '.metadata.managedFields[] | "\(.manager)/\(.operation)"')"

# The objects are the apply's from the start: a field the operator stops
# setting is removed (were a create's managed-fields entry there, as with a
# plain create, it would stay, owned by that entry).
for k in "${kinds[@]}"; do
	check_eq "$k: the operator's managed fields are the apply's" "breakwater/Apply" \
		"$(get "$k" "own-$k" -o json --show-managed-fields |
			jq -r '[.metadata.managedFields[] | select(.manager=="breakwater" and (.subresource // "") == "") | "\(.manager)/\(.operation)"] | join(" ")')"
done
kubectl -n "$ns" patch bsvc own-deployment --type=json -p '[{"op":"remove","path":"/spec/env"}]' >/dev/null
has_no_env() { [ -z "$(get deployment own-deployment -o jsonpath='{.spec.template.spec.containers[0].env[?(@.name=="MODE")].value}')" ]; }
check "an env variable removed from the spec leaves the Deployment" eventually 30 has_no_env

stop_operator
check_operator_log
