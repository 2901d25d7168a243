#!/usr/bin/env bash
# Config rollouts (issue 11): a change in the content of a ConfigMap or
# Secret a Service's pods reference rolls the Service out (a new template
# hash, a new ReplicaSet, a new updateRevision, Ready again), unless
# spec.configRollout is Disabled. A label-only change, or a change of a
# ConfigMap no Service references, rolls nothing out. An optional reference
# to a missing Secret rolls out when it appears; a required missing one is
# said in a Warning Event ConfigMissing naming it. The Secret's data is
# never in the operator's log.
. "$(dirname "$0")/../lib.sh"

install_crds || { not_ok "the CRDs are installed"; exit 1; }
use_namespace configroll
trap cleanup_operator EXIT
start_operator "$ns"

get() { kubectl -n "$ns" get "$@" 2>/dev/null; }
st() { get bsvc "$1" -o jsonpath="{.status.$2}"; }
hash_of() { get deployment "$1" -o jsonpath='{.spec.template.metadata.annotations.breakwater\.io/config-hash}'; }
rs_count() { get rs -l breakwater.io/service="$1" -o name | wc -l; }
settled() { # Ready at the current generation, currentRevision == updateRevision
	kubectl -n "$ns" wait --for=condition=Ready "bsvc/$1" --timeout=60s >/dev/null &&
		eventually 30 bash -c "s=\$('$state/bin/kubectl' -n $ns get bsvc $1 -o json) &&
			[ \"\$(jq -r '.status.currentRevision' <<<\"\$s\")\" = \"\$(jq -r '.status.updateRevision' <<<\"\$s\")\" ] &&
			[ \"\$(jq -r '.status.observedGeneration' <<<\"\$s\")\" = \"\$(jq -r '.metadata.generation' <<<\"\$s\")\" ] &&
			[ \"\$(jq -r '.status.conditions[] | select(.type==\"Ready\") | .observedGeneration' <<<\"\$s\")\" = \"\$(jq -r '.metadata.generation' <<<\"\$s\")\" ]"
}
changed() { # changed NAME OLD_UPDATE_REVISION: a new updateRevision within 30 s
	eventually 30 bash -c "r=\$('$state/bin/kubectl' -n $ns get bsvc $1 -o jsonpath='{.status.updateRevision}'); [ -n \"\$r\" ] && [ \"\$r\" != '$2' ]"
}
unchanged_for() { # unchanged_for SECONDS NAME HASH REVISION: nothing moves
	local end=$((SECONDS + $1))
	while [ $SECONDS -lt $end ]; do
		[ "$(hash_of "$2")" = "$3" ] && [ "$(st "$2" updateRevision)" = "$4" ] || return 1
		sleep 0.5
	done
}
secret_value=s3cr3t-value-$$

kubectl -n "$ns" create configmap app-config --from-literal=LOG_LEVEL=info >/dev/null
kubectl -n "$ns" create configmap unrelated --from-literal=X=1 >/dev/null
kubectl -n "$ns" create secret generic app-secret --from-literal=password="$secret_value" >/dev/null
cat <<EOF | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: web}
spec:
  image: registry.local/shop/web:1.0.0
  replicas: 2
  envFrom: [{configMapRef: {name: app-config}}]
  volumes: [{name: creds, secret: {secretName: app-secret}}]
  volumeMounts: [{name: creds, mountPath: /etc/creds, readOnly: true}]
---
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: optout}
spec:
  image: registry.local/shop/optout:1.0.0
  configRollout: Disabled
  envFrom: [{configMapRef: {name: app-config}}]
EOF
check "the Service referencing a ConfigMap and a Secret becomes Ready" settled web
check "the opted-out Service becomes Ready" settled optout
h1=$(hash_of web)
r1=$(st web updateRevision)
check "the pod template carries breakwater.io/config-hash (16 hex)" grep -Eq '^[0-9a-f]{16}$' <<<"$h1"
check_eq "the opted-out Service's template carries none" "" "$(hash_of optout)"
check_eq "configRollout defaults to Enabled (the CRD)" "Enabled" \
	"$(get bsvc web -o jsonpath='{.spec.configRollout}')"
check "kubectl explain documents spec.configRollout" \
	bash -c "'$state/bin/kubectl' explain bsvc.spec.configRollout | grep -q 'breakwater.io/config-hash'"
rev_optout=$(st optout updateRevision)
rs1=$(rs_count web)

# 1. the ConfigMap's data changes: a rollout
kubectl -n "$ns" patch configmap app-config --type=merge -p '{"data":{"LOG_LEVEL":"debug"}}' >/dev/null
check "editing the ConfigMap's data changes updateRevision" changed web "$r1"
check "and the rollout completes: Ready at the generation, current = update" settled web
h2=$(hash_of web)
r2=$(st web updateRevision)
check "the template's config hash changed" test -n "$h2" -a "$h2" != "$h1"
check_eq "the Deployment runs the new revision" "$r2" \
	"$(get deployment web -o jsonpath='{.metadata.annotations.breakwater\.io/revision}')"
check "a new ReplicaSet was made" test "$(rs_count web)" -gt "$rs1"
check_eq "generation did not move (the spec did not change)" "1" \
	"$(get bsvc web -o jsonpath='{.metadata.generation}')"
check "the revision holds the hash (a rollback returns to it)" \
	bash -c "'$state/bin/kubectl' -n $ns get controllerrevision $r2 -o jsonpath='{.data.spec.configHash}' | grep -qx '$h2'"
check "an Event RolloutStarted names the new revision" eventually 20 bash -c \
	"'$state/bin/kubectl' -n $ns get events --field-selector involvedObject.name=web,reason=RolloutStarted -o jsonpath='{.items[*].message}' | grep -q 'rolling out revision $r2'"

# 2. the opted-out Service did not move on that edit
check_eq "the opted-out Service: no rollout on the ConfigMap edit" "$rev_optout" "$(st optout updateRevision)"

# 3. the Secret's data changes: a rollout
kubectl -n "$ns" patch secret app-secret --type=merge -p '{"stringData":{"password":"another-'"$$"'"}}' >/dev/null
check "editing the Secret's data changes updateRevision" changed web "$r2"
check "and the rollout completes" settled web
h3=$(hash_of web)
r3=$(st web updateRevision)
check "the config hash changed again" test -n "$h3" -a "$h3" != "$h2"

# 4. an unreferenced ConfigMap changes: nothing
kubectl -n "$ns" patch configmap unrelated --type=merge -p '{"data":{"X":"2"}}' >/dev/null
check "editing an unreferenced ConfigMap rolls nothing out (8 s)" unchanged_for 8 web "$h3" "$r3"

# 5. a label-only change of the referenced ConfigMap: nothing
kubectl -n "$ns" label configmap app-config team=shop >/dev/null
kubectl -n "$ns" annotate configmap app-config note=hello >/dev/null
check "a label or annotation change of the ConfigMap rolls nothing out (8 s)" unchanged_for 8 web "$h3" "$r3"
check_eq "the opted-out Service never moved" "$rev_optout" "$(st optout updateRevision)"
check_eq "and its template still has no config hash" "" "$(hash_of optout)"

# 6. an optional reference to a missing Secret rolls out when it appears;
# a required missing ConfigMap is named in an Event
cat <<EOF | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: late}
spec:
  image: registry.local/shop/late:1.0.0
  envFrom: [{secretRef: {name: late-secret, optional: true}}]
  env: [{name: URL, valueFrom: {configMapKeyRef: {name: late-config, key: url}}}]
EOF
check "a required missing ConfigMap is named in a Warning Event ConfigMissing" eventually 30 bash -c \
	"'$state/bin/kubectl' -n $ns get events --field-selector involvedObject.name=late,reason=ConfigMissing -o jsonpath='{.items[*].message}' | grep -q 'ConfigMap late-config'"
check "the optional Secret is not named there" bash -c \
	"! '$state/bin/kubectl' -n $ns get events --field-selector involvedObject.name=late,reason=ConfigMissing -o jsonpath='{.items[*].message}' | grep -q late-secret"
check "the Service is rolled out with the missing objects hashed" eventually 30 bash -c \
	"[ -n \"\$('$state/bin/kubectl' -n $ns get deployment late -o jsonpath='{.spec.template.metadata.annotations.breakwater\.io/config-hash}')\" ]"
# the status (its updateRevision) is written after the Deployment: an empty
# one now would let any first revision pass for "changed" below
has_update_revision() { [ -n "$(st "$1" updateRevision)" ]; }
check "its revision is in the status" eventually 30 has_update_revision late
hl=$(hash_of late)
rl=$(st late updateRevision)
kubectl -n "$ns" create secret generic late-secret --from-literal=token=t >/dev/null
check "the optional Secret appearing rolls out" changed late "$rl"
check "the config hash changed" bash -c "[ \"\$('$state/bin/kubectl' -n $ns get deployment late -o jsonpath='{.spec.template.metadata.annotations.breakwater\.io/config-hash}')\" != '$hl' ]"

# 7. switching it off removes the annotation (one rollout), and then edits do nothing
kubectl -n "$ns" patch bsvc web --type=merge -p '{"spec":{"configRollout":"Disabled"}}' >/dev/null
check "configRollout: Disabled takes the hash off the template" eventually 30 bash -c \
	"[ -z \"\$('$state/bin/kubectl' -n $ns get deployment web -o jsonpath='{.spec.template.metadata.annotations.breakwater\.io/config-hash}')\" ]"
check "and that rollout completes" settled web
r4=$(st web updateRevision)
kubectl -n "$ns" patch configmap app-config --type=merge -p '{"data":{"LOG_LEVEL":"warn"}}' >/dev/null
check "then a ConfigMap edit rolls nothing out (8 s)" unchanged_for 8 web "" "$r4"
check_eq "a bad configRollout is refused by name" "1" \
	"$(kubectl -n "$ns" patch bsvc web --type=merge -p '{"spec":{"configRollout":"Sometimes"}}' 2>&1 | grep -c 'spec.configRollout')"

# 8. a rollback while the ConfigMap holds new content: the Deployment goes
# back to currentRevision's template with its old hash (the pods read the
# content as it is now), and it does not loop
kubectl -n "$ns" create configmap rb-config --from-literal=A=1 >/dev/null
cat <<EOF | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: rb}
spec:
  image: registry.local/shop/rb:1.0.0
  envFrom: [{configMapRef: {name: rb-config}}]
  rollout: {progressDeadlineSeconds: 5}
EOF
check "the Service to roll back becomes Ready" settled rb
rb1=$(st rb currentRevision)
hb1=$(hash_of rb)
kubectl -n "$ns" patch bsvc rb --type=merge -p '{"spec":{"image":"registry.local/shop/rb:2.0.0-never-ready"}}' >/dev/null
check "a never-ready image is rolled back" eventually 60 bash -c \
	"[ -n \"\$('$state/bin/kubectl' -n $ns get bsvc rb -o jsonpath='{.status.failedRevision}')\" ]"
bad1=$(st rb failedRevision)
kubectl -n "$ns" patch configmap rb-config --type=merge -p '{"data":{"A":"2"}}' >/dev/null
check "new content while rolled back is a new template: the rollback ends, a rollout starts" \
	changed rb "$bad1"
check "that rollout (the bad image, the new hash) is rolled back too" eventually 60 bash -c \
	"f=\$('$state/bin/kubectl' -n $ns get bsvc rb -o jsonpath='{.status.failedRevision}'); [ -n \"\$f\" ] && [ \"\$f\" != '$bad1' ]"
check "back to currentRevision's whole template, its old hash included" eventually 30 bash -c \
	"[ \"\$('$state/bin/kubectl' -n $ns get deployment rb -o jsonpath='{.metadata.annotations.breakwater\.io/revision}')\" = '$rb1' ] &&
	 [ \"\$('$state/bin/kubectl' -n $ns get deployment rb -o jsonpath='{.spec.template.metadata.annotations.breakwater\.io/config-hash}')\" = '$hb1' ]"
bad2=$(st rb failedRevision)
stable_rollback() {
	local end=$((SECONDS + 10))
	while [ $SECONDS -lt $end ]; do
		[ "$(st rb failedRevision)" = "$bad2" ] && [ "$(st rb updateRevision)" = "$bad2" ] &&
			[ "$(hash_of rb)" = "$hb1" ] || return 1
		sleep 0.5
	done
}
check "and it does not loop: failedRevision = updateRevision, the old hash stays (10 s)" stable_rollback
check_eq "Stalled True with reason RolledBack" "True RolledBack" \
	"$(get bsvc rb -o jsonpath='{.status.conditions[?(@.type=="Stalled")].status} {.status.conditions[?(@.type=="Ready")].reason}')"

# 9. the registry's own ConfigMap, referenced by name: the operator caches
# it apart from the other ConfigMaps (its own informer), and a Service's
# config hash still follows it
cat <<EOF | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: regref}
spec:
  image: registry.local/shop/regref:1.0.0
  volumes: [{name: reg, configMap: {name: breakwater-registry}}]
  volumeMounts: [{name: reg, mountPath: /etc/registry, readOnly: true}]
EOF
check "a Service mounting the registry's ConfigMap becomes Ready" settled regref
check "the registry's ConfigMap is not said missing" bash -c \
	"[ -z \"\$('$state/bin/kubectl' -n $ns get events --field-selector involvedObject.name=regref,reason=ConfigMissing -o name)\" ]"
check "its template carries a config hash" grep -Eq '^[0-9a-f]{16}$' <<<"$(hash_of regref)"
rr=$(st regref updateRevision)
cat <<EOF | kubectl -n "$ns" apply -f - >/dev/null
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: newcomer}
spec:
  image: registry.local/shop/newcomer:1.0.0
EOF
check "a new Service changes the registry, and the Service mounting it rolls out" changed regref "$rr"
check "and that rollout completes" settled regref

check "the Secret's data is never in the operator's log" bash -c "! grep -q -e '$secret_value' -e 'another-$$' -e \"\$(printf %s '$secret_value' | base64)\" '$op_log'"
stop_operator
check_operator_log
