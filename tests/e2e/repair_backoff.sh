#!/usr/bin/env bash
# --repair-pods backs off while the webhook stays away: pods that missed the
# injection are restarted at once, their successors (which miss it too) only
# 15 s later, and so on, doubling; once the webhook is back, the next restart
# injects them and status.podsRestarts goes.
. "$(dirname "$0")/../lib.sh"

install_crds || { not_ok "the CRDs are installed"; exit 1; }
use_namespace backoff
trap cleanup_operator EXIT
kubectl label namespace "$ns" breakwater.io/inject=enabled >/dev/null
get() { kubectl -n "$ns" get "$@" 2>/dev/null; }
restarts() { get bsvc web -o jsonpath='{.status.podsRestarts}'; }
restarted_at() { get bsvc web -o jsonpath='{.status.podsRestartedAt}'; }

# no webhook at all: every pod misses the injection
start_operator "$ns" --repair-pods --webhook-port 0
cat <<YAML | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: web}
spec: {image: "registry.local/web:1", replicas: 2}
YAML
check "pods that missed the injection are restarted at once" eventually 30 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get bsvc web -o jsonpath='{.status.podsRestarts}')\" = 1 ]"
first=$(restarted_at)
check "their successors miss it too, and are restarted again" eventually 40 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get bsvc web -o jsonpath='{.status.podsRestarts}')\" = 2 ]"
second=$(restarted_at)
gap=$(($(date -d "$second" +%s) - $(date -d "$first" +%s)))
echo "# restarts at $first and $second: ${gap}s apart"
check "but only 15 s later" test "$gap" -ge 15
# a restart is one change of the pod template: a status write that had not
# reached the cache yet once made the operator flip it back and forth
check_eq "each restart changed the pod template once (generation 1 + 2 restarts)" 3 \
	"$(get deployment web -o jsonpath='{.metadata.generation}')"
check "and it says so in an Event" bash -c \
	"'$state/bin/kubectl' -n $ns get events --field-selector involvedObject.name=web,reason=PodsRestarted -o name | grep -q ."
# the second restart's pods exist, without injection, before the webhook comes
# back: only a third restart can repair them
check "the second restart's rollout completes" kubectl -n "$ns" rollout status deployment/web --timeout=60s
check "and its pods lack the injection too" eventually 30 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get bsvc web -o jsonpath='{.status.pods.stale}/{.status.pods.configured}')\" = 2/0 ]"
stop_operator
check_operator_log

# the webhook is back: the next restart (30 s after the second) injects them
start_operator "$ns" --repair-pods
check "with the webhook back, the next restart injects every pod" eventually 60 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get bsvc web -o jsonpath='{.status.pods.stale}/{.status.pods.configured}')\" = 0/2 ]"
check_eq "and status.podsRestarts is gone" "" "$(restarts)"
third=$(restarted_at)
echo "# third restart at $third"
check "that took a third restart" test "$third" != "$second"
check "which came no sooner than the back-off allowed" bash -c \
	"[ \$((\$(date -d \"\$('$state/bin/kubectl' -n $ns get bsvc web -o jsonpath='{.status.podsRestartedAt}')\" +%s) - $(date -d "$second" +%s))) -ge 30 ]"
stop_operator
check_operator_log
