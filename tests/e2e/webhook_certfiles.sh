#!/usr/bin/env bash
# Certificates from files (cert-manager's way): the webhook serves the files
# given by flags, and serves new ones soon after the files change, without
# a restart; a key that does not match its certificate is not loaded. The
# registrations trust the CA file (--webhook-ca-file), once it is seen to
# sign the certificate, and the API server reaches the webhook through them.
. "$(dirname "$0")/../lib.sh"

install_crds || { not_ok "the CRDs are installed"; exit 1; }
use_namespace certfiles
work=$(mktemp -d)
trap 'cleanup_operator; rm -rf "$work"' EXIT

# make_cert NAME: a CA and a serving certificate for 127.0.0.1 in $work/NAME.*
make_cert() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=$1-ca" \
		-keyout "$work/$1-ca.key" -out "$work/$1-ca.crt" 2>/dev/null
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
		-keyout "$work/$1.key" -out "$work/$1.csr" 2>/dev/null
	openssl x509 -req -in "$work/$1.csr" -CA "$work/$1-ca.crt" -CAkey "$work/$1-ca.key" \
		-CAcreateserial -days 1 -extfile <(printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n') \
		-out "$work/$1.crt" 2>/dev/null
}
make_cert first
make_cert second
cp "$work/first.crt" "$work/tls.crt"
cp "$work/first.key" "$work/tls.key"

cp "$work/first-ca.crt" "$work/ca.crt"
kubectl label namespace "$ns" breakwater.io/inject=enabled >/dev/null

start_operator "$ns" --webhook-cert-file "$work/tls.crt" --webhook-key-file "$work/tls.key" \
	--webhook-ca-file "$work/ca.crt"
url=https://127.0.0.1:$op_webhook/healthz
check "the webhook serves the certificate from the files" curl -sf --cacert "$work/first-ca.crt" "$url"
check "one from another CA is not trusted for it" bash -c "! curl -sf --cacert '$work/second-ca.crt' '$url'"
ca_bundle() {
	kubectl get mutatingwebhookconfiguration "breakwater-$ns" -o jsonpath='{.webhooks[0].clientConfig.caBundle}' |
		base64 -d 2>/dev/null
}
trusts() { [ "$(ca_bundle)" = "$(cat "$1")" ]; } # CA-FILE: the registrations' caBundle is it
check "the registrations trust the CA file" eventually 15 trusts "$work/first-ca.crt"
injected() { # PREFIX: a new pod, through the API server, so its TLS to the webhook is checked
	kubectl -n "$ns" run "$1-$RANDOM" --image=registry.local/plain:1 --restart=Never \
		-o jsonpath='{.metadata.annotations.breakwater\.io/injected}' 2>&1 | grep -q .
}
# the API server loads a new registration from its own watch: a pod made
# before that is admitted without it (failurePolicy Ignore)
check "the API server reaches the webhook with it: a pod is injected" eventually 15 injected first-pod

# a CA file that does not sign the certificate is refused, naming both files
cp "$work/second-ca.crt" "$work/ca.crt.new" && mv "$work/ca.crt.new" "$work/ca.crt"
check "a CA that does not sign the served certificate is refused, naming the files" eventually 15 \
	grep -q "$work/ca.crt does not sign $work/tls.crt" "$op_log"
check_eq "and the registrations keep the CA that works" "$(cat "$work/first-ca.crt")" "$(ca_bundle)"

# a torn update: the new certificate with the old key is refused, the old one stays
cp "$work/second.crt" "$work/tls.crt.new" && mv "$work/tls.crt.new" "$work/tls.crt"
sleep 4
check "a certificate whose key does not match is not loaded" curl -sf --cacert "$work/first-ca.crt" "$url"
cp "$work/second.key" "$work/tls.key.new" && mv "$work/tls.key.new" "$work/tls.key"
check "once both files are new, the new certificate is served" eventually 15 \
	curl -sf --cacert "$work/second-ca.crt" "$url"
check "without a restart" kill -0 "$op_pid"
check "and the old one is not served any more" bash -c "! curl -sf --cacert '$work/first-ca.crt' '$url'"
check "the registrations now trust the new CA" eventually 15 trusts "$work/second-ca.crt"
check "and a pod is injected through them" eventually 15 injected second-pod
stop_operator
check_eq "SIGTERM stops the operator cleanly" 0 "$?"
check "and removes its registrations (a url only it answers)" bash -c \
	"! '$state/bin/kubectl' get mutatingwebhookconfiguration breakwater-$ns 2>/dev/null"
check_operator_log
