#!/usr/bin/env bash
# Builds the controller-runtime baseline (operator/) and the bench's client
# (client/: the applies and the latency probe) into $BREAKWATER_CACHE/bench-bin (default ~/.cache/breakwater),
# each named by a hash of the Go version, go.mod, go.sum and the module's
# sources, as tests/cluster/build.sh builds the control plane: a clean clone
# reuses a binary any clone on the machine built. Prints the two paths.
#
#   bench/baseline/build.sh     -> OPERATOR_PATH CLIENT_PATH (one per line)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${BREAKWATER_CACHE:-$HOME/.cache/breakwater}/bench-bin
log_dir=${BENCH_LOG_DIR:-$here/../../build/bench-scale}
export GOFLAGS=${GOFLAGS:--buildvcs=false}

say() { printf 'baseline-build: %s\n' "$*" >&2; }

# One key for both programs: they share the module and its dependencies.
key=$( { go version; cat "$here/go.mod" "$here/go.sum"; find "$here" -name '*.go' | sort | xargs cat; } |
	sha256sum | cut -c1-16)

# build PACKAGE NAME: prints the cached binary's path, building it if absent.
build() {
	local pkg=$1 name=$2 out log start
	out=$cache/$name-$key
	if [ -x "$out" ]; then
		printf '%s\n' "$out"
		return 0
	fi
	mkdir -p "$cache" "$log_dir"
	log=$log_dir/build-$name.log
	say "$name: building (controller-runtime and client-go: several minutes on 2 cores the first time; log: $log)"
	start=$SECONDS
	if ! (cd "$here" && go build -trimpath -ldflags "-s -w" -o "$out.tmp" "./$pkg") >"$log" 2>&1; then
		say "$name: build FAILED; last lines of $log:"
		tail -n 20 "$log" >&2
		rm -f "$out.tmp"
		return 1
	fi
	mv "$out.tmp" "$out"
	say "$name: built in $((SECONDS - start))s"
	printf '%s\n' "$out"
}

command -v go >/dev/null || { say "go is not installed"; exit 1; }
build operator baseline-operator
build client bench-client
