#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build and test breakwater.
# Idempotent; prints nothing when nothing is missing.
#
#   tests/install-deps.sh            what make, make test and make demo need
#   tests/install-deps.sh image      and what make image needs (umoci, strip)
#   tests/install-deps.sh bench      and what make bench, bench-scale and bench-proxy need
#                                    (h2load, gnuplot, nginx, HAProxy)
set -euo pipefail

packages=(
	gcc make pkg-config clang clang-format libclang-rt-14-dev valgrind
	libcurl4-openssl-dev libssl-dev libyaml-dev libjansson-dev libwebsockets-dev zlib1g-dev
	curl openssl jq iproute2 python3 util-linux procps
)
for extra in "$@"; do
	case $extra in
	image) packages+=(umoci binutils ca-certificates) ;;
	bench) packages+=(nghttp2-client gnuplot-nox nginx-light haproxy) ;;
	*) echo "install-deps: unknown group $extra (image, bench)" >&2; exit 2 ;;
	esac
done

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The local control plane is built with Go from the Go module proxy; Debian's
# golang is too old for Kubernetes 1.37, so Go itself must already be there.
if ! command -v go >/dev/null 2>&1; then
	if [ -x /usr/local/go/bin/go ]; then
		echo "deps: go is at /usr/local/go/bin but not on PATH; add it: export PATH=\$PATH:/usr/local/go/bin" >&2
	else
		echo "deps: Go 1.26 or newer is required (https://go.dev/dl), at /usr/local/go" >&2
	fi
	exit 1
fi

# The kstatus check (tests/kstatus/: the cli and e2e suites) is a Go program
# from the module proxy, cached under ~/.cache/breakwater: build it now so a
# missing proxy shows here, not as a failed test.
if [ $# -eq 0 ]; then
	"$(dirname "$0")/kstatus/build.sh" >/dev/null || exit 1
fi

