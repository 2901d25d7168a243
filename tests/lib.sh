# Helpers for shell tests; source it. Each check prints "ok - NAME" or
# "not ok - NAME" (tests/run.sh counts those) and a failing check shows why.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state=${BREAKWATER_CLUSTER_DIR:-$top/.cluster}
export KUBECONFIG=$state/kubeconfig

kubectl() { "$state/bin/kubectl" "$@"; }

ok() { echo "ok - $1"; }
not_ok() {
	echo "not ok - $1"
	shift
	[ $# -gt 0 ] && printf '    %s\n' "$@"
	return 0
}

# check NAME COMMAND...: passes when COMMAND succeeds; shows its output if not.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "command: $*" "$out"; fi
}

# check_eq NAME EXPECTED ACTUAL
check_eq() {
	if [ "$2" == "$3" ]; then ok "$1"; else not_ok "$1" "expected: $2" "actual:   $3"; fi
}

# eventually SECONDS COMMAND...: retries COMMAND every half second; the
# status of its last run is returned.
eventually() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.5
	done
}

# use_namespace NAME: sets $ns to a namespace of the test's own, deleted when
# the test exits (call it in the test's shell, not in $(...)).
use_namespace() {
	ns="bw-test-$1-$$"
	kubectl create namespace "$ns" >/dev/null
	trap 'kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1' EXIT
}

# Ports this test has handed out (take_port). A port given to an operator
# that is not listening yet (starting, or killed and about to start again)
# is still taken: checking for a listener alone once gave the health and the
# webhook port of one operator the same number (tests/cli/free_port.sh).
reserved_ports=

# free_port [PORT...]: prints a TCP port nothing listens on, other than the
# PORTs named and $reserved_ports, below the kernel's ephemeral range (32768
# and up), where outgoing connections take theirs.
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		case " $* $reserved_ports " in *" $p "*) continue ;; esac
		ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
}

# take_port VAR: sets VAR to a free_port and adds it to $reserved_ports, so
# no later free_port of this shell hands it out again.
take_port() {
	local p
	p=$(free_port) || return
	reserved_ports+=" $p"
	printf -v "$1" %s "$p"
}

# install_crds: applies crds/ and waits until they are served.
install_crds() {
	kubectl apply -f "$top/crds/" >/dev/null &&
		KUBECTL="$state/bin/kubectl" "$top/tests/cluster/wait-established.sh" \
			services.breakwater.io breakers.breakwater.io
}

# launch_operator LABEL [FLAGS...]: runs the sanitizer build of bin/breakwater
# in the background with $KUBECONFIG, free health, metrics and webhook ports
# and debug logs into build/test-logs/operator-LABEL-PID.log; later flags
# override those. Sets op_pid, op_log, op_health, op_metrics and op_webhook,
# and does not wait. Stopped when the test exits unless stop_operator is
# called first.
op_pid=
launch_operator() {
	local label=$1
	shift
	take_port op_health
	take_port op_metrics
	take_port op_webhook
	mkdir -p "$top/build/test-logs" # a script run alone, before tests/run.sh made it
	op_log=$top/build/test-logs/operator-$label-$$.log
	ASAN_OPTIONS=detect_leaks=1 "$top/build/asan/breakwater" --kubeconfig "$KUBECONFIG" \
		--health-probe-bind-address "127.0.0.1:$op_health" \
		--metrics-bind-address "127.0.0.1:$op_metrics" --webhook-port "$op_webhook" \
		--log-level debug "$@" \
		>>"$op_log" 2>&1 &
	op_pid=$!
}

# start_operator NS [FLAGS...]: launch_operator watching NS only, then waits
# for /readyz (the test ends if it never comes).
start_operator() {
	local ns=$1
	shift
	launch_operator "$ns" --namespace "$ns" "$@"
	if ! eventually 30 curl -sf "http://127.0.0.1:$op_health/readyz"; then
		not_ok "the operator starts and becomes ready" "$(tail -n 20 "$op_log")"
		exit 1
	fi
}

# stop_operator [SIGNAL]: stops it (default SIGTERM) and waits; returns its exit status.
stop_operator() {
	local rc=0
	[ -n "$op_pid" ] || return 0
	kill -"${1:-TERM}" "$op_pid" 2>/dev/null
	wait "$op_pid" 2>/dev/null || rc=$?
	op_pid=
	return $rc
}

# cleanup_operator: for a test's EXIT trap: stops the operator, removes its
# webhook registrations (left behind by a SIGKILL) and the test's namespace.
cleanup_operator() {
	stop_operator
	kubectl delete mutatingwebhookconfiguration,validatingwebhookconfiguration \
		"breakwater-$ns" --ignore-not-found >/dev/null 2>&1
	kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
}

# Leak and sanitizer reports in the operator's log fail the test that ran it.
check_operator_log() {
	if grep -q 'ERROR: \(AddressSanitizer\|LeakSanitizer\)\|runtime error:' "$op_log"; then
		not_ok "the operator ran clean under ASan/UBSan" "$(grep -m5 -A5 'ERROR\|runtime error' "$op_log")"
	else
		ok "the operator ran clean under ASan/UBSan"
	fi
}

# audit_now: the time for audit_requests' SINCE (the audit log's format).
audit_now() { date -u +%Y-%m-%dT%H:%M:%S.%6NZ; }

# audit_log NS: the API server's audit events (tests/cluster/README.md) of
# the operator (user agent breakwater/...) that name namespace NS, one JSON
# object a line, unfiltered by stage or verb (callers select).
audit_log() {
	cat "$state"/logs/audit*.log 2>/dev/null | grep -F "\"namespace\":\"$1\"" |
		grep -F '"userAgent":"breakwater/'
}

# audit_requests NS SINCE [UNTIL]: the requests the operator (user agent
# breakwater/...) made on objects of namespace NS since SINCE (and before
# UNTIL, both from audit_now), from the API
# server's audit log (tests/cluster/README.md), one line each: "VERB
# RESOURCE[/SUBRESOURCE] CODE". Watches are left out: they are the
# informers' streams, not work per object (an informer's list is counted, as
# any other list). Scoped to NS, so another test's operator on the same
# cluster does not count.
audit_requests() {
	local ns=$1 since=$2 until=${3:-}
	sleep 0.5 # the log is written as each answer completes; let the last land
	audit_log "$ns" |
		jq -r --arg ns "$ns" --arg since "$since" --arg until "$until" '
		select(.stage == "ResponseComplete" and .requestReceivedTimestamp >= $since
			and ($until == "" or .requestReceivedTimestamp < $until)
			and .objectRef.namespace == $ns and .verb != "watch")
		| "\(.verb) \(.objectRef.resource)\(if .objectRef.subresource then "/" + .objectRef.subresource else "" end) \(.responseStatus.code // 0)"'
}

# audit_writes NS SINCE [UNTIL]: how many of audit_requests' are writes (not get or list).
audit_writes() { audit_requests "$1" "$2" "${3:-}" | awk '$1 != "get" && $1 != "list"' | wc -l; }

# audit_quiet NS SINCE: the operator made no request on NS's objects for 3 s
# (its last status writes and events are in); with eventually.
audit_quiet() {
	local a b
	a=$(audit_requests "$1" "$2" | wc -l)
	sleep 3
	b=$(audit_requests "$1" "$2" | wc -l)
	[ "$a" = "$b" ]
}
