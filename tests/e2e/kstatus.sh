#!/usr/bin/env bash
# What GitOps tools read of a Service, computed by the kstatus library of
# sigs.k8s.io/cli-utils itself (tests/kstatus/) from the live object: Current
# when Ready, InProgress during a rollout (and while paused), Failed once a
# rollout past its progress deadline is rolled back, Current again after a
# good image; Failed for an ownership conflict, Current once it is resolved;
# every condition a valid metav1.Condition at each step; and
# kubectl wait --for=condition=Ready as before.
. "$(dirname "$0")/../lib.sh"

tool=$("$top/tests/kstatus/build.sh") || { not_ok "the kstatus tool builds"; exit 1; }
install_crds || { not_ok "the CRDs are installed"; exit 1; }
use_namespace kstatus
trap cleanup_operator EXIT
start_operator "$ns"

# ks NAME: "STATUS: message" of the live Service; fails when a condition is
# not a valid metav1.Condition
ks() { kubectl -n "$ns" get bsvc "$1" -o json | "$tool"; }
# reads NAME PATTERN: kstatus's answer matches PATTERN (and conditions are valid)
reads() { local out; out=$(ks "$1") && [[ $out =~ $2 ]]; }
cond() { kubectl -n "$ns" get bsvc "$1" -o jsonpath="{.status.conditions[?(@.type==\"$2\")].$3}"; }
set_spec() { kubectl -n "$ns" patch bsvc "$1" --type=merge -p "$2" >/dev/null; }

cat <<EOF | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: pay}
spec:
  image: registry.local/shop/pay:1.0.0
  replicas: 2
  rollout: {progressDeadlineSeconds: 12}
EOF
check "kubectl wait --for=condition=Ready returns once rolled out" \
	kubectl -n "$ns" wait --for=condition=Ready bsvc/pay --timeout=60s
check "Ready: kstatus reads Current" eventually 10 reads pay '^Current: '
check_eq "Reconciling and Stalled are False" "False False" "$(cond pay Reconciling status) $(cond pay Stalled status)"
check_eq "conditions carry the generation they were computed for" \
	"$(kubectl -n "$ns" get bsvc pay -o jsonpath='{.metadata.generation}')" "$(cond pay Stalled observedGeneration)"

bad=registry.local/shop/pay:2.0.0-never-ready
set_spec pay "{\"spec\":{\"image\":\"$bad\"}}"
check "a rollout under way: kstatus reads InProgress, saying what rolls out" \
	eventually 8 reads pay "^InProgress: rolling out $bad"
check_eq "Reconciling is True meanwhile" "True RolloutInProgress" "$(cond pay Reconciling status) $(cond pay Reconciling reason)"
check "kubectl wait --for=condition=Ready does not pass during it" \
	bash -c "! '$state/bin/kubectl' -n $ns wait --for=condition=Ready bsvc/pay --timeout=2s"
check "past the deadline and rolled back: kstatus reads Failed" eventually 60 reads pay '^Failed: rollout of .*rolled back'
check_eq "Stalled is True with reason RolledBack" "True RolledBack" "$(cond pay Stalled status) $(cond pay Stalled reason)"
check_eq "Reconciling is False" False "$(cond pay Reconciling status)"
check "kubectl wait --for=condition=Stalled returns" \
	kubectl -n "$ns" wait --for=condition=Stalled bsvc/pay --timeout=5s
check "the rolled-back pods become available" eventually 60 \
	bash -c "[ \"\$('$state/bin/kubectl' -n $ns get deployment pay -o jsonpath='{.status.availableReplicas}')\" = 2 ]"
check "and it still reads Failed (until spec.image changes)" reads pay '^Failed: '

set_spec pay '{"spec":{"image":"registry.local/shop/pay:2.0.1"}}'
check "a good image: kubectl wait --for=condition=Ready returns" \
	kubectl -n "$ns" wait --for=condition=Ready bsvc/pay --timeout=60s
check "and kstatus reads Current again" eventually 10 reads pay '^Current: '
check_eq "Stalled is False again" False "$(cond pay Stalled status)"

# Paused with a new image: not rolled out, nothing works towards it:
# InProgress (by Ready False), neither Reconciling nor Stalled True.
set_spec pay '{"spec":{"paused":true,"image":"registry.local/shop/pay:2.0.2"}}'
check "paused with a new image: kstatus reads InProgress" eventually 10 reads pay '^InProgress: rollouts are paused'
check_eq "Reconciling False Paused, Stalled False" "False Paused False" \
	"$(cond pay Reconciling status) $(cond pay Reconciling reason) $(cond pay Stalled status)"
set_spec pay '{"spec":{"paused":false}}'
check "resumed: Current once rolled out" eventually 60 reads pay '^Current: '

# An ownership conflict (a Deployment of its name that it does not own) needs
# someone to act: Failed, naming the object; Current once it is gone.
cat <<EOF | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: apps/v1
kind: Deployment
metadata: {name: taken}
spec:
  replicas: 1
  selector: {matchLabels: {app: legacy}}
  template:
    metadata: {labels: {app: legacy}}
    spec: {containers: [{name: legacy, image: registry.local/legacy:7}]}
EOF
cat <<EOF | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: taken}
spec: {image: registry.local/shop/taken:1.0.0}
EOF
check "an ownership conflict: kstatus reads Failed, naming the Deployment" \
	eventually 20 reads taken '^Failed: .*[Dd]eployment.*taken'
check_eq "Stalled True OwnershipConflict, Reconciling False" "True OwnershipConflict False" \
	"$(cond taken Stalled status) $(cond taken Stalled reason) $(cond taken Reconciling status)"
kubectl -n "$ns" delete deployment taken --wait=true >/dev/null
check "the Deployment deleted: Current once rolled out (rechecked within 10 s)" \
	eventually 60 reads taken '^Current: '

stop_operator
check_eq "SIGTERM stops the operator cleanly" 0 "$?"
check_operator_log
