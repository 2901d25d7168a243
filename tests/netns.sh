# A network and mount namespace of the tests' own, held by a sleeping
# process, so what runs in it takes no port of the host and mounts nothing
# there. Sourced by tests/sidecar_local.sh and tests/traffic/lib.sh; needs
# root (unshare, nsenter).
#
# netns_hold   starts the holder (unshare ... sleep) and returns once it
#              sleeps in namespaces of its own, or 1 saying why; sets
#              netns_holder (its pid: nsenter -t PID -n -m enters them;
#              the caller keeps it and kills it)
#
# Why not "nsenter until it works": `unshare` is the holder's pid from its
# fork on, before it has called unshare(2), and after that call it still
# makes its mounts private before it execs sleep. nsenter in that window
# enters the host's namespaces (or a mount namespace whose mounts still
# propagate to the host's), and a test's overlay on /etc lands on the
# host's /etc. So the holder counts as ready when it is sleep (the exec
# comes after all of unshare's work) and its namespaces are not ours.

netns_holder=

netns_hold() {
	local i comm net mnt
	unshare --net --mount --propagation private sleep 100000 &
	netns_holder=$!
	for i in $(seq 1 100); do
		kill -0 "$netns_holder" 2>/dev/null || { echo "unshare failed (is this root?)" >&2; return 1; }
		comm=$(cat "/proc/$netns_holder/comm" 2>/dev/null)
		net=$(readlink "/proc/$netns_holder/ns/net" 2>/dev/null)
		mnt=$(readlink "/proc/$netns_holder/ns/mnt" 2>/dev/null)
		if [ "$comm" = sleep ] && [ -n "$net" ] && [ "$net" != "$(readlink /proc/$$/ns/net)" ] &&
			[ -n "$mnt" ] && [ "$mnt" != "$(readlink /proc/$$/ns/mnt)" ]; then
			return 0
		fi
		sleep 0.05
	done
	echo "unshare: pid $netns_holder is not in namespaces of its own after 5 s (comm '$comm')" >&2
	kill "$netns_holder" 2>/dev/null
	wait "$netns_holder" 2>/dev/null
	netns_holder=
	return 1
}
