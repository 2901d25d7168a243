#!/usr/bin/env bash
# Out of the box, the operator's HTTP endpoints listen on 127.0.0.1 only:
# /metrics (127.0.0.1:8080) has no authentication, and nothing outside the
# host needs /healthz and /readyz (127.0.0.1:8081). A cluster install asks
# for more with --metrics-bind-address / --health-probe-bind-address
# (manifests/). No API server is needed: the servers start while the
# informers are still trying to reach it.
. "$(dirname "$0")/../lib.sh"
bin=$top/build/asan/breakwater

dir=$(mktemp -d /tmp/bw-cli-listen-XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
cat >"$dir/kubeconfig" <<'YAML'
current-context: nowhere
contexts: [{name: nowhere, context: {cluster: nowhere, user: nobody}}]
clusters: [{name: nowhere, cluster: {server: 'https://127.0.0.1:1'}}]
users: [{name: nobody, user: {token: not-used}}]
YAML

# listening PID: the local addresses PID listens on, one per line
listening() { ss -Hltnp | awk -v p="pid=$1," 'index($0, p) { print $4 }' | sort; }

# start FLAGS...: runs the operator (no webhook, no leader election) until
# both endpoints are served; sets pid and log
start() {
	log=$dir/log
	ASAN_OPTIONS=detect_leaks=0 "$bin" --kubeconfig "$dir/kubeconfig" --webhook-port 0 \
		--leader-elect=false "$@" >"$log" 2>&1 &
	pid=$!
	eventually 20 bash -c "[ \$(grep -c 'serving /' '$log') -ge 2 ]"
}
stop() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=; }

busy=$(ss -Hltn '( sport = :8080 or sport = :8081 )')
if [ -n "$busy" ]; then
	not_ok "the default ports 8080 and 8081 are free for this test" "$busy"
else
	start
	check_eq "by default, /metrics and /healthz listen on loopback only" \
		"127.0.0.1:8080 127.0.0.1:8081" "$(listening "$pid" | tr '\n' ' ' | sed 's/ $//')"
	stop
fi

take_port m
take_port h
start --metrics-bind-address ":$m" --health-probe-bind-address "127.0.0.1:$h"
check_eq "':PORT' asks for every interface, as in controller-runtime" \
	"$(printf '%s\n' "0.0.0.0:$m" "127.0.0.1:$h" | sort | tr '\n' ' ')" \
	"$(listening "$pid" | tr '\n' ' ')"
check "and the log says where each endpoint listens" grep -q "serving /metrics on 0.0.0.0:$m" "$log"
stop

start --metrics-bind-address 0 --health-probe-bind-address "127.0.0.1:$h"
check_eq "'0' turns /metrics off" "127.0.0.1:$h" "$(listening "$pid" | tr '\n' ' ' | sed 's/ $//')"
stop
