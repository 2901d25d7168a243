#!/usr/bin/env bash
# install.sh [install|uninstall]: the Gateway API's standard-channel CRDs
# (sigs.k8s.io/gateway-api, the version pinned in go.mod next to this file)
# applied to, or deleted from, the cluster of $KUBECONFIG with $KUBECTL
# (default kubectl). The module comes through the Go module proxy into the
# module cache (`go mod download`), is never built, and only its
# config/crd/standard/*.yaml are used. Applied server-side: the CRDs are
# larger than the last-applied annotation allows.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kubectl=${KUBECTL:-kubectl}
dir=$(cd "$here" && go mod download -json sigs.k8s.io/gateway-api | jq -r '.Dir // empty')
if [ -z "$dir" ] || [ ! -d "$dir/config/crd/standard" ]; then
	echo "install.sh: sigs.k8s.io/gateway-api not in the module cache (go mod download failed)" >&2
	exit 1
fi
case ${1:-install} in
install)
	"$kubectl" apply --server-side --force-conflicts -f "$dir/config/crd/standard/" >/dev/null
	crds=$(cd "$dir/config/crd/standard" && ls *.yaml | sed 's/^gateway\.networking\.k8s\.io_\(.*\)\.yaml$/\1.gateway.networking.k8s.io/')
	# shellcheck disable=SC2086 # one word per CRD
	KUBECTL=$kubectl "$here/../cluster/wait-established.sh" $crds
	;;
uninstall)
	"$kubectl" delete --ignore-not-found --wait=true -f "$dir/config/crd/standard/" >/dev/null
	;;
*)
	echo "usage: install.sh [install|uninstall]" >&2
	exit 2
	;;
esac
