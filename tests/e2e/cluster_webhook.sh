#!/usr/bin/env bash
# The admission chain is on: a MutatingWebhookConfiguration with a `url`
# clientConfig on 127.0.0.1 is called over TLS when a pod is created, and its
# patch lands on the pod.
. "$(dirname "$0")/../lib.sh"

use_namespace webhook
work=$(mktemp -d)
hook=bw-test-fixture-$$
cleanup() {
	kubectl delete mutatingwebhookconfiguration "$hook" --ignore-not-found >/dev/null 2>&1
	kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
	[ -n "${fixture:-}" ] && kill "$fixture" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# A CA and a serving certificate for 127.0.0.1, made with OpenSSL.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=fixture-ca \
	-keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
	-keyout "$work/tls.key" -out "$work/tls.csr" 2>/dev/null
openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial -days 1 \
	-extfile <(echo "subjectAltName=IP:127.0.0.1") -out "$work/tls.crt" 2>/dev/null

python3 "$top/tests/e2e/fixtures/webhook.py" "$work/tls.crt" "$work/tls.key" "$work/port" "$work/calls" \
	2>"$work/fixture.log" &
fixture=$!
touch "$work/calls"
eventually 10 test -s "$work/port"
check "the fixture webhook listens" test -s "$work/port"
port=$(cat "$work/port")

kubectl label namespace "$ns" breakwater-test/fixture=on >/dev/null
cat <<EOF2 | kubectl apply -f - >/dev/null
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: $hook}
webhooks:
- name: fixture.breakwater.io
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Fail
  timeoutSeconds: 5
  clientConfig:
    url: https://127.0.0.1:$port/mutate
    caBundle: $(base64 -w0 "$work/ca.crt")
  rules:
  - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}
  namespaceSelector: {matchLabels: {breakwater-test/fixture: "on"}}
EOF2
check "the webhook configuration is accepted" kubectl get mutatingwebhookconfiguration "$hook"

# The apiserver's webhook client picks up new configurations within a second or so.
created=0
for i in $(seq 1 20); do
	if kubectl -n "$ns" run probe-$i --image=registry.local/probe:1 --restart=Never >/dev/null 2>&1 &&
		[ "$(kubectl -n "$ns" get pod probe-$i -o jsonpath='{.metadata.annotations.fixture\.breakwater\.io/mutated}')" = yes ]; then
		created=$i
		break
	fi
	sleep 0.5
done
check "a pod created in the selected namespace carries the webhook's patch" test "$created" -gt 0
check "the webhook saw the pod's review" grep -q "^Pod probe-$created\$" "$work/calls"

kubectl -n default run bw-unselected-$$ --image=registry.local/probe:1 --restart=Never >/dev/null
got=$(kubectl -n default get pod bw-unselected-$$ -o jsonpath='{.metadata.annotations}')
kubectl -n default delete pod bw-unselected-$$ --wait=false >/dev/null
check_eq "a pod outside the namespaceSelector is not mutated" "" "$got"
check "the webhook was not called for it" bash -c "! grep -q bw-unselected $work/calls"

check "the mutated pod becomes Running and Ready under kwok" \
	kubectl -n "$ns" wait --for=condition=Ready pod/probe-$created --timeout=30s
