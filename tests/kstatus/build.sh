#!/usr/bin/env bash
# Builds the kstatus tool (main.go: sigs.k8s.io/cli-utils' status.Compute)
# into $BREAKWATER_CACHE/kstatus-bin (default ~/.cache/breakwater), named by
# a hash of the Go version, go.mod, go.sum and main.go, as
# tests/cluster/build.sh builds the control plane: a clean clone reuses a
# binary any clone on the machine built. Modules come from the Go module
# proxy. Prints the binary's path.
#
#   tests/kstatus/build.sh     -> PATH
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${BREAKWATER_CACHE:-$HOME/.cache/breakwater}/kstatus-bin
export GOFLAGS=${GOFLAGS:--buildvcs=false}

say() { printf 'kstatus-build: %s\n' "$*" >&2; }

command -v go >/dev/null || { say "go is not installed (Go 1.26 or newer, https://go.dev/dl)"; exit 1; }
key=$( { go version; cat "$here/go.mod" "$here/go.sum" "$here"/*.go; } | sha256sum | cut -c1-16)
out=$cache/kstatus-$key
if [ ! -x "$out" ]; then
	mkdir -p "$cache"
	log=$cache/build-$key.log
	say "building (cli-utils and apimachinery: 1 to 3 minutes on 2 cores the first time; log: $log)"
	start=$SECONDS
	if ! (cd "$here" && go build -trimpath -ldflags "-s -w" -o "$out.tmp.$$" .) >"$log" 2>&1; then
		say "build FAILED; last lines of $log:"
		tail -n 20 "$log" >&2
		rm -f "$out.tmp.$$"
		exit 1
	fi
	mv "$out.tmp.$$" "$out" # atomic: two clones building at once both succeed
	say "built in $((SECONDS - start))s"
fi
printf '%s\n' "$out"
