#!/usr/bin/env bash
# A bad image (one kwok never makes ready, tests/cluster/kwok.yaml) with
# autoRollback: the rollout exceeds its progress deadline, the Deployment is
# returned to the last good image, and status and an Event say so until the
# user changes spec.image. Without autoRollback the rollout is left alone and
# Ready says why.
. "$(dirname "$0")/../lib.sh"

install_crds || { not_ok "the CRDs are installed"; exit 1; }
use_namespace rollback
trap cleanup_operator EXIT
start_operator "$ns"

get() { kubectl -n "$ns" get "$@" 2>/dev/null; }
cond() { get bsvc "$1" -o jsonpath="{.status.conditions[?(@.type==\"$2\")].$3}"; }
deployed() { get deployment "$1" -o jsonpath='{.spec.template.spec.containers[0].image}'; }

service() { # NAME AUTOROLLBACK
	cat <<EOF | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: $1}
spec:
  image: registry.local/shop/$1:1.0.0
  replicas: 2
  rollout: {progressDeadlineSeconds: 60, autoRollback: $2}
EOF
}
# the bad image comes with a short deadline: the good rollouts keep a long
# one, which a slow step on a loaded machine cannot pass (the deadline is
# counted from a time of one-second resolution)
bad_image() { # NAME IMAGE
	kubectl -n "$ns" patch bsvc "$1" --type=merge \
		-p "{\"spec\":{\"image\":\"$2\",\"rollout\":{\"progressDeadlineSeconds\":5}}}" >/dev/null
}

service pay true
service slow false
check "a Service with autoRollback becomes Ready" kubectl -n "$ns" wait --for=condition=Ready bsvc/pay --timeout=60s
check "one without it too" kubectl -n "$ns" wait --for=condition=Ready bsvc/slow --timeout=60s

bad=registry.local/shop/pay:2.0.0-never-ready
t_bad=$(audit_now)
bad_image pay "$bad"
bad_image slow registry.local/shop/slow:2.0.0-never-ready
# The Deployment runs the bad image for about the 5 s deadline only: a poll
# of it may come too late on a loaded machine (it did, at load 28). Its
# ReplicaSet stays as the Deployment's history, so that is what is checked.
check "the bad image is rolled out first (a ReplicaSet of it)" eventually 20 bash -c \
	"'$state/bin/kubectl' -n $ns get replicasets -l breakwater.io/service=pay -o jsonpath='{..image}' | grep -qF '$bad'"
check "after the deadline it is rolled back to the last good image" eventually 90 \
	bash -c "[ \"\$('$state/bin/kubectl' -n $ns get deployment pay -o jsonpath='{.spec.template.spec.containers[0].image}')\" = registry.local/shop/pay:1.0.0 ]"
check "Ready is False with reason RolledBack" eventually 30 \
	bash -c "[ \"\$('$state/bin/kubectl' -n $ns get bsvc pay -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason}')\" = RolledBack ]"
check "the message names the failed image" grep -q "$bad" <<<"$(cond pay Ready message)"
check_eq "the RolledBack condition is True" True "$(cond pay RolledBack status)"
check_eq "status.failedImage names it" "$bad" "$(get bsvc pay -o jsonpath='{.status.failedImage}')"
check_eq "status.image stays the good one" registry.local/shop/pay:1.0.0 "$(get bsvc pay -o jsonpath='{.status.image}')"
# events are sent by the recorder's own thread, not ordered with the status
check "a Warning event RolledBack names the image" eventually 15 bash -c \
	"'$state/bin/kubectl' -n $ns get events --field-selector involvedObject.name=pay,reason=RolledBack,type=Warning -o jsonpath='{.items[*].message}' | grep -q never-ready"
check "the rolled-back pods become available again" eventually 60 \
	bash -c "[ \"\$('$state/bin/kubectl' -n $ns get deployment pay -o jsonpath='{.status.availableReplicas}')\" = 2 ]"
# a flip-flop back to the bad image would keep it writing
check "the operator settles (no request for 3 s)" eventually 60 audit_quiet "$ns" "$t_bad"
check_eq "it stays rolled back while spec.image is unchanged" registry.local/shop/pay:1.0.0 "$(deployed pay)"
check_eq "and Ready stays False" "False RolledBack" "$(cond pay Ready status) $(cond pay Ready reason)"
check_eq "the Deployment changed exactly twice: the bad image, the rollback (no flip-flop)" 3 \
	"$(get deployment pay -o jsonpath='{.metadata.generation}')"

# Without autoRollback: left alone, and Ready says why.
check "without autoRollback Ready says the deadline passed" eventually 90 \
	bash -c "[ \"\$('$state/bin/kubectl' -n $ns get bsvc slow -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason}')\" = ProgressDeadlineExceeded ]"
check_eq "and the bad image stays deployed" registry.local/shop/slow:2.0.0-never-ready "$(deployed slow)"

# A new image ends the rollback.
kubectl -n "$ns" patch bsvc pay --type=merge \
	-p '{"spec":{"image":"registry.local/shop/pay:2.0.1","rollout":{"progressDeadlineSeconds":60}}}' >/dev/null
check "a new image rolls out and becomes Ready" kubectl -n "$ns" wait --for=condition=Ready bsvc/pay --timeout=60s
check_eq "failedImage is cleared" "" "$(get bsvc pay -o jsonpath='{.status.failedImage}')"
check_eq "the RolledBack condition is gone" "" "$(cond pay RolledBack status)"
check_eq "status.image is the new one" registry.local/shop/pay:2.0.1 "$(get bsvc pay -o jsonpath='{.status.image}')"
check_eq "lastGoodImage is the one it replaced" registry.local/shop/pay:1.0.0 "$(get bsvc pay -o jsonpath='{.status.lastGoodImage}')"

stop_operator
check_eq "SIGTERM stops the operator cleanly" 0 "$?"
check_operator_log
