#!/usr/bin/env bash
# tests/netns.sh: netns_hold returns only once its holder sleeps in a network
# and mount namespace of its own, so a mount made there through nsenter never
# lands on the host, even when unshare is slow to get there (a wrapper sleeps
# before it). "nsenter until it works" returned at once there, and a test's
# overlay once covered the host's /etc.
. "$(dirname "$0")/../lib.sh"
. "$top/tests/netns.sh"

if [ "$(id -u)" != 0 ]; then
	echo "# skipped: namespaces need root"
	exit 0
fi
dir=$(mktemp -d)
holders=
trap 'for p in $holders; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$dir"' EXIT
real_unshare=$(command -v unshare)

# mount_stays_inside NAME: a tmpfs mounted in the holder's namespace is not
# on the host, and the holder's network is not the host's
mount_stays_inside() {
	local target=$dir/$1
	mkdir -p "$target"
	nsenter -t "$netns_holder" -n -m mount -t tmpfs "bw-netns-$1" "$target" || return 1
	if grep -q "bw-netns-$1" /proc/$$/mounts; then
		echo "the tmpfs is on the host"
		umount "$target"
		return 1
	fi
	nsenter -t "$netns_holder" -n -m grep -q "bw-netns-$1" /proc/self/mounts &&
		[ "$(readlink "/proc/$netns_holder/ns/net")" != "$(readlink /proc/$$/ns/net)" ]
}

netns_hold
check_eq "a holder starts" 0 $?
holders+=" $netns_holder"
check "it sleeps in namespaces of its own; a mount there stays there" mount_stays_inside plain

# unshare slow to start (a loaded machine): the same must hold
mkdir -p "$dir/slow"
printf '#!/bin/sh\nsleep 0.5\nexec %s "$@"\n' "$real_unshare" >"$dir/slow/unshare"
chmod +x "$dir/slow/unshare"
PATH=$dir/slow:$PATH netns_hold
check_eq "a slow unshare: the holder starts" 0 $?
holders+=" $netns_holder"
check "and a mount made as soon as it returns stays there" mount_stays_inside slow

# unshare failing: an error, no holder
mkdir -p "$dir/fail"
printf '#!/bin/sh\necho "unshare: unshare failed: Operation not permitted" >&2\nexit 1\n' >"$dir/fail/unshare"
chmod +x "$dir/fail/unshare"
out=$(PATH=$dir/fail:$PATH netns_hold 2>&1)
check_eq "a failing unshare is an error" 1 $?
check "that names unshare" grep -q "unshare failed" <<<"$out"
