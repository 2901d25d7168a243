#!/usr/bin/env bash
# The breakwater CRDs (crds/): they install and become Established; valid
# Services and Breakers are stored with their defaults; invalid ones are
# refused with a message naming the field (a table of cases); kubectl explain,
# the category, the printer columns, the scale and status subresources work;
# and every file of examples/shop/ passes a server-side dry run.
# No operator runs here: only the API server is tested. The CRDs stay installed.
. "$(dirname "$0")/../lib.sh"
cd "$top" || exit 1

# --- installation ------------------------------------------------------------

check "kubectl apply -f crds/ succeeds" kubectl apply -f crds/
for crd in services.breakwater.io breakers.breakwater.io; do
	check "$crd becomes Established" kubectl wait --for=condition=Established "crd/$crd" --timeout=30s
done
check_eq "re-applying crds/ changes nothing" \
	"customresourcedefinition.apiextensions.k8s.io/breakers.breakwater.io unchanged
customresourcedefinition.apiextensions.k8s.io/services.breakwater.io unchanged" \
	"$(kubectl apply -f crds/ 2>&1)"

# Every property of both schemas has a description (root metadata may not).
undocumented=$(for crd in services.breakwater.io breakers.breakwater.io; do
	kubectl get crd "$crd" -o json | jq -r --arg crd "$crd" '
		def undocumented($p):
			(if (.description // "") == "" and $p != ".metadata" then $p else empty end),
			((.properties // {}) | to_entries[] | .key as $k | .value | undocumented($p + "." + $k)),
			(if .items then .items | undocumented($p + "[]") else empty end);
		.spec.versions[].schema.openAPIV3Schema | undocumented("") | "\($crd): \(if . == "" then "(root)" else . end)"'
done)
check_eq "every field of both schemas has a description" "" "$undocumented"

use_namespace crdval
# Let the new kinds show up in discovery before the first write.
check "the new kinds are served" eventually 20 kubectl get bsvc,brk -n "$ns"

# --- valid resources and their defaults -----------------------------------------

kubectl apply -n "$ns" -f - >/dev/null <<'EOF'
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: web}
spec:
  image: registry.local/shop/web:1.0.0
  healthCheck: {path: /health/}
  dependsOn: [users]
  route: {pathPrefix: /api/web/}
---
apiVersion: breakwater.io/v1alpha1
kind: Breaker
metadata: {name: users}
spec:
  target: users
EOF
check "a minimal valid Service is stored" kubectl get -n "$ns" bsvc/web
check "a minimal valid Breaker is stored" kubectl get -n "$ns" brk/users

# field jsonpath => expected default
while IFS='=' read -r path want; do
	check_eq "Service default $path = $want" "$want" "$(kubectl get -n "$ns" bsvc/web -o jsonpath="{$path}")"
done <<'EOF'
.spec.replicas=1
.spec.port=8080
.spec.paused=false
.spec.healthCheck.initialDelaySeconds=0
.spec.healthCheck.periodSeconds=10
.spec.healthCheck.timeoutSeconds=1
.spec.healthCheck.failureThreshold=3
.spec.rollout.maxSurge=25%
.spec.rollout.maxUnavailable=0
.spec.rollout.progressDeadlineSeconds=600
.spec.rollout.autoRollback=true
EOF
check_eq "the health check port is left unset (it defaults to spec.port in the operator)" "" \
	"$(kubectl get -n "$ns" bsvc/web -o jsonpath='{.spec.healthCheck.port}')"
while IFS='=' read -r path want; do
	check_eq "Breaker default $path = $want" "$want" "$(kubectl get -n "$ns" brk/users -o jsonpath="{$path}")"
done <<'EOF'
.spec.failureThreshold=5
.spec.failureRateThreshold=50
.spec.minimumCalls=20
.spec.slidingWindow.type=Count
.spec.slidingWindow.size=100
.spec.slowCall.durationMs=2000
.spec.slowCall.rateThreshold=100
.spec.openSeconds=60
.spec.backoffMultiplier=2
.spec.maxOpenSeconds=600
.spec.halfOpenCalls=1
.spec.mode=Enforce
EOF

# A Service with every field set keeps them all, including the passed-through
# core/v1 shapes (valueFrom, quantities).
kubectl apply -n "$ns" -f - >/dev/null <<'EOF'
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: full}
spec:
  image: registry.local:5000/shop/full:2.0.0-rc.1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  replicas: 0
  port: 65535
  healthCheck: {path: /health/live, port: 9000, initialDelaySeconds: 5, periodSeconds: 3600, timeoutSeconds: 2, failureThreshold: 1}
  env:
  - {name: DJANGO_SETTINGS_MODULE, value: full.settings}
  - name: POD_NAME
    valueFrom: {fieldRef: {fieldPath: metadata.name}}
  resources:
    limits: {cpu: 1, memory: 256Mi}
    requests: {cpu: 100m, memory: 128Mi}
  dependsOn: [users, web]
  route: {pathPrefix: /, host: shop.local, ingressClassName: nginx}
  rollout: {maxSurge: 1, maxUnavailable: 100%, progressDeadlineSeconds: 86400, autoRollback: false}
  paused: true
EOF
full=$(kubectl get -n "$ns" bsvc/full -o json)
check_eq "a Service with every field set is stored as written" \
	'0 65535 9000 POD_NAME metadata.name 1 256Mi 100m users,web shop.local nginx 1 100% false true' \
	"$(jq -r '.spec | [.replicas, .port, .healthCheck.port, .env[1].name, .env[1].valueFrom.fieldRef.fieldPath,
		.resources.limits.cpu, .resources.limits.memory, .resources.requests.cpu, (.dependsOn | join(",")),
		.route.host, .route.ingressClassName, .rollout.maxSurge, .rollout.maxUnavailable,
		.rollout.autoRollback, .paused] | map(tostring) | join(" ")' <<<"$full")"

# Image references the schema must accept (server-side dry run).
digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
for image in nginx nginx:1.27 library/nginx:1.27-alpine registry.local/shop/orders:1.0.0 \
	localhost/orders localhost:5000/shop/orders:v2 10.0.0.1:5000/app:latest \
	my-registry.example.com:443/team/app_name/sub__dir/a-b.c:1.0.0_rc.1 \
	"registry.local/shop/orders@$digest" "registry.local/shop/orders:1.0.0@$digest"; do
	check "image $image is accepted" kubectl create --dry-run=server -n "$ns" -f - <<EOF
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: image-ok}
spec: {image: "$image"}
EOF
done
# Rollout bounds the schema must accept.
for rollout in '{maxSurge: 0, maxUnavailable: 1}' '{maxSurge: "0%", maxUnavailable: "100%"}' \
	'{maxSurge: "100%", maxUnavailable: "0%"}' '{maxSurge: 3, maxUnavailable: "5%"}'; do
	check "rollout $rollout is accepted" kubectl create --dry-run=server -n "$ns" -f - <<EOF
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: rollout-ok}
spec: {image: nginx, rollout: $rollout}
EOF
done

# --- invalid resources ----------------------------------------------------------
#
# Each case is a JSON merge patch (RFC 7386: null deletes; written as a jq
# expression, so "a" * 500 makes a long string) on a valid base object named
# bad-N; the object must be refused with an error matching the expected
# extended regular expression, which names the field.

svc_base='{"apiVersion":"breakwater.io/v1alpha1","kind":"Service","metadata":{"name":"x"},
	"spec":{"image":"registry.local/shop/bad:1.0.0"}}'
brk_base='{"apiVersion":"breakwater.io/v1alpha1","kind":"Breaker","metadata":{"name":"x"},
	"spec":{"target":"payments"}}'
mergepatch='def mp($p): if ($p | type) == "object"
	then reduce ($p | keys_unsorted[]) as $k (if type == "object" then . else {} end;
		if $p[$k] == null then del(.[$k]) else .[$k] |= mp($p[$k]) end)
	else $p end;'

n=0
while IFS='|' read -r -u 3 kind what expect patch; do
	kind=${kind//[[:space:]]/}
	[ -z "$kind" ] || [ "${kind:0:1}" = "#" ] && continue
	what=$(sed 's/^ *//; s/ *$//' <<<"$what")
	expect=$(sed 's/^ *//; s/ *$//' <<<"$expect")
	n=$((n + 1))
	case $kind in
	svc) base=$svc_base ;;
	brk) base=$brk_base ;;
	*) not_ok "refused: $what" "bad test case: kind '$kind'" && continue ;;
	esac
	manifest=$(jq -c --arg name "bad-$n" "$mergepatch ($patch) as \$p | .metadata.name = \$name | mp(\$p)" <<<"$base") || {
		not_ok "refused: $what" "bad test case: $patch"
		continue
	}
	out=$(kubectl apply --validate=strict -n "$ns" -f - <<<"$manifest" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] && grep -Eq -- "$expect" <<<"$out"; then
		ok "refused, naming the field: $what"
	else
		not_ok "refused, naming the field: $what" "exit status: $rc" "expected: $expect" "output: $out" "manifest: $manifest"
	fi
done 3<<'EOF'
# kind | what                                   | expected in the error (ERE)                                  | merge patch on the base
svc | missing spec                              | spec: Required value                                         | {"spec":null}
svc | missing image                             | spec.image: Required value                                   | {"spec":{"image":null}}
svc | empty image                               | spec.image: .*spec.image must not be empty                   | {"spec":{"image":""}}
svc | image with a space                        | spec.image: .*spec.image must not contain whitespace         | {"spec":{"image":"registry.local/shop/a :1.0"}}
svc | image with an uppercase repository        | spec.image: .*not a valid image reference                    | {"spec":{"image":"Shop/Orders:1.0"}}
svc | image with an empty tag                   | spec.image: .*not a valid image reference                    | {"spec":{"image":"registry.local/shop/orders:"}}
svc | image with a short digest                 | spec.image: .*not a valid image reference                    | {"spec":{"image":"registry.local/shop/orders@sha256:abc"}}
svc | image with a URL scheme                   | spec.image: .*not a valid image reference                    | {"spec":{"image":"https://registry.local/shop/orders"}}
svc | image with two tags                       | spec.image: .*not a valid image reference                    | {"spec":{"image":"orders:1.0:2"}}
svc | image longer than 512 characters          | spec.image: Too long                                         | {"spec":{"image":("registry.local/" + "a" * 500)}}
svc | image not a string                        | spec.image: Invalid value: .*must be of type string          | {"spec":{"image":42}}
svc | replicas -1                               | spec.replicas: .*greater than or equal to 0                  | {"spec":{"replicas":-1}}
svc | replicas 1001                             | spec.replicas: .*less than or equal to 1000                  | {"spec":{"replicas":1001}}
svc | replicas not an integer                   | spec.replicas: .*must be of type integer                     | {"spec":{"replicas":"three"}}
svc | port 0                                    | spec.port: .*greater than or equal to 1                      | {"spec":{"port":0}}
svc | port 70000                                | spec.port: .*less than or equal to 65535                     | {"spec":{"port":70000}}
svc | healthCheck.path without a leading /      | spec.healthCheck.path: .*must start with '/'                 | {"spec":{"healthCheck":{"path":"health/"}}}
svc | healthCheck without a path                | spec.healthCheck.path: Required value                        | {"spec":{"healthCheck":{"periodSeconds":5}}}
svc | healthCheck.periodSeconds 0               | spec.healthCheck.periodSeconds: .*greater than or equal to 1 | {"spec":{"healthCheck":{"path":"/health/","periodSeconds":0}}}
svc | healthCheck.port 0                        | spec.healthCheck.port: .*greater than or equal to 1          | {"spec":{"healthCheck":{"path":"/health/","port":0}}}
svc | route.pathPrefix without a trailing /     | spec.route.pathPrefix: .*must start and end with '/'         | {"spec":{"route":{"pathPrefix":"/api/orders"}}}
svc | route.pathPrefix without a leading /      | spec.route.pathPrefix: .*must start and end with '/'         | {"spec":{"route":{"pathPrefix":"api/orders/"}}}
svc | route without a pathPrefix                | spec.route.pathPrefix: Required value                        | {"spec":{"route":{"host":"shop.local"}}}
svc | route.pathPrefix with a control character  | spec.route.pathPrefix: .*control characters                  | {"spec":{"route":{"pathPrefix":"/api/\u0007/"}}}
svc | env valueFrom with two sources            | spec.env\[0\].valueFrom: .*at most 1                         | {"spec":{"env":[{"name":"A","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"},"secretKeyRef":{"name":"s","key":"k"}}}]}}
svc | env valueFrom with no source              | spec.env\[0\].valueFrom: .*at least 1                        | {"spec":{"env":[{"name":"A","valueFrom":{}}]}}
svc | route.host not a DNS name                 | spec.route.host: .*DNS-1123 subdomain                        | {"spec":{"route":{"pathPrefix":"/","host":"Shop_Local"}}}
svc | a Service that depends on itself          | spec.dependsOn: .*must not name the Service itself           | {"metadata":{"name":"loop"},"spec":{"dependsOn":["users","loop"]}}
svc | dependsOn entry with uppercase letters    | spec.dependsOn\[1\]: .*"Users" must be a Service name \(a DNS-1035 label\) | {"spec":{"dependsOn":["orders","Users"]}}
svc | dependsOn entry with a dot                | spec.dependsOn\[0\]: .*DNS-1035 label                        | {"spec":{"dependsOn":["users.shop"]}}
svc | dependsOn entry starting with a digit     | spec.dependsOn\[0\]: .*"2fa" must be a Service name          | {"spec":{"dependsOn":["2fa"]}}
svc | dependsOn entry listed twice              | spec.dependsOn\[1\]: Duplicate value                         | {"spec":{"dependsOn":["users","users"]}}
svc | rollout.maxSurge 150%                     | spec.rollout.maxSurge: .*percentage from '0%' to '100%'      | {"spec":{"rollout":{"maxSurge":"150%"}}}
svc | rollout.maxSurge -1                       | spec.rollout.maxSurge: .*integer from 0 to 2147483647        | {"spec":{"rollout":{"maxSurge":-1}}}
svc | rollout.maxSurge above int32              | spec.rollout.maxSurge: .*integer from 0 to 2147483647.*got 3000000000 | {"spec":{"rollout":{"maxSurge":3000000000}}}
svc | rollout.maxUnavailable above int32        | spec.rollout.maxUnavailable: .*got 2147483648                | {"spec":{"rollout":{"maxUnavailable":2147483648}}}
svc | rollout.maxUnavailable "25" (no %)        | spec.rollout.maxUnavailable: .*got "25"                      | {"spec":{"rollout":{"maxUnavailable":"25"}}}
svc | rollout.maxSurge and maxUnavailable 0     | spec.rollout.maxSurge: .*must not both be zero               | {"spec":{"rollout":{"maxSurge":0,"maxUnavailable":0}}}
svc | rollout.maxSurge and maxUnavailable 0%    | spec.rollout.maxSurge: .*must not both be zero               | {"spec":{"rollout":{"maxSurge":"0%","maxUnavailable":"0%"}}}
svc | rollout.progressDeadlineSeconds 0         | spec.rollout.progressDeadlineSeconds: .*greater than or equal to 1 | {"spec":{"rollout":{"progressDeadlineSeconds":0}}}
svc | rollout.progressDeadlineSeconds 86401     | spec.rollout.progressDeadlineSeconds: .*less than or equal to 86400 | {"spec":{"rollout":{"progressDeadlineSeconds":86401}}}
svc | env entry without a name                  | spec.env\[0\].name: Required value                           | {"spec":{"env":[{"value":"x"}]}}
svc | env name listed twice                     | spec.env\[1\]: Duplicate value                               | {"spec":{"env":[{"name":"A","value":"1"},{"name":"A","value":"2"}]}}
svc | env with both value and valueFrom         | spec.env\[0\]: .*value and valueFrom are mutually exclusive  | {"spec":{"env":[{"name":"A","value":"1","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}]}}
svc | resources.limits.cpu not a quantity       | spec.resources.limits.cpu: .*should match                    | {"spec":{"resources":{"limits":{"cpu":"lots"}}}}
svc | readinessProbe with no handler            | spec.readinessProbe: .*exactly one of httpGet, tcpSocket, exec or grpc | {"spec":{"readinessProbe":{"periodSeconds":5}}}
svc | startupProbe httpGet without a port       | spec.startupProbe.httpGet.port: Required value               | {"spec":{"startupProbe":{"httpGet":{"path":"/"}}}}
svc | livenessProbe successThreshold 2          | spec.livenessProbe.successThreshold: .*must be 1             | {"spec":{"livenessProbe":{"tcpSocket":{"port":80},"successThreshold":2}}}
svc | command not a list of strings             | spec.command\[0\]: .*must be of type string                  | {"spec":{"command":[1]}}
svc | envFrom with neither source               | spec.envFrom\[0\]: .*exactly one of configMapRef or secretRef | {"spec":{"envFrom":[{"prefix":"A_"}]}}
svc | a hostPath volume                         | spec.volumes\[0\]: .*hostPath volumes are not supported      | {"spec":{"volumes":[{"name":"d","hostPath":{"path":"/"}}]}}
svc | a volume named breakwater-registry        | spec.volumes\[0\].name: .*reserved for the registry volume   | {"spec":{"volumes":[{"name":"breakwater-registry","emptyDir":{}}]}}
svc | a volume name listed twice                | spec.volumes\[1\]: Duplicate value                           | {"spec":{"volumes":[{"name":"d","emptyDir":{}},{"name":"d","emptyDir":{}}]}}
svc | a relative mountPath                      | spec.volumeMounts\[0\].mountPath: .*must be an absolute path | {"spec":{"volumes":[{"name":"d","emptyDir":{}}],"volumeMounts":[{"name":"d","mountPath":"data"}]}}
svc | a mount under /etc/breakwater             | spec.volumeMounts\[0\].mountPath: .*breakwater webhook mounts the registry | {"spec":{"volumes":[{"name":"d","emptyDir":{}}],"volumeMounts":[{"name":"d","mountPath":"/etc/breakwater/x"}]}}
svc | a mount naming no volume                  | spec.volumeMounts: .*must name a volume of spec.volumes      | {"spec":{"volumeMounts":[{"name":"d","mountPath":"/d"}]}}
svc | a toleration operator Maybe               | spec.tolerations\[0\].operator: Unsupported value            | {"spec":{"tolerations":[{"key":"k","operator":"Maybe"}]}}
svc | topologySpreadConstraint without a key    | spec.topologySpreadConstraints\[0\].topologyKey: Required value | {"spec":{"topologySpreadConstraints":[{"maxSkew":1,"whenUnsatisfiable":"ScheduleAnyway"}]}}
svc | serviceAccountName not a DNS label        | spec.serviceAccountName: .*must be a DNS-1123 label          | {"spec":{"serviceAccountName":"Orders"}}
svc | imagePullSecrets entry without a name     | spec.imagePullSecrets\[0\].name: Required value              | {"spec":{"imagePullSecrets":[{}]}}
svc | terminationGracePeriodSeconds -1          | spec.terminationGracePeriodSeconds: .*greater than or equal to 0 | {"spec":{"terminationGracePeriodSeconds":-1}}
svc | preStop with two handlers                 | spec.preStop: .*exactly one of exec, httpGet or sleep        | {"spec":{"preStop":{"sleep":{"seconds":1},"exec":{"command":["x"]}}}}
svc | minReadySeconds over the deadline         | spec.minReadySeconds: .*less than spec.rollout.progressDeadlineSeconds | {"spec":{"minReadySeconds":30,"rollout":{"progressDeadlineSeconds":30}}}
svc | a podMetadata label breakwater sets       | spec.podMetadata.labels: .*may not set breakwater.io/service | {"spec":{"podMetadata":{"labels":{"app.kubernetes.io/name":"x"}}}}
svc | a podMetadata annotation breakwater.io/   | spec.podMetadata.annotations: .*prefix breakwater.io/        | {"spec":{"podMetadata":{"annotations":{"breakwater.io/restartedAt":"x"}}}}
svc | autoscaling minReplicas over maxReplicas  | spec.autoscaling.minReplicas: .*must be <= spec.autoscaling.maxReplicas | {"spec":{"autoscaling":{"minReplicas":5,"maxReplicas":4}}}
svc | autoscaling minReplicas 0                 | spec.autoscaling.minReplicas: .*greater than or equal to 1   | {"spec":{"autoscaling":{"minReplicas":0,"maxReplicas":4}}}
svc | autoscaling without maxReplicas           | spec.autoscaling.maxReplicas: Required value                 | {"spec":{"autoscaling":{"minReplicas":1}}}
svc | an autoscaling metric of type Cpu         | spec.autoscaling.metrics\[0\].type: Unsupported value        | {"spec":{"autoscaling":{"maxReplicas":4,"metrics":[{"type":"Cpu"}]}}}
svc | a Resource metric without resource        | spec.autoscaling.metrics\[0\]: .*needs its member resource   | {"spec":{"autoscaling":{"maxReplicas":4,"metrics":[{"type":"Resource"}]}}}
svc | Utilization without averageUtilization    | spec.autoscaling.metrics\[0\].resource.target: .*averageUtilization is.*required | {"spec":{"autoscaling":{"maxReplicas":4,"metrics":[{"type":"Resource","resource":{"name":"cpu","target":{"type":"Utilization"}}}]}}}
svc | disruptionBudget with both                | spec.disruptionBudget: .*exactly one of minAvailable and     | {"spec":{"disruptionBudget":{"minAvailable":1,"maxUnavailable":1}}}
svc | disruptionBudget minAvailable 150%        | spec.disruptionBudget.minAvailable: .*percentage from        | {"spec":{"disruptionBudget":{"minAvailable":"150%"}}}
svc | paused not a boolean                      | spec.paused: .*must be of type boolean                       | {"spec":{"paused":"yes"}}
svc | a name that is not a DNS-1035 label       | metadata.name: .*must be a DNS-1035 label                    | {"metadata":{"name":"bad.name"}}
svc | a name starting with a digit              | metadata.name: .*"1orders" must be a DNS-1035 label          | {"metadata":{"name":"1orders"}}
svc | an unknown field (--validate=strict)      | unknown field "spec.colour"                                  | {"spec":{"colour":"blue"}}
brk | missing spec                              | spec: Required value                                         | {"spec":null}
brk | Breaker without a target                  | spec.target: Required value                                  | {"spec":{"target":null,"failureThreshold":3}}
brk | target not a DNS-1035 label               | spec.target: .*"Payments" must be a Service name \(a DNS-1035 label\) | {"spec":{"target":"Payments"}}
brk | target starting with a digit              | spec.target: .*"9lives" must be a Service name               | {"spec":{"target":"9lives"}}
brk | failureThreshold 0                        | spec.failureThreshold: .*greater than or equal to 1          | {"spec":{"failureThreshold":0}}
brk | failureRateThreshold 0                    | spec.failureRateThreshold: .*greater than or equal to 1      | {"spec":{"failureRateThreshold":0}}
brk | failureRateThreshold 101                  | spec.failureRateThreshold: .*less than or equal to 100       | {"spec":{"failureRateThreshold":101}}
brk | minimumCalls 0                            | spec.minimumCalls: .*greater than or equal to 1              | {"spec":{"minimumCalls":0}}
brk | an unknown mode                           | spec.mode: Unsupported value: "Sometimes"                    | {"spec":{"mode":"Sometimes"}}
brk | maxOpenSeconds < openSeconds              | spec.maxOpenSeconds: .*\(30\) must be at least spec.openSeconds \(60\) | {"spec":{"maxOpenSeconds":30}}
brk | openSeconds above the default maxOpenSeconds | spec.maxOpenSeconds: .*\(600\) must be at least spec.openSeconds \(900\) | {"spec":{"openSeconds":900}}
brk | openSeconds 0                             | spec.openSeconds: .*greater than or equal to 1               | {"spec":{"openSeconds":0}}
brk | slidingWindow.type Sessions               | spec.slidingWindow.type: Unsupported value: "Sessions"       | {"spec":{"slidingWindow":{"type":"Sessions"}}}
brk | slidingWindow.size 0                      | spec.slidingWindow.size: .*greater than or equal to 1        | {"spec":{"slidingWindow":{"size":0}}}
brk | slowCall.rateThreshold 0                  | spec.slowCall.rateThreshold: .*greater than or equal to 1    | {"spec":{"slowCall":{"rateThreshold":0}}}
brk | slowCall.rateThreshold 101                | spec.slowCall.rateThreshold: .*less than or equal to 100     | {"spec":{"slowCall":{"rateThreshold":101}}}
brk | slowCall.durationMs 0                     | spec.slowCall.durationMs: .*greater than or equal to 1       | {"spec":{"slowCall":{"durationMs":0}}}
brk | backoffMultiplier 11                      | spec.backoffMultiplier: .*less than or equal to 10           | {"spec":{"backoffMultiplier":11}}
brk | backoffMultiplier 1.5 (not an integer)    | spec.backoffMultiplier: .*must be of type int32              | {"spec":{"backoffMultiplier":1.5}}
brk | halfOpenCalls 0                           | spec.halfOpenCalls: .*greater than or equal to 1             | {"spec":{"halfOpenCalls":0}}
brk | an unknown field (--validate=strict)      | unknown field "spec.threshold"                               | {"spec":{"threshold":5}}
EOF
check "the table has at least 20 invalid cases" test "$n" -ge 20
check_eq "no invalid object was stored" "" \
	"$(kubectl get -n "$ns" bsvc,brk -o name | grep -E '/(bad-|loop$)')"

# An update is validated too, not only a create.
out=$(kubectl patch -n "$ns" bsvc/web --type=merge -p '{"spec":{"dependsOn":["web"]}}' 2>&1)
check "an update making a Service depend on itself is refused, naming spec.dependsOn" \
	grep -q 'spec.dependsOn: .*must not name the Service itself ("web")' <<<"$out"

# --- the renderer's rules are the CRD's -------------------------------------------
#
# The validating webhook fails open (docs/webhook.md), so every rule about one
# object must hold with no webhook at all: each Service the operator's renderer
# refuses (tests/unit/data/render/error-*, where error.json names the field
# bw_render_validate() reports) is refused by the API server alone, naming the
# same field. Left out: the cases about what only the API server sets
# (metadata.namespace, metadata.uid) or requires of every object (a name).
renders=0
for dir in tests/unit/data/render/error-*/; do
	field=$(jq -r '.validate // empty' "$dir/error.json")
	[ -n "$field" ] && jq -e '.metadata.name | type == "string"' "$dir/service.json" >/dev/null || continue
	renders=$((renders + 1))
	manifest=$(jq -c 'del(.metadata.namespace, .metadata.uid, .metadata.generation)' "$dir/service.json")
	out=$(kubectl create --dry-run=server -n "$ns" -f - <<<"$manifest" 2>&1)
	rc=$?
	# a CEL rule about two fields names both in its message
	if [ $rc -ne 0 ] && grep -qF -- "$field" <<<"$out"; then
		ok "the API server refuses what the renderer refuses: $(basename "$dir") ($field)"
	else
		not_ok "the API server refuses what the renderer refuses: $(basename "$dir") ($field)" \
			"output: $out" "manifest: $manifest"
	fi
done
check "at least 20 of the renderer's refusals are checked against the API server" test "$renders" -ge 20

# --- kubectl explain --------------------------------------------------------------

explain=$(kubectl explain bsvc.spec.rollout | tr -s ' \n' '  ')
for text in 'maxSurge' 'Default 25%' 'maxUnavailable' 'Default 0' 'progressDeadlineSeconds' \
	'range 1..86400' 'autoRollback' 'lastGoodImage' 'may not both be zero'; do
	check "kubectl explain bsvc.spec.rollout describes: $text" grep -qF -- "$text" <<<"$explain"
done
explain=$(kubectl explain brk.spec.mode | tr -s ' \n' '  ')
for text in 'Enforce' 'MetricsOnly' 'ForcedOpen' 'ForcedClosed' 'Disabled' 'Default Enforce' 'calls are never refused'; do
	check "kubectl explain brk.spec.mode describes: $text" grep -qF -- "$text" <<<"$explain"
done
explain=$(kubectl explain bsvc.spec.route --recursive=false | tr -s ' \n' '  ')
for text in 'Ingress' 'HTTPRoute' 'RouteConflict' 'status.routeURL' 'parentRef' 'tls'; do
	check "kubectl explain bsvc.spec.route describes: $text" grep -qF -- "$text" <<<"$explain"
done
explain=$(kubectl explain bsvc.spec.route.tls | tr -s ' \n' '  ')
check "kubectl explain bsvc.spec.route.tls says what a missing Secret does" \
	grep -qF 'default certificate' <<<"$explain"
explain=$(kubectl explain bsvc.spec.image | tr -s ' \n' '  ')
check "kubectl explain bsvc.spec.image gives the reference form" grep -qF '@sha256:digest' <<<"$explain"

# --- category, printer columns -----------------------------------------------------

names=$(kubectl get breakwater -n "$ns" -o name | sort | tr '\n' ' ')
check_eq "kubectl get breakwater lists both kinds" \
	"breaker.breakwater.io/users service.breakwater.io/full service.breakwater.io/web " "$names"
check_eq "kubectl get bsvc shows the printer columns" "NAME IMAGE DESIRED READY STATUS URL AGE" \
	"$(kubectl get bsvc -n "$ns" | head -n 1 | tr -s ' ')"
check_eq "kubectl get brk shows the printer columns" "NAME TARGET MODE FAILURES RATE CLIENTS AGE" \
	"$(kubectl get brk -n "$ns" | head -n 1 | tr -s ' ')"
check_eq "the Breaker row shows target, mode, failures and rate" "users users Enforce 5 50" \
	"$(kubectl get brk users -n "$ns" --no-headers | tr -s ' ' | cut -d' ' -f1-5)"

# --- the scale subresource ---------------------------------------------------------

gen0=$(kubectl get -n "$ns" bsvc/web -o jsonpath='{.metadata.generation}')
check "kubectl scale bsvc/web --replicas=5 succeeds" kubectl scale -n "$ns" bsvc/web --replicas=5
check_eq "scaling sets spec.replicas" 5 "$(kubectl get -n "$ns" bsvc/web -o jsonpath='{.spec.replicas}')"
check_eq "the scale subresource reads spec.replicas" 5 \
	"$(kubectl get -n "$ns" bsvc/web --subresource=scale -o jsonpath='{.spec.replicas}')"
check_eq "scaling is a spec change: metadata.generation grows by one" $((gen0 + 1)) \
	"$(kubectl get -n "$ns" bsvc/web -o jsonpath='{.metadata.generation}')"
out=$(kubectl scale -n "$ns" bsvc/web --replicas=1001 2>&1)
check "scaling to 1001 is refused, naming spec.replicas" grep -q 'spec.replicas' <<<"$out"
check_eq "the refused scale left spec.replicas alone" 5 "$(kubectl get -n "$ns" bsvc/web -o jsonpath='{.spec.replicas}')"

# --- the status subresource ---------------------------------------------------------

gen=$(kubectl get -n "$ns" bsvc/web -o jsonpath='{.metadata.generation}')
status=$(jq -cn --argjson g "$gen" '{status: {observedGeneration: $g, image: "registry.local/shop/web:1.0.0",
	lastGoodImage: "registry.local/shop/web:0.9.0", replicas: 5, updatedReplicas: 5, readyReplicas: 4,
	availableReplicas: 4, selector: "breakwater.io/service=web", url: "http://web.ns.svc.cluster.local:8080",
	conditions: [{type: "Ready", status: "True", observedGeneration: $g, lastTransitionTime: "2026-01-01T00:00:00Z",
		reason: "RolloutComplete", message: ""}]}}')
check "a status write through the status subresource succeeds" \
	kubectl patch -n "$ns" bsvc/web --subresource=status --type=merge -p "$status"
check_eq "the status is stored" "4 RolloutComplete breakwater.io/service=web" \
	"$(kubectl get -n "$ns" bsvc/web -o jsonpath='{.status.readyReplicas} {.status.conditions[?(@.type=="Ready")].reason} {.status.selector}')"
check_eq "the status write did not change metadata.generation" "$gen" \
	"$(kubectl get -n "$ns" bsvc/web -o jsonpath='{.metadata.generation}')"
check_eq "the scale subresource reports status.replicas and the selector" "5 breakwater.io/service=web" \
	"$(kubectl get -n "$ns" bsvc/web --subresource=scale -o jsonpath='{.status.replicas} {.status.selector}')"
check_eq "kubectl get bsvc shows desired, ready and the Ready reason" "web registry.local/shop/web:1.0.0 5 4 RolloutComplete" \
	"$(kubectl get bsvc web -n "$ns" --no-headers | tr -s ' ' | cut -d' ' -f1-5)"

kubectl patch -n "$ns" bsvc/web --subresource=status --type=merge -p '{"spec":{"replicas":7}}' >/dev/null 2>&1
check_eq "a spec change sent to the status subresource is ignored" 5 \
	"$(kubectl get -n "$ns" bsvc/web -o jsonpath='{.spec.replicas}')"
kubectl patch -n "$ns" bsvc/web --type=merge -p '{"status":{"readyReplicas":99}}' >/dev/null 2>&1
check_eq "a status change sent to the main resource is ignored" 4 \
	"$(kubectl get -n "$ns" bsvc/web -o jsonpath='{.status.readyReplicas}')"
out=$(kubectl patch -n "$ns" bsvc/web --subresource=status --type=json \
	-p '[{"op":"replace","path":"/status/conditions/0/status","value":"Maybe"}]' 2>&1)
check "a status with an invalid condition is refused, naming the field" \
	grep -q 'status.conditions\[0\].status: Unsupported value: "Maybe"' <<<"$out"

gen=$(kubectl get -n "$ns" brk/users -o jsonpath='{.metadata.generation}')
check "a Breaker status write succeeds" kubectl patch -n "$ns" brk/users --subresource=status --type=merge \
	-p '{"status":{"observedGeneration":1,"clients":["orders","payments"],"pods":{"configured":3,"stale":0}}}'
check_eq "the Breaker status is stored" "orders payments 3" \
	"$(kubectl get -n "$ns" brk/users -o jsonpath='{.status.clients[0]} {.status.clients[1]} {.status.pods.configured}')"
check_eq "the Breaker status write did not change metadata.generation" "$gen" \
	"$(kubectl get -n "$ns" brk/users -o jsonpath='{.metadata.generation}')"
check "kubectl get brk shows the clients" \
	bash -c "\"$state/bin/kubectl\" get brk users -n $ns --no-headers | grep -q 'orders.*payments'"

# --- examples/shop/ ---------------------------------------------------------------

check "examples/shop/00-namespace.yaml applies" kubectl apply -f examples/shop/00-namespace.yaml
check_eq "the shop namespace is labelled for injection" enabled \
	"$(kubectl get namespace shop -o jsonpath='{.metadata.labels.breakwater\.io/inject}')"
files=0
for f in examples/shop/*.yaml; do
	[ "$f" = examples/shop/00-namespace.yaml ] && continue
	files=$((files + 1))
	check "$f passes a server-side dry run" kubectl apply --dry-run=server -f "$f"
done
check_eq "examples/shop/ holds the namespace and 5 more files" 5 "$files"
shop=$(kubectl apply --dry-run=server -o json -f examples/shop/ 2>/dev/null |
	jq -r '(.items // [.])[] | select(.apiVersion == "breakwater.io/v1alpha1") |
		"\(.kind)/\(.metadata.namespace)/\(.metadata.name) \(.spec.image // .spec.target) \(.spec.replicas // .spec.failureThreshold) \(.spec.dependsOn // [] | join(",")) \(.spec.route.pathPrefix // .spec.mode)"' | sort)
check_eq "the shop: four Services and two Breakers, as the seed describes them" \
	"Breaker/shop/payments payments 5  Enforce
Breaker/shop/users users 3  Enforce
Service/shop/orders registry.local/shop/orders:1.0.0 3 users,products,payments /api/orders/
Service/shop/payments registry.local/shop/payments:1.0.0 2 users /api/payments/
Service/shop/products registry.local/shop/products:1.0.0 2  /api/products/
Service/shop/users registry.local/shop/users:1.0.0 2  /api/users/" "$shop"
