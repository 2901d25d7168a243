#!/usr/bin/env bash
# The cluster install renders and applies: namespace, RBAC, Deployment and
# Service are accepted by the real API server, and the Deployment's pods are
# scheduled (kwok plays the kubelet, so nothing runs the image itself). The
# ServiceAccount's RBAC allows what the operator does and no more.
. "$(dirname "$0")/../lib.sh"

# a namespace left terminating by an earlier run must be gone first
kubectl delete namespace breakwater-system --wait=true --timeout=90s >/dev/null 2>&1
trap 'kubectl delete -k "$top/manifests/base" --wait=false >/dev/null 2>&1' EXIT
check "kustomize renders the base" bash -c "'$state/bin/kubectl' kustomize '$top/manifests/base' >/dev/null"
check "the CRDs and the base apply" bash -c \
	"'$state/bin/kubectl' apply -f '$top/crds/' >/dev/null && '$state/bin/kubectl' apply -k '$top/manifests/base' >/dev/null"
check "the Deployment becomes available (kwok)" \
	kubectl -n breakwater-system wait --for=condition=Available deployment/breakwater --timeout=60s
sa=system:serviceaccount:breakwater-system:breakwater
can() { [ "$(kubectl auth can-i "$@" --as=$sa 2>/dev/null)" = yes ]; }
check "the operator may watch Services cluster-wide" can watch services.breakwater.io -A
check "and patch their status" can patch services.breakwater.io --subresource=status -n shop
check "and apply Deployments" can patch deployments.apps -n shop
check "and record events" can create events -n shop
check "and hold its lease" can update leases.coordination.k8s.io -n breakwater-system
check "but may not read Secrets outside its namespace" bash -c "[ \"\$('$state/bin/kubectl' auth can-i get secrets -n shop --as=$sa)\" = no ]"
check "nor delete namespaces" bash -c "[ \"\$('$state/bin/kubectl' auth can-i delete namespaces --as=$sa)\" = no ]"
