#!/usr/bin/env bash
# `make demo` stays true: the demo script runs to its end on the local
# control plane, shows the shop Ready, the injected env, the rollout and the
# automatic rollback, a breaker sidecar opening and closing (the injected
# sidecar's command line run here, tests/sidecar_local.sh), requests through
# the gateway answered by the shop's pods (tests/traffic/), and leaves no
# operator process behind.
. "$(dirname "$0")/../lib.sh"

kubectl delete namespace shop --wait=true --timeout=90s >/dev/null 2>&1
trap 'kubectl delete namespace shop --wait=false >/dev/null 2>&1' EXIT
out=$("$top/examples/demo.sh" 2>&1)
rc=$?
stopped=$(grep -m 1 '^demo: stopped at ' <<<"$out")
check_eq "the demo runs to its end${stopped:+ (${stopped#demo: })}" 0 "$rc"
check "the shop becomes Ready" grep -q "condition met" <<<"$out"
check "a pod of orders was given USERS_SERVICE_URL" grep -q "USERS_SERVICE_URL=http://users.shop.svc.cluster.local:8000" <<<"$out"
check "the review memo's counts are shown" grep -qE "^review memo .*miss [0-9]+" <<<"$out"
check "the rollout completes" grep -q "image registry.local/shop/orders:1.1.0, lastGoodImage registry.local/shop/orders:1.0.0" <<<"$out"
check "the bad image is rolled back" grep -qE "^orders .*RolledBack" <<<"$out"
# this checkout's demo operator only (it names the checkout's kubeconfig): other
# checkouts on the machine may run operators of their own
check "the rolled-back Service reads Stalled, as kstatus wants" grep -q "Stalled=True RolledBack, Reconciling=False" <<<"$out"
check "a pod of payments got the breaker sidecar once opted in" grep -q "init container breakwater-proxy, restartPolicy Always" <<<"$out"
check "its USERS_SERVICE_URL points at the sidecar" grep -q "app: USERS_SERVICE_URL=http://127.0.0.1:15201" <<<"$out"
check "the sidecar is given the Breaker as patched (openSeconds 5)" grep -q "the users Breaker in the registry: openSeconds 5," <<<"$out"
check "run here, failures open the users breaker" grep -qE "users failing \(3\): .* -> 500 +breaker OPEN" <<<"$out"
check "while OPEN the sidecar answers 503 itself" grep -qE "not forwarded while OPEN: .* -> 503 +breaker OPEN \(users; state=OPEN\)" <<<"$out"
check "users saw only the calls that were forwarded" grep -q "calls that reached users: 4 " <<<"$out"
check "after openSeconds a trial closes it again" grep -qE "after openSeconds, a trial: .* -> 200 +breaker CLOSED" <<<"$out"
check "the sidecar logged the transitions" grep -q "sidecar log: .*HALF_OPEN -> CLOSED (TrialsSucceeded)" <<<"$out"
check "the gateway sends /api/orders/ to orders pods" grep -qE "GET /api/orders/ +-> pod orders-[a-z0-9]+-[a-z0-9]+ ip 10\.244\." <<<"$out"
orders_answering() { grep -oE 'GET /api/orders/ +-> pod orders-[a-z0-9-]+' <<<"$out" | sort -u | wc -l; }
check "spread over more than one of them" test "$(orders_answering)" -gt 1
demo=$out # (check's own local "out" would hide $out in a function it runs)
other_routes() {
	grep -qE 'GET /api/payments/ +-> pod payments-' <<<"$demo" &&
		grep -qE 'GET /api/users/ +-> pod users-' <<<"$demo" && grep -qE 'GET /api/products/ +-> pod products-' <<<"$demo" ||
		{ grep 'GET /api/' <<<"$demo"; return 1; }
}
check "and each other route to its Service" other_routes
check "no operator is left running" bash -c "! pgrep -f -- '[b]in/breakwater --kubeconfig $top/.cluster/kubeconfig' >/dev/null"
check "and its cluster-wide webhook registration is gone" bash -c "! '$state/bin/kubectl' get mutatingwebhookconfiguration breakwater 2>/dev/null"
[ "$rc" -eq 0 ] || tail -n 30 <<<"$out"
