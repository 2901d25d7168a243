#!/usr/bin/env bash
# kubectl breakwater end to end, through the real kubectl with the
# kubectl-breakwater link that `make install-bin` installs on PATH: status
# of a rolled-out Service (text within 80 columns, -o json through jq, the
# Breakers that apply), status --watch through a rollout (exit 0) and into
# Stalled (exit 1), pause/resume, restart (spec.restartAt), history and
# undo (default target, --to-revision, already there, a missing revision),
# the undo patch's resourceVersion refused when stale, and errors naming
# what is missing.
#
# History and undo run over the ControllerRevisions the operator writes
# (model/revision.h: name <service>-<hash of the template>, label
# breakwater.io/service, owned by the Service, data.spec = the template);
# the test computes the names as model/revision.c does (FNV-1a 64 of the
# template dumped compact with sorted keys, first 10 hex digits), and adds
# one revision owned by another object, which history must leave out.
. "$(dirname "$0")/../lib.sh"

install_crds || { not_ok "the CRDs are installed"; exit 1; }
use_namespace plugin
bindir=$(mktemp -d /tmp/bw-plugin-bin-XXXXXX)
trap 'cleanup_operator; rm -rf "$bindir"' EXIT
start_operator "$ns"

# make install-bin into a folder of the test's own: the binary and the link
check "make install-bin installs the kubectl-breakwater link" \
	make -s -C "$top" install-bin DESTDIR="$bindir" BINDIR=/bin
check_eq "the link points at the binary" breakwater "$(readlink "$bindir/bin/kubectl-breakwater")"
export PATH="$bindir/bin:$state/bin:$PATH"
kb() { "$state/bin/kubectl" breakwater "$@"; }

get() { kubectl -n "$ns" get "$@" 2>/dev/null; }
# fits80 TEXT: every line at most 80 characters
fits80() { awk 'length($0) > 80 { bad = 1; print "too wide: " $0 } END { exit bad }' <<<"$1"; }

kubectl -n "$ns" apply -f - >/dev/null <<'YAML'
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: web}
spec:
  image: registry.local/shop/web:1.0.0
  replicas: 2
  port: 8000
  dependsOn: [users, payments]
---
apiVersion: breakwater.io/v1alpha1
kind: Breaker
metadata: {name: payments}
spec: {target: payments}
---
apiVersion: breakwater.io/v1alpha1
kind: Breaker
metadata: {name: web-callers}
spec: {target: web, mode: MetricsOnly}
---
apiVersion: breakwater.io/v1alpha1
kind: Breaker
metadata: {name: elsewhere}
spec: {target: search}
YAML
check "the Service becomes Ready" kubectl -n "$ns" wait --for=condition=Ready bsvc/web --timeout=60s

# --- status ---
out=$(kb status web -n "$ns" 2>&1)
check_eq "status exits 0" 0 "$?"
check "status says Ready with its reason" grep -q '^State       Ready: RolloutComplete$' <<<"$out"
check "status shows the image" grep -q '^Image       registry.local/shop/web:1.0.0$' <<<"$out"
check "status counts the replicas" grep -q '^Replicas    2 desired: 2 updated, 2 ready, 2 available' <<<"$out"
check "status lists the conditions" grep -qE '^  Stalled +False' <<<"$out"
check "status shows the Breaker on a dependency" grep -qE '^  payments +payments +Enforce$' <<<"$out"
check "and the dependency without one" grep -q 'no Breaker on its dependencies: users' <<<"$out"
check "and the Breaker on the Service itself" grep -q 'web-callers targets web itself (MetricsOnly)' <<<"$out"
check_eq "not a Breaker of another target" 0 "$(grep -c elsewhere <<<"$out")"
check "status fits 80 columns" fits80 "$out"

json=$(kb status web -n "$ns" -o json)
check_eq "status -o json parses: state, replicas, breakers" \
	'Ready 2 payments ["users"] web-callers' \
	"$(jq -r '"\(.state) \(.replicas.ready) \(.breakers.dependencies[0].name) \(.breakers.unprotected | tojson) \(.breakers.self[0].name)"' <<<"$json")"
check_eq "the conditions in order" "Ready Progressing Available Reconciling Stalled" \
	"$(jq -r '[.conditions[].type][0:5] | join(" ")' <<<"$json")"

timeout 20 "$state/bin/kubectl" breakwater status web -n "$ns" --watch >/dev/null 2>&1
check_eq "status --watch on a Ready Service exits 0 at once" 0 "$?"

# --- status --watch through a rollout, held by a pause so the watch sees
# it in progress (kwok makes pods ready faster than kubectl starts) ---
mkdir -p "$top/build/test-logs"
watchlog=$top/build/test-logs/plugin-watch-$$.txt
kb pause web -n "$ns" >/dev/null
kubectl -n "$ns" patch bsvc web --type=merge -p '{"spec":{"image":"registry.local/shop/web:1.1.0"}}' >/dev/null
check "a template change while paused waits (Ready False Paused)" eventually 30 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get bsvc web -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].reason}')\" = Paused ]"
timeout 90 "$state/bin/kubectl" breakwater status web -n "$ns" -w -o json >"$watchlog" 2>&1 &
watcher=$!
# it has printed the state as it is (held by the pause) before the resume
check "status --watch prints the state as it is first" eventually 20 test -s "$watchlog"
kb resume web -n "$ns" >/dev/null
wait $watcher
check_eq "status --watch exits 0 once the rollout is Ready" 0 "$?"
check "every line it printed is a JSON object" jq -e -s 'length >= 2 and all(type == "object")' "$watchlog"
check_eq "the last one is Ready with the new image" "Ready registry.local/shop/web:1.1.0" \
	"$(jq -r -s 'last | "\(.state) \(.runningImage)"' "$watchlog")"
check "an earlier one was in progress" jq -e -s 'map(.state) | index("InProgress") != null' "$watchlog"

# --- pause, resume ---
check_eq "pause says so" "service $ns/web paused" "$(kb pause web -n "$ns" 2>&1)"
check_eq "spec.paused is true" true "$(get bsvc web -o jsonpath='{.spec.paused}')"
check_eq "pause again: already paused" "service $ns/web is already paused" "$(kb pause web -n "$ns" 2>&1)"
check_eq "resume -o json" '{"namespace":"'"$ns"'","name":"web","paused":false,"changed":true}' \
	"$(kb resume web -n "$ns" -o json | jq -c .)"
check_eq "spec.paused is false" false "$(get bsvc web -o jsonpath='{.spec.paused}')"

# --- history and undo, over the revisions the operator writes ---
# settled NAME REVISION: the Service is Ready at its generation with that
# updateRevision (a Ready condition of the last generation does not count)
settled() {
	eventually 60 bash -c "[ \"\$('$state/bin/kubectl' -n $ns get bsvc $1 -o json | jq -r \
		'[.metadata.generation == .status.observedGeneration,
		  .status.updateRevision == \"$2\",
		  (.status.conditions[] | select(.type == \"Ready\") | .status == \"True\")] | all')\" = true ]"
}
# revno NAME: the revision number of a ControllerRevision
revno() { get controllerrevision "$1" -o jsonpath='{.revision}'; }
kubectl -n "$ns" patch bsvc web --type=merge -p '{"spec":{"env":[{"name":"MODE","value":"canary"}]}}' >/dev/null
uid=$(get bsvc web -o jsonpath='{.metadata.uid}')
spec=$(get bsvc web -o json | jq -c .spec)
# template SPEC: the spec without the kept fields (model/revision.c)
template() { jq -c 'del(.replicas, .paused, .revisionHistoryLimit, .rollout, .route, .autoscaling, .disruptionBudget, .minReadySeconds, .configRollout)' <<<"$1"; }
# name TEMPLATE: web-<hash>, the hash as model/revision.c computes it
name() {
	python3 -c 'import json, sys
h = 0xcbf29ce484222325
for b in json.dumps(json.loads(sys.argv[1]), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode():
    h = ((h ^ b) * 0x100000001b3) % (1 << 64)
print("web-%016x" % h)' "$1" | cut -c1-14
}
t3=$(template "$spec")
t2=$(jq -c 'del(.env)' <<<"$t3")
t1=$(jq -c '.image = "registry.local/shop/web:1.0.0"' <<<"$t2")
r1=$(name "$t1") r2=$(name "$t2") r3=$(name "$t3")
check "the env change is rolled out as revision $r3" settled web "$r3"
check_eq "the operator wrote one revision per template, owned by the Service" "1:$r1:$uid 2:$r2:$uid 3:$r3:$uid" \
	"$(get controllerrevisions -l breakwater.io/service=web -o json |
		jq -r '.items | sort_by(.revision) | map("\(.revision):\(.metadata.name):\(.metadata.ownerReferences[0].uid)") | join(" ")')"
# one labelled alike but owned by another object: not part of the history
jq -n --arg ns "$ns" --argjson t "$(jq -c '.image = "x:9"' <<<"$t3")" '{apiVersion: "apps/v1",
	kind: "ControllerRevision", metadata: {name: "web-foreign", namespace: $ns,
	  labels: {"breakwater.io/service": "web"}, ownerReferences: [{apiVersion: "breakwater.io/v1alpha1",
	    kind: "Service", name: "web", uid: "00000000-0000-0000-0000-000000000000", controller: true}]},
	revision: 9, data: {spec: $t}}' | kubectl apply -f - >/dev/null

out=$(kb history web -n "$ns" 2>&1)
check_eq "history lists the three revisions in order" "1 2 3" \
	"$(grep -E '^ +[0-9]+  web-' <<<"$out" | awk '{print $1}' | tr '\n' ' ' | sed 's/ $//')"
check "history says what changed" grep -qE "^ +2  $r2 +registry.local/shop/web:1.1.0 +image( |$)" <<<"$out"
check "history marks the current and update revision" grep -qE "^ +3  $r3 .* env +current,update$" <<<"$out"
check_eq "history leaves out what the Service does not own" 0 "$(grep -c 'x:9' <<<"$out")"
check "history fits 80 columns" fits80 "$out"
json=$(kb history web -n "$ns" -o json)
check_eq "history -o json: revisions, changes, the spec's" '1: 2:image 3:env spec=3' \
	"$(jq -r 'map("\(.revision):\(.changes | join(","))") | join(" ")' <<<"$json") spec=$(jq -r '.[] | select(.spec) | .revision' <<<"$json")"

out=$(kb undo web -n "$ns" 2>&1)
check_eq "undo exits 0" 0 "$?"
check "undo goes back to the revision before the spec's" grep -qF "rolled back to revision 2 ($r2)" <<<"$out"
check "and says which fields it wrote" grep -q "spec fields written: env" <<<"$out"
check_eq "the spec has revision 2's template, replicas kept" "none 2 registry.local/shop/web:1.1.0" \
	"$(get bsvc web -o json | jq -r '"\(.spec.env // "none") \(.spec.replicas) \(.spec.image)"')"
check "the operator rolls it out" settled web "$r2"
check_eq "the Deployment has no MODE env" 0 \
	"$(get deployment web -o json | jq '[.spec.template.spec.containers[0].env // [] | .[] | select(.name=="MODE")] | length')"
check_eq "the template that came back is the next revision, as Deployments do" 4 "$(revno "$r2")"

kb undo web -n "$ns" >/dev/null 2>&1
check_eq "undo again: revision 3's env is back" "canary registry.local/shop/web:1.1.0" \
	"$(get bsvc web -o json | jq -r '"\(.spec.env[0].value // "none") \(.spec.image)"')"
check "rolled out" settled web "$r3"
json=$(kb undo web -n "$ns" --to-revision 1 -o json)
check_eq "undo --to-revision 1 -o json" '1 ["env","image"] true' \
	"$(jq -r '"\(.revision) \(.changes | sort | tojson) \(.written)"' <<<"$json")"
check_eq "the spec is revision 1's template" "$(jq -S -c . <<<"$t1")" \
	"$(template "$(get bsvc web -o json | jq -c .spec)" | jq -S -c .)"
check "rolled out" settled web "$r1"
n1=$(revno "$r1")
check_eq "revision 1 came back as 6" 6 "$n1"
out=$(kb undo web -n "$ns" --to-revision "$n1" 2>&1)
check "undo to the template it has writes nothing" grep -qF "already has the template of revision $n1 ($r1): nothing written" <<<"$out"
out=$(kb undo web -n "$ns" --to-revision 99 2>&1)
check_eq "a missing revision: exit 1, naming the revisions there are" \
	"1 kubectl breakwater: revision 99 not found, the Service has 4..6" "$? $out"
spec=$(get bsvc web -o json | jq -c .spec)

# the undo's write: a JSON Patch setting the resourceVersion read; a stale
# one is refused with a Conflict (what undo reports when an edit came between)
stale=$(get bsvc web -o jsonpath='{.metadata.resourceVersion}')
kubectl -n "$ns" patch bsvc web --type=merge -p '{"spec":{"env":[{"name":"EDIT","value":"1"}]}}' >/dev/null
out=$(kubectl -n "$ns" patch bsvc web --type=json \
	-p "[{\"op\":\"replace\",\"path\":\"/metadata/resourceVersion\",\"value\":\"$stale\"},{\"op\":\"replace\",\"path\":\"/spec\",\"value\":$spec}]" 2>&1)
check "a stale resourceVersion in the patch is a Conflict" grep -qi "conflict\|has been modified" <<<"$out"
check_eq "and the edit stays" EDIT "$(get bsvc web -o jsonpath='{.spec.env[0].name}')"

# --- restart ---
before=$(date -u +%s)
out=$(kb restart web -n "$ns" 2>&1)
check "restart says so" grep -q "^service $ns/web restarted: spec.restartAt is " <<<"$out"
at=$(get bsvc web -o jsonpath='{.spec.restartAt}')
check "spec.restartAt is RFC 3339" grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' <<<"$at"
at_s=$(date -u -d "$at" +%s 2>/dev/null || echo 0)
check "spec.restartAt is now" test "$at_s" -ge $((before - 1)) -a "$at_s" -le $(($(date -u +%s) + 1))
check "status shows it" grep -q "^Restarted   $at$" <<<"$(kb status web -n "$ns")"

# --- Stalled ends a watch with 1 ---
kubectl -n "$ns" apply -f - >/dev/null <<'YAML'
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: bad}
spec:
  image: registry.local/shop/bad:1.0.0
  rollout: {progressDeadlineSeconds: 5}
YAML
check "a second Service becomes Ready" kubectl -n "$ns" wait --for=condition=Ready bsvc/bad --timeout=60s
kubectl -n "$ns" patch bsvc bad --type=merge -p '{"spec":{"image":"registry.local/shop/bad:2.0.0-never-ready"}}' >/dev/null
out=$(timeout 120 "$state/bin/kubectl" breakwater status bad -n "$ns" --watch 2>&1)
check_eq "status --watch exits 1 when the rollout stalls" 1 "$?"
check "its last state is Stalled" grep -q '^State       Stalled: ' <<<"$(grep '^State' <<<"$out" | tail -1)"
out=$(kb undo bad -n "$ns" 2>&1)
check_eq "undo after the failed rollout: exit 0" 0 "$?"
check "it goes back to revision 1" grep -qF "rolled back to revision 1 (bad-" <<<"$out"
check_eq "the spec has the good image again" registry.local/shop/bad:1.0.0 "$(get bsvc bad -o jsonpath='{.spec.image}')"

# --- errors ---
out=$(kb status nope -n "$ns" 2>&1)
check_eq "a missing Service: exit 1, named with its namespace" \
	"1 kubectl breakwater: no Service \"nope\" in namespace \"$ns\"" "$? $out"
out=$(kb history nope -n "$ns" -o json 2>&1)
check_eq "the same for history" "1 kubectl breakwater: no Service \"nope\" in namespace \"$ns\"" "$? $out"
out=$(kb status web -n "$ns" --bogus 2>&1)
check_eq "an unknown flag: exit 2" 2 "$?"
check "it names the flag" grep -q "unknown flag --bogus" <<<"$out"

stop_operator
# a Service the operator never saw has no revisions
kubectl -n "$ns" apply -f - >/dev/null <<'YAML'
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: fresh}
spec: {image: registry.local/shop/fresh:1.0.0}
YAML
out=$(kb history fresh -n "$ns" 2>&1)
check "history without revisions says so" grep -qF "No revisions of Service \"fresh\" in namespace \"$ns\" yet" <<<"$out"
out=$(kb undo fresh -n "$ns" 2>&1)
check_eq "undo without revisions: exit 1 naming what is missing" \
	"1 kubectl breakwater: Service \"fresh\" has no revisions (no ControllerRevision labelled breakwater.io/service=fresh that it owns)" \
	"$? $out"
check_operator_log
