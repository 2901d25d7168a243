#!/usr/bin/env bash
# `make demo` stays true: the demo script runs to its end on the local
# control plane, shows the shop Ready, the injected env, the rollout and the
# automatic rollback, and leaves no operator process behind.
. "$(dirname "$0")/../lib.sh"

kubectl delete namespace shop --wait=true --timeout=90s >/dev/null 2>&1
trap 'kubectl delete namespace shop --wait=false >/dev/null 2>&1' EXIT
out=$("$top/examples/demo.sh" 2>&1)
rc=$?
check_eq "the demo runs to its end" 0 "$rc"
check "the shop becomes Ready" grep -q "condition met" <<<"$out"
check "a pod of orders was given USERS_SERVICE_URL" grep -q "USERS_SERVICE_URL=http://users.shop.svc.cluster.local:8000" <<<"$out"
check "the rollout completes" grep -q "image registry.local/shop/orders:1.1.0, lastGoodImage registry.local/shop/orders:1.0.0" <<<"$out"
check "the bad image is rolled back" grep -qE "^orders .*RolledBack" <<<"$out"
# this checkout's demo operator only (it names the checkout's kubeconfig): other
# checkouts on the machine may run operators of their own
check "the rolled-back Service reads Stalled, as kstatus wants" grep -q "Stalled=True RolledBack, Reconciling=False" <<<"$out"
check "no operator is left running" bash -c "! pgrep -f -- '[b]in/breakwater --kubeconfig $top/.cluster/kubeconfig' >/dev/null"
check "and its cluster-wide webhook registration is gone" bash -c "! '$state/bin/kubectl' get mutatingwebhookconfiguration breakwater 2>/dev/null"
[ "$rc" -eq 0 ] || tail -n 30 <<<"$out"
