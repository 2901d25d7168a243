#!/usr/bin/env bash
# Builds Traefik (the ingress controller of the traffic tests) from its Go
# module, tests/traffic/traefik/, and links it as STATE_DIR/bin/traefik.
# Cached as tests/cluster/build.sh caches the control plane: the binary is
# $BREAKWATER_CACHE/traffic-bin/traefik-KEY (default ~/.cache/breakwater),
# KEY a hash of the Go version, go.mod, go.sum, tools.go and the link flags,
# so it is rebuilt only when one of those changes.
#
#   tests/traffic/build.sh [STATE_DIR]     prints the binary's path
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
state=${1:-$(cd "$here/../.." && pwd)/.cluster}
cache=${BREAKWATER_CACHE:-$HOME/.cache/breakwater}/traffic-bin
export GOFLAGS=${GOFLAGS:--buildvcs=false}
export PATH=$PATH:/usr/local/go/bin

version=v3.6.12 # as required in traefik/go.mod
pkg=github.com/traefik/traefik/v3
ldflags="-s -w -X $pkg/pkg/version.Version=$version -X $pkg/pkg/version.Codename=breakwater-tests"
dir=$here/traefik

say() { printf 'traffic-build: %s\n' "$*" >&2; }

command -v go >/dev/null || { say "go is not installed (expected at /usr/local/go/bin)"; exit 1; }
key=$( { go version; printf '%s\n' "$ldflags"; cat "$dir/go.mod" "$dir/go.sum" "$dir"/*.go; } |
	sha256sum | cut -c1-16)
out=$cache/traefik-$key
mkdir -p "$state/bin" "$state/logs"
if [ -x "$out" ]; then
	say "traefik: up to date ($out)"
else
	mkdir -p "$cache"
	log=$state/logs/build-traefik.log
	say "traefik $version: building from its Go module; about 10 min on 2 cores when Go's caches are cold (log: $log)"
	start=$SECONDS
	(cd "$dir" && go mod download && go build -v -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg/cmd/traefik") >"$log" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		sleep 15
		kill -0 "$pid" 2>/dev/null &&
			say "traefik: $((SECONDS - start))s, $(grep -c '^[a-z]' "$log" || true) packages compiled"
	done
	if ! wait "$pid"; then
		say "traefik: build FAILED after $((SECONDS - start))s; last lines of $log:"
		tail -n 20 "$log" >&2
		rm -f "$out.tmp"
		exit 1
	fi
	mv "$out.tmp" "$out"
	say "traefik: built in $((SECONDS - start))s"
fi
ln -sfn "$out" "$state/bin/traefik"
printf '%s\n' "$out"
