#!/usr/bin/env bash
# spec.autoscaling and spec.disruptionBudget (issue 11, item 4), end to end on
# the local control plane, with the HPA controller of kube-controller-manager
# and no metrics API: the HPA keeps the replica count within minReplicas and
# maxReplicas before it reads any metric (a count below the minimum is
# raised, one above the maximum lowered), so it drives the breakwater
# Service's scale subresource here as it does from metrics. The
# metrics-driven run (metrics-server scraping kwok's emulated usage) is
# tests/autoscaling/metrics.sh (the e2e suite's last script, which
# unregisters metrics.k8s.io when it ends; `make test-autoscaling-metrics`).
#
# A Service with autoscaling min 2 max 4 and a disruption budget gets an HPA
# and a PDB it controls; the HPA targets the breakwater Service's scale
# subresource, raises spec.replicas from 1 to 2 and lowers it from 6 to 4
# through /scale; the operator scales the Deployment, kwok runs the pods. The
# Deployment's replicas keep one manager (breakwater): nobody fights over
# them. Removing the fields deletes both objects; an HPA or PDB of the same
# name that the Service does not control is never taken over
# (OwnershipConflict).
. "$(dirname "$0")/../lib.sh"

install_crds || { not_ok "the CRDs are installed"; exit 1; }
use_namespace hpa
trap cleanup_operator EXIT
start_operator "$ns"
t0=$SECONDS

get() { kubectl -n "$ns" get "$@" 2>/dev/null; }
jp() { get "$1" "$2" -o jsonpath="$3"; }
kubectl -n "$ns" apply -f - >/dev/null <<'EOF'
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: web}
spec:
  image: registry.local/shop/web:1.0.0
  port: 8000
  replicas: 1
  resources: {requests: {cpu: 100m, memory: 64Mi}}
  autoscaling:
    minReplicas: 2
    maxReplicas: 4
    metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
    behavior:
      scaleUp: {stabilizationWindowSeconds: 0}
      scaleDown:
        stabilizationWindowSeconds: 0
        policies: [{type: Percent, value: 100, periodSeconds: 5}]
  disruptionBudget: {maxUnavailable: 1}
EOF

check "the Service becomes Ready" kubectl -n "$ns" wait --for=condition=Ready bsvc/web --timeout=60s
check "its HPA is written" eventually 30 get hpa web
check_eq "the HPA targets the breakwater Service's scale subresource, not the Deployment" \
	"breakwater.io/v1alpha1 Service web" \
	"$(jp hpa web '{.spec.scaleTargetRef.apiVersion} {.spec.scaleTargetRef.kind} {.spec.scaleTargetRef.name}')"
check_eq "the HPA is controlled by the Service" "Service web true" \
	"$(jp hpa web '{.metadata.ownerReferences[0].kind} {.metadata.ownerReferences[0].name} {.metadata.ownerReferences[0].controller}')"
check_eq "min, max and the CPU target" "2 4 50" \
	"$(jp hpa web '{.spec.minReplicas} {.spec.maxReplicas} {.spec.metrics[0].resource.target.averageUtilization}')"
check_eq "its PDB selects the Service's pods" "web 1 Service" \
	"$(jp pdb web '{.spec.selector.matchLabels.breakwater\.io/service} {.spec.maxUnavailable} {.metadata.ownerReferences[0].kind}')"

check "below minReplicas: the HPA raises the Service's spec.replicas to 2 through /scale" eventually 60 \
	bash -c "[ \"\$('$state/bin/kubectl' -n $ns get bsvc web -o jsonpath='{.spec.replicas}')\" = 2 ]"
check "the operator scales the Deployment and kwok runs 2 ready pods" eventually 60 \
	bash -c "[ \"\$('$state/bin/kubectl' -n $ns get deploy web -o jsonpath='{.spec.replicas} {.status.readyReplicas}')\" = '2 2' ]"
check "the Service's status follows" eventually 30 \
	bash -c "[ \"\$('$state/bin/kubectl' -n $ns get bsvc web -o jsonpath='{.status.readyReplicas}')\" = 2 ]"
echo "# scaled up to the minimum after $((SECONDS - t0))s"
check_eq "the HPA wrote spec.replicas through the scale subresource" scale \
	"$(get bsvc web --show-managed-fields -o json | jq -r '[.metadata.managedFields[] | select(.fieldsV1["f:spec"]["f:replicas"] != null) | .subresource // empty] | first // ""')"
check_eq "the Deployment's replicas have one manager, breakwater (no fight)" breakwater \
	"$(get deploy web --show-managed-fields -o json | jq -r '[.metadata.managedFields[] | select(.fieldsV1["f:spec"]["f:replicas"] != null) | .manager] | join(",")')"

kubectl -n "$ns" scale bsvc web --replicas=6 >/dev/null
t1=$SECONDS
check "above maxReplicas (scaled to 6 by hand): the HPA lowers spec.replicas to 4" eventually 90 \
	bash -c "[ \"\$('$state/bin/kubectl' -n $ns get bsvc web -o jsonpath='{.spec.replicas} {.status.replicas}')\" = '4 4' ]"
check "the Deployment follows" eventually 60 \
	bash -c "[ \"\$('$state/bin/kubectl' -n $ns get deploy web -o jsonpath='{.spec.replicas} {.status.readyReplicas}')\" = '4 4' ]"
echo "# back within maxReplicas after $((SECONDS - t1))s"

# an edit of the fields reaches the objects
kubectl -n "$ns" patch bsvc web --type=merge \
	-p '{"spec":{"autoscaling":{"maxReplicas":3},"disruptionBudget":{"maxUnavailable":null,"minAvailable":"50%"}}}' >/dev/null
check "maxReplicas edited: the HPA follows" eventually 30 \
	bash -c "[ \"\$('$state/bin/kubectl' -n $ns get hpa web -o jsonpath='{.spec.maxReplicas}')\" = 3 ]"
check "and lowers spec.replicas to the new maximum, 3" eventually 60 \
	bash -c "[ \"\$('$state/bin/kubectl' -n $ns get bsvc web -o jsonpath='{.spec.replicas}')\" = 3 ]"
check_eq "minAvailable replaces maxUnavailable in the PDB" "50% " \
	"$(jp pdb web '{.spec.minAvailable} {.spec.maxUnavailable}')"

# removing the fields deletes both; spec.replicas stays what the HPA left
kubectl -n "$ns" patch bsvc web --type=json \
	-p '[{"op":"remove","path":"/spec/autoscaling"},{"op":"remove","path":"/spec/disruptionBudget"}]' >/dev/null
check "autoscaling removed: the HPA goes" eventually 30 bash -c "! '$state/bin/kubectl' -n $ns get hpa web 2>/dev/null"
check "disruptionBudget removed: the PDB goes" eventually 30 bash -c "! '$state/bin/kubectl' -n $ns get pdb web 2>/dev/null"
check_eq "spec.replicas stays what the HPA left (3, its last maxReplicas)" 3 "$(jp bsvc web '{.spec.replicas}')"

# never take over an HPA or PDB of the same name that is not ours
kubectl -n "$ns" apply -f - >/dev/null <<'EOF'
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: api}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: someone-elses}
  minReplicas: 2
  maxReplicas: 9
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: api}
spec:
  selector: {matchLabels: {app: someone-elses}}
  minAvailable: 1
EOF
kubectl -n "$ns" apply -f - >/dev/null <<'EOF'
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: api}
spec:
  image: registry.local/shop/api:1.0.0
  autoscaling: {minReplicas: 1, maxReplicas: 4}
EOF
check "a foreign HPA of the same name: Ready False, OwnershipConflict" eventually 30 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get bsvc api -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason}')\" = OwnershipConflict ]"
check "the message names the HPA" bash -c \
	"'$state/bin/kubectl' -n $ns get bsvc api -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].message}' | grep -q HorizontalPodAutoscaler"
check_eq "the foreign HPA is left as it was" "Deployment someone-elses 9 " \
	"$(jp hpa api '{.spec.scaleTargetRef.kind} {.spec.scaleTargetRef.name} {.spec.maxReplicas} {.metadata.ownerReferences}')"
kubectl -n "$ns" patch bsvc api --type=merge -p '{"spec":{"autoscaling":null,"disruptionBudget":{"minAvailable":1}}}' >/dev/null
check "a foreign PDB of the same name: OwnershipConflict naming it" eventually 30 bash -c \
	"'$state/bin/kubectl' -n $ns get bsvc api -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].message}' | grep -q PodDisruptionBudget"
check_eq "the foreign PDB is left as it was" "someone-elses 1 " \
	"$(jp pdb api '{.spec.selector.matchLabels.app} {.spec.minAvailable} {.metadata.ownerReferences}')"
check "the foreign HPA is not deleted when autoscaling is removed" get hpa api
kubectl -n "$ns" delete pdb api >/dev/null
check "once it is gone the Service converges" kubectl -n "$ns" wait --for=condition=Ready bsvc/api --timeout=30s
check_eq "with its own PDB" "Service" "$(jp pdb api '{.metadata.ownerReferences[0].kind}')"

echo "# run time $((SECONDS - t0))s"
stop_operator
check_operator_log
