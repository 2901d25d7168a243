#!/usr/bin/env bash
# The pod template of a breakwater Service end to end (docs/resources.md,
# "The pod template"): examples/full-template/ (a Service using every
# pod-template field) in a namespace that enforces the restricted Pod
# Security level passes the API server's validation; the operator's
# Deployment is accepted and carries every field; its pods are admitted by
# Pod Security Admission (kwok creates the pod objects, PSA checks them at
# creation) with the webhook's injection next to the user's volumes. A
# Service with no securityContext gets the restricted default and its pods
# are admitted too; one whose own securityContext breaks the level gets no
# pod. Invalid values are refused by kubectl apply naming the field, and the
# renderer's pod-template success fixtures (tests/unit/data/render/) are
# accepted by the API server.
. "$(dirname "$0")/../lib.sh"
cd "$top" || exit 1

install_crds || { not_ok "the CRDs are installed"; exit 1; }
use_namespace podtpl
trap cleanup_operator EXIT
check "the namespace enforces Pod Security restricted" \
	kubectl label namespace "$ns" pod-security.kubernetes.io/enforce=restricted
start_operator "$ns"

get() { kubectl -n "$ns" get "$@" 2>/dev/null; }

# --- every field -----------------------------------------------------------------

check "examples/full-template/ passes a server-side dry run" \
	kubectl apply --dry-run=server -n "$ns" -f examples/full-template/
check "examples/full-template/ is applied" kubectl apply -n "$ns" -f examples/full-template/
check "the Service becomes Ready (its Deployment accepted, its pods admitted and ready)" \
	kubectl -n "$ns" wait --for=condition=Ready bsvc/orders --timeout=90s

dep=$(get deployment orders -o json)
jqd() { jq -cS "$1" <<<"$dep"; }
c='.spec.template.spec.containers[0]'
p='.spec.template.spec'
while IFS='%' read -r what expr want; do
	check_eq "Deployment: $what" "$want" "$(jqd "$expr")"
done <<EOF
command%$c.command%["/app/bin/orders"]
args%$c.args%["--workers","4"]
envFrom%$c.envFrom%[{"configMapRef":{"name":"orders-config"}},{"prefix":"DB_","secretRef":{"name":"orders-secrets","optional":true}}]
readinessProbe replaces healthCheck's%$c.readinessProbe.httpGet.path%"/health/ready"
livenessProbe replaces healthCheck's%$c.livenessProbe.tcpSocket.port%"http"
startupProbe%[$c.startupProbe.httpGet.path,$c.startupProbe.failureThreshold]%["/health/started",60]
volumes%[$p.volumes[] | .name]%["config","tls","tmp","token"]
projected volume passed through%$p.volumes[3].projected.sources[0].serviceAccountToken.audience%"payments"
volumeMounts%[$c.volumeMounts[] | .mountPath]%["/etc/orders","/etc/tls","/tmp","/var/run/secrets/payments"]
nodeSelector%$p.nodeSelector%{"kubernetes.io/os":"linux"}
affinity%$p.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey%"kubernetes.io/hostname"
tolerations%$p.tolerations%[{"effect":"NoSchedule","key":"dedicated","operator":"Equal","value":"shop"}]
topologySpreadConstraints%[$p.topologySpreadConstraints[0] | .maxSkew, .whenUnsatisfiable]%[1,"ScheduleAnyway"]
serviceAccountName%$p.serviceAccountName%"orders"
imagePullSecrets%$p.imagePullSecrets%[{"name":"registry-local"}]
pod securityContext%$p.securityContext%{"fsGroup":10001,"runAsNonRoot":true,"runAsUser":10001,"seccompProfile":{"type":"RuntimeDefault"}}
container securityContext%$c.securityContext%{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},"readOnlyRootFilesystem":true}
terminationGracePeriodSeconds%$p.terminationGracePeriodSeconds%45
preStop%$c.lifecycle.preStop%{"sleep":{"seconds":5}}
minReadySeconds%.spec.minReadySeconds%5
pod labels: the user's and breakwater's%.spec.template.metadata.labels | [.tier, .team, ."breakwater.io/service"]%["backend","checkout","orders"]
pod annotations%.spec.template.metadata.annotations."prometheus.io/scrape"%"true"
EOF

check_eq "Deployment: selector untouched" '{"matchLabels":{"breakwater.io/service":"orders"}}' "$(jqd .spec.selector)"

pod=$(get pods -l breakwater.io/service=orders -o json | jq -c '.items[0]')
jqp() { jq -cS "$1" <<<"$pod"; }
check_eq "two pods were admitted in the restricted namespace" 2 \
	"$(get pods -l breakwater.io/service=orders -o json | jq '.items | length')"
while IFS='%' read -r what expr want; do
	check_eq "pod: $what" "$want" "$(jqp "$expr")"
done <<EOF
labels%.metadata.labels | [.tier, .team]%["backend","checkout"]
annotations (the user's and the webhook's)%.metadata.annotations | [."prometheus.io/scrape", (has("breakwater.io/injected"))]%["true",true]
serviceAccountName%.spec.serviceAccountName%"orders"
the user's volumes and the webhook's registry volume%[.spec.volumes[] | .name | select(test("^(config|tls|tmp|token|breakwater-registry)$"))]%["config","tls","tmp","token","breakwater-registry"]
the user's mounts and the registry mount%[.spec.containers[0].volumeMounts[] | .mountPath | select(startswith("/etc/"))]%["/etc/orders","/etc/tls","/etc/breakwater/"]
envFrom and the injected env side by side%[(.spec.containers[0].envFrom | length), ([.spec.containers[0].env[].name] | index("BREAKWATER_SERVICE") != null)]%[2,true]
securityContext%.spec.securityContext.runAsUser%10001
preStop%.spec.containers[0].lifecycle.preStop.sleep.seconds%5
EOF

# --- the restricted default ----------------------------------------------------------

kubectl apply -n "$ns" -f - >/dev/null <<'EOF'
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: plain}
spec: {image: registry.local/shop/plain:1.0.0, healthCheck: {path: /health/}}
EOF
check "a Service without securityContext becomes Ready in the restricted namespace" \
	kubectl -n "$ns" wait --for=condition=Ready bsvc/plain --timeout=60s
check_eq "its pod carries the restricted default (pod level)" \
	'{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}}' \
	"$(get pods -l breakwater.io/service=plain -o json | jq -c '.items[0].spec.securityContext')"
check_eq "its pod carries the restricted default (container level)" \
	'{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]},"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}}' \
	"$(get pods -l breakwater.io/service=plain -o json | jq -c '.items[0].spec.containers[0].securityContext')"
check_eq "healthCheck alone: readiness GETs the path, liveness only opens the port" \
	'"/health/" 8080' \
	"$(get deployment plain -o json | jq -c '.spec.template.spec.containers[0] | .readinessProbe.httpGet.path, .livenessProbe.tcpSocket.port' | paste -sd' ')"

# A securityContext the user gives replaces the default and is judged by PSA:
# here it breaks the restricted level, so the Deployment is accepted but no
# pod is admitted (the ReplicaSet records the refusal).
kubectl apply -n "$ns" -f - >/dev/null <<'EOF'
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: rooted}
spec: {image: registry.local/shop/rooted:1.0.0, securityContext: {runAsUser: 0}}
EOF
psa_refused() {
	kubectl -n "$ns" get events --field-selector reason=FailedCreate -o json | grep -q 'violates PodSecurity'
}
check "a user securityContext that breaks restricted: its pods are refused by Pod Security" eventually 30 psa_refused
check_eq "... and none runs" 0 "$(get pods -l breakwater.io/service=rooted -o json | jq '.items | length')"

# What the schema leaves to Kubernetes (an affinity operator's value) is
# checked by the API server's Deployment validation: the backstop reported
# in the Service's Ready condition.
kubectl apply -n "$ns" -f - >/dev/null <<'EOF'
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: backstop}
spec:
  image: registry.local/shop/backstop:1.0.0
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms: [{matchExpressions: [{key: zone, operator: Maybe}]}]
EOF
backstop() {
	[ "$(get bsvc backstop -o jsonpath='{.status.conditions[?(@.type=="Ready")].reason}')" = ReconcileFailed ] &&
		get bsvc backstop -o jsonpath='{.status.conditions[?(@.type=="Ready")].message}' | grep -q 'affinity.*operator: Invalid value: "Maybe"'
}
check "an affinity the API server's Deployment validation refuses: Ready False ReconcileFailed with its message" \
	eventually 30 backstop
check_eq "... and no Deployment was made" "" "$(get deployment backstop -o name)"

# --- refusals by kubectl apply ---------------------------------------------------------

# refused NAME ERE SPEC-FIELDS [FLAGS...]: a Service with those spec fields is
# refused by kubectl apply FLAGS with an error matching ERE.
refused() {
	local out
	if out=$(printf 'apiVersion: breakwater.io/v1alpha1\nkind: Service\nmetadata: {name: bad}\nspec: {image: registry.local/shop/bad:1.0.0, %s}\n' "$3" |
		kubectl apply -n "$ns" "${@:4}" -f - 2>&1); then
		not_ok "refused, naming the field: $1" "kubectl apply succeeded: $out"
	elif grep -Eq -- "$2" <<<"$out"; then
		ok "refused, naming the field: $1"
	else
		not_ok "refused, naming the field: $1" "expected: $2" "output: $out"
	fi
}
refused "a hostPath volume" 'spec.volumes\[0\]: .*spec.volumes "data": hostPath volumes are not supported' \
	'volumes: [{name: data, hostPath: {path: /var/lib}}]'
refused "a persistentVolumeClaim volume" 'spec.volumes\[0\]: .*persistentVolumeClaim volumes are not supported' \
	'volumes: [{name: data, persistentVolumeClaim: {claimName: db}}]'
# A volume type the schema does not declare: strict field validation names
# the field; without it the field is dropped and the CEL rule still refuses
# a volume with no supported source.
refused "an undeclared volume type" 'unknown field "spec.volumes\[0\].iscsi"' \
	'volumes: [{name: data, iscsi: {targetPortal: "10.0.0.1:3260", iqn: x, lun: 0}}]'
refused "an undeclared volume type (kubectl apply --validate=false)" \
	'spec.volumes\[0\]: .*exactly one of configMap, secret, emptyDir or projected' \
	'volumes: [{name: data, iscsi: {targetPortal: "10.0.0.1:3260", iqn: x, lun: 0}}]' --validate=false
refused "a volume named like the webhook's registry volume" 'spec.volumes\[0\].name: .*reserved for the registry volume' \
	'volumes: [{name: breakwater-registry, emptyDir: {}}]'
refused "a mount over /etc/breakwater" 'spec.volumeMounts\[0\].mountPath: .*where the breakwater webhook mounts the registry' \
	'volumes: [{name: d, emptyDir: {}}], volumeMounts: [{name: d, mountPath: /etc/breakwater}]'
refused "a mount naming no volume" 'spec.volumeMounts: .*must name a volume of spec.volumes' \
	'volumes: [{name: d, emptyDir: {}}], volumeMounts: [{name: other, mountPath: /data}]'
refused "a podMetadata label overriding the selector" 'spec.podMetadata.labels: .*may not set breakwater.io/service' \
	'podMetadata: {labels: {breakwater.io/service: payments}}'
refused "a reserved podMetadata annotation" 'spec.podMetadata.annotations: .*prefix breakwater.io/' \
	'podMetadata: {annotations: {breakwater.io/injected: x}}'
refused "a negative terminationGracePeriodSeconds" 'spec.terminationGracePeriodSeconds: .*greater than or equal to 0' \
	'terminationGracePeriodSeconds: -1'
refused "minReadySeconds not below the progress deadline" 'spec.minReadySeconds: .*less than spec.rollout.progressDeadlineSeconds' \
	'minReadySeconds: 600'
refused "a probe with two handlers" 'spec.readinessProbe: .*exactly one of httpGet, tcpSocket, exec or grpc' \
	'readinessProbe: {httpGet: {port: 80}, tcpSocket: {port: 80}}'
refused "a liveness successThreshold above 1" 'spec.livenessProbe.successThreshold: .*must be 1' \
	'livenessProbe: {tcpSocket: {port: 80}, successThreshold: 2}'
refused "envFrom with both sources" 'spec.envFrom\[0\]: .*exactly one of configMapRef or secretRef' \
	'envFrom: [{configMapRef: {name: a}, secretRef: {name: b}}]'
refused "a preStop with no handler" 'spec.preStop: .*exactly one of exec, httpGet or sleep' 'preStop: {}'
refused "a serviceAccountName that is no DNS label" 'spec.serviceAccountName: .*must be a DNS-1123 label' \
	'serviceAccountName: Orders_App'
check_eq "none of them was stored" "" "$(get bsvc bad -o name)"

# --- the CRD and the renderer agree ---------------------------------------------------
#
# What bw_render_validate refuses the API server refuses, naming the same
# field: tests/e2e/crd_validation.sh checks that for every error fixture of
# tests/unit/data/render/. Here the other half: each success fixture that
# sets a pod-template field is accepted by the API server.
fields='command|args|envFrom|volumes|volumeMounts|nodeSelector|affinity|tolerations|topologySpreadConstraints|serviceAccountName|imagePullSecrets|podSecurityContext|securityContext|terminationGracePeriodSeconds|preStop|minReadySeconds|podMetadata|readinessProbe|livenessProbe|startupProbe'
accepted=0
for dir in tests/unit/data/render/*/; do
	[ -f "$dir/error.json" ] && continue
	jq -e --arg f "$fields" '.spec | keys | any(test("^(" + $f + ")$"))' "$dir/service.json" >/dev/null || continue
	accepted=$((accepted + 1))
	check "the API server accepts $(basename "$dir"), as bw_render_validate does" \
		kubectl create --dry-run=server -n "$ns" -f - <<<"$(jq -c '.metadata = {name: "agree"} | del(.status)' "$dir/service.json")"
done
check "at least 4 pod-template success fixtures were submitted" test "$accepted" -ge 4

check_operator_log
