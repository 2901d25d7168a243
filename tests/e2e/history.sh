#!/usr/bin/env bash
# A Service's history (issue 11): every template rolled out is a
# ControllerRevision owned by the Service (named <service>-<hash>, label
# breakwater.io/service, revision 1, 2, ...); status.currentRevision and
# status.updateRevision follow; a rollout that fails (an image kwok never
# makes ready, tests/cluster/kwok.yaml) together with an env change is rolled
# back to the whole last good template, env included; a template that comes
# back reuses its revision with the next number; revisionHistoryLimit prunes
# the oldest; spec.restartAt is a revision of its own; deleting the Service
# garbage-collects its revisions (kube-controller-manager's GC).
. "$(dirname "$0")/../lib.sh"

install_crds || { not_ok "the CRDs are installed"; exit 1; }
use_namespace history
trap cleanup_operator EXIT
start_operator "$ns"

get() { kubectl -n "$ns" get "$@" 2>/dev/null; }
st() { get bsvc hist -o jsonpath="{.status.$1}"; }
cond() { get bsvc hist -o jsonpath="{.status.conditions[?(@.type==\"$1\")].$2}"; }
# the revisions as "revision:name" lines, oldest first
revs() {
	get controllerrevisions -l breakwater.io/service=hist -o json |
		jq -r '.items | sort_by(.revision) | .[] | "\(.revision):\(.metadata.name)"'
}
rev_of() { revs | awk -F: -v n="$1" '$2 == n { print $1 }'; }
deployed() { # image and env A of the Deployment's template
	get deployment hist -o json | jq -r '.spec.template.spec.containers[0] |
		"\(.image) \(.env // [] | map(select(.name == "A")) | .[0].value)"'
}
ready() { kubectl -n "$ns" wait --for=condition=Ready bsvc/hist --timeout=60s >/dev/null; }
settled() { # Ready, and currentRevision == updateRevision
	ready && eventually 30 bash -c "[ \"\$('$state/bin/kubectl' -n $ns get bsvc hist -o \
		jsonpath='{.status.currentRevision}')\" = \"\$('$state/bin/kubectl' -n $ns get bsvc hist \
		-o jsonpath='{.status.updateRevision}')\" ]"
}
patch() { kubectl -n "$ns" patch bsvc hist --type=merge -p "$1" >/dev/null; }

cat <<EOF | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: hist}
spec:
  image: registry.local/shop/hist:1.0.0
  replicas: 2
  env: [{name: A, value: "1"}]
  rollout: {progressDeadlineSeconds: 60}
EOF
check "the Service becomes Ready" settled
r1=$(st currentRevision)
check "status.currentRevision names a revision <service>-<hash>" grep -Eq '^hist-[0-9a-f]{10}$' <<<"$r1"
check_eq "one ControllerRevision, revision 1, of that name" "1:$r1" "$(revs)"
uid=$(get bsvc hist -o jsonpath='{.metadata.uid}')
check_eq "owned by the Service (controller reference)" "Service $uid true" \
	"$(get controllerrevision "$r1" -o jsonpath='{.metadata.ownerReferences[0].kind} {.metadata.ownerReferences[0].uid} {.metadata.ownerReferences[0].controller}')"
check_eq "its data is the template: the spec (with the CRD's defaults) without replicas and rollout" \
	'{"env":[{"name":"A","value":"1"}],"image":"registry.local/shop/hist:1.0.0","port":8080}' \
	"$(get controllerrevision "$r1" -o json | jq -cS '.data.spec')"

# an env-only change is a rollout and a revision of its own
patch '{"spec":{"env":[{"name":"A","value":"2"}]}}'
check "an env change rolls out" eventually 30 bash -c "[ \"\$('$state/bin/kubectl' -n $ns get bsvc hist -o jsonpath='{.status.updateRevision}')\" != $r1 ]"
check "and completes" settled
r2=$(st currentRevision)
check "currentRevision moved to a new revision" test -n "$r2" -a "$r2" != "$r1"
patch '{"spec":{"image":"registry.local/shop/hist:1.1.0"}}'
check "an image change rolls out" eventually 30 bash -c "[ \"\$('$state/bin/kubectl' -n $ns get bsvc hist -o jsonpath='{.status.updateRevision}')\" != $r2 ]"
check "and completes" settled
r3=$(st currentRevision)
check_eq "three revisions, numbered 1..3 in rollout order" "1:$r1 2:$r2 3:$r3" "$(revs | tr '\n' ' ' | sed 's/ $//')"
check_eq "the Deployment runs the third" "registry.local/shop/hist:1.1.0 2" "$(deployed)"
check_eq "and says so" "$r3" "$(get deployment hist -o jsonpath='{.metadata.annotations.breakwater\.io/revision}')"
check_eq "replicas are no revision: a scale makes none" "3" \
	"$(patch '{"spec":{"replicas":3}}'; settled; revs | wc -l)"

# image and env change together, and the rollout fails: the whole template
# goes back. The short deadline only for this rollout: the good ones keep a
# long one, which a slow step on a loaded machine cannot pass (the deadline
# is counted from a time of one-second resolution)
bad=registry.local/shop/hist:2.0.0-never-ready
t_bad=$(audit_now)
patch "{\"spec\":{\"image\":\"$bad\",\"env\":[{\"name\":\"A\",\"value\":\"bad\"}],\"rollout\":{\"progressDeadlineSeconds\":5}}}"
check "the failing template is rolled out first" eventually 20 bash -c "[ \"\$('$state/bin/kubectl' -n $ns get deployment hist -o jsonpath='{.spec.template.spec.containers[0].image}')\" = $bad ]"
# the status is written after the Deployment: wait for it to name the new revision
check "status.updateRevision moves on" eventually 20 bash -c "[ \"\$('$state/bin/kubectl' -n $ns get bsvc hist -o jsonpath='{.status.updateRevision}')\" != $r3 ]"
r4=$(st updateRevision)
check_eq "it is revision 4" 4 "$(rev_of "$r4")"
check "Ready goes False RolledBack after the deadline" eventually 90 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get bsvc hist -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason}')\" = RolledBack ]"
check "the rollback restores image AND env of the last good revision" eventually 30 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get deployment hist -o json | jq -r '.spec.template.spec.containers[0] | \"\(.image) \(.env | map(select(.name == \"A\")) | .[0].value)\"')\" = 'registry.local/shop/hist:1.1.0 2' ]"
check_eq "currentRevision stays the last good one, updateRevision the failed one" "$r3 $r4 $r4" \
	"$(st currentRevision) $(st updateRevision) $(st failedRevision)"
check_eq "the Deployment says it runs the last good revision" "$r3" \
	"$(get deployment hist -o jsonpath='{.metadata.annotations.breakwater\.io/revision}')"
check "the rolled-back pods become available" eventually 60 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get deployment hist -o jsonpath='{.status.availableReplicas}')\" = 3 ]"
# a flip-flop back to the failed template would keep it writing
check "the operator settles (no request for 3 s)" eventually 30 audit_quiet "$ns" "$t_bad"
check_eq "it stays rolled back while the spec is unchanged" "registry.local/shop/hist:1.1.0 2" "$(deployed)"

# the user reverts the spec to revision 2's template: reused, numbered 5
patch '{"spec":{"image":"registry.local/shop/hist:1.0.0","env":[{"name":"A","value":"2"}],"rollout":{"progressDeadlineSeconds":60}}}'
check "a template that comes back rolls out" settled
check_eq "it is revision 2's, by name" "$r2" "$(st currentRevision)"
check_eq "with the next number, and no new ControllerRevision" "5 4" "$(rev_of "$r2") $(revs | wc -l)"
check_eq "failedRevision is cleared" "" "$(st failedRevision)"

# revisionHistoryLimit: 1 other revision besides the current one
patch '{"spec":{"revisionHistoryLimit":1}}'
check_eq "revisionHistoryLimit 1 prunes the oldest: the current and the newest other stay" \
	"4:$r4 5:$r2" "$(eventually 30 bash -c "[ \$('$state/bin/kubectl' -n $ns get controllerrevisions -l breakwater.io/service=hist -o name | wc -l) = 2 ]"; revs | tr '\n' ' ' | sed 's/ $//')"

# a restart is a new rollout of the same spec, and a revision
pods_before=$(get pods -l breakwater.io/service=hist -o jsonpath='{.items[*].metadata.name}')
patch '{"spec":{"restartAt":"2026-11-30T10:00:00Z"}}'
check "spec.restartAt rolls out" settled
r6=$(st currentRevision)
check_eq "as revision 6" 6 "$(rev_of "$r6")"
check_eq "the pod template carries breakwater.io/restartAt" "2026-11-30T10:00:00Z" \
	"$(get deployment hist -o jsonpath='{.spec.template.metadata.annotations.breakwater\.io/restartAt}')"
check "its pods are new ones" eventually 30 bash -c \
	"! '$state/bin/kubectl' -n $ns get pods -l breakwater.io/service=hist -o jsonpath='{.items[*].metadata.name}' | tr ' ' '\n' | grep -qxF -f <(tr ' ' '\n' <<<'$pods_before')"
check_eq "and the limit still holds" "5:$r2 6:$r6" "$(eventually 30 bash -c "[ \$('$state/bin/kubectl' -n $ns get controllerrevisions -l breakwater.io/service=hist -o name | wc -l) = 2 ]"; revs | tr '\n' ' ' | sed 's/ $//')"

kubectl -n "$ns" delete bsvc hist --wait=false >/dev/null
check "deleting the Service garbage-collects its revisions" eventually 60 bash -c \
	"[ -z \"\$('$state/bin/kubectl' -n $ns get controllerrevisions -l breakwater.io/service=hist -o name)\" ]"

stop_operator
check_eq "SIGTERM stops the operator cleanly" 0 "$?"
check_operator_log
