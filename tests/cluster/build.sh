#!/usr/bin/env bash
# Builds the local control plane's binaries from their Go modules and links
# them into .cluster/bin. Binaries are cached outside the checkout, under
# $BREAKWATER_CACHE (default ~/.cache/breakwater), keyed by a hash of the Go
# version, the module's sources and the link flags: a clean clone reuses them,
# and a change to any of those rebuilds only what changed.
#
#   tests/cluster/build.sh [STATE_DIR]                 the control plane
#   tests/cluster/build.sh STATE_DIR metrics-server    metrics-server only
#                                                      (cluster.sh metrics)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
state=${1:-$(cd "$here/../.." && pwd)/.cluster}
cache=${BREAKWATER_CACHE:-$HOME/.cache/breakwater}/cluster-bin
export GOFLAGS=${GOFLAGS:--buildvcs=false}

k8s_version=v1.37.2
etcd_version=v3.6.16

say() { printf 'cluster-build: %s\n' "$*"; }

# Link flags that make `kubectl version` and /version report the real release.
k8s_ldflags() {
	local v=$k8s_version minor
	minor=${v#v1.}
	minor=${minor%%.*}
	local flags="-s -w" pkg
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		flags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
		flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
	done
	printf '%s' "$flags"
}

# build MODULE_DIR NAME LDFLAGS EXPECTED_MINUTES: prints the cached binary path.
build() {
	local dir=$1 name=$2 ldflags=$3 minutes=$4
	local key out log start pid count
	key=$( { go version; printf '%s\n' "$ldflags"; cat "$dir/go.mod" "$dir/go.sum" "$dir"/*.go; } |
		sha256sum | cut -c1-16)
	out=$cache/$name-$key
	if [ -x "$out" ]; then
		say "$name: up to date ($out)" >&2
		printf '%s\n' "$out"
		return 0
	fi
	mkdir -p "$cache"
	log=$state/logs/build-$name.log
	say "$name: building from Go modules; the first build takes about $minutes min on 2 cores (log: $log)" >&2
	start=$SECONDS
	(cd "$dir" && go mod download && go build -v -trimpath -ldflags "$ldflags" -o "$out.tmp" .) >"$log" 2>&1 &
	pid=$!
	# go build -v names each package as it compiles it: a count of lines is progress.
	while kill -0 "$pid" 2>/dev/null; do
		sleep 15
		count=$(grep -c '^[a-z]' "$log" 2>/dev/null || true)
		kill -0 "$pid" 2>/dev/null &&
			say "$name: $((SECONDS - start))s, ${count:-0} packages compiled" >&2
	done
	if ! wait "$pid"; then
		say "$name: build FAILED after $((SECONDS - start))s; last lines of $log:" >&2
		tail -n 20 "$log" >&2
		rm -f "$out.tmp"
		return 1
	fi
	mv "$out.tmp" "$out"
	say "$name: built in $((SECONDS - start))s" >&2
	printf '%s\n' "$out"
}

command -v go >/dev/null || { say "go is not installed (expected at /usr/local/go/bin)" >&2; exit 1; }
mkdir -p "$state/bin" "$state/logs"

# metrics-server is built only for the tests that need it (cluster.sh metrics):
# most runs never pay for it.
if [ "${2:-}" = metrics-server ]; then
	ms=$(build "$here/metrics-server" metrics-server "-s -w" 8)
	ln -sfn "$ms" "$state/bin/metrics-server"
	say "metrics-server ready in $state/bin"
	exit 0
fi

kube=$(build "$here/k8s" kube "$(k8s_ldflags)" 6)
etcd=$(build "$here/etcd" etcd "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=module-$etcd_version" 1)
kwok=$(build "$here/kwok" kwok "-s -w" 2)

for name in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
	ln -sfn "$kube" "$state/bin/$name"
done
ln -sfn "$etcd" "$state/bin/etcd"
ln -sfn "$kwok" "$state/bin/kwok"
say "binaries ready in $state/bin"
