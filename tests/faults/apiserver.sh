#!/usr/bin/env bash
# The API server frozen and restarted under a running operator, each time in
# the middle of a rollout of FAULT_SERVICES Services (default 20):
#   1. SIGSTOP to the kube-apiserver process itself (not its supervisor) for
#      FAULT_FREEZE_SECONDS (default 30), then SIGCONT;
#   2. `tests/cluster/cluster.sh restart kube-apiserver`.
# After each the test keeps editing (scale changes and rollouts) and the
# namespace must converge exactly, with the same operator process. The
# operator's /healthz and /readyz are polled every second throughout and
# what they answered is reported (a figure, not a check: what readyz should
# do while the API server is gone is a choice; docs/webhook.md says it).
#
# Runtime: 3-4 minutes at the defaults (a restart of the API server alone
# took 26-70 s on 2 busy cores).
#
#   FAULT_SEED=N FAULT_SERVICES=5 bash tests/faults/apiserver.sh
. "$(dirname "$0")/lib.sh"

FAULT_FREEZE_SECONDS=${FAULT_FREEZE_SECONDS:-30}
echo "# FAULT_SEED=$FAULT_SEED FAULT_SERVICES=$FAULT_SERVICES FAULT_FREEZE_SECONDS=$FAULT_FREEZE_SECONDS"
rng_seed "$FAULT_SEED"
install_crds || { not_ok "the CRDs are installed"; exit 1; }
use_namespace apiserver
frozen=
poller=
finish() {
	# never leave the API server stopped, whatever happened
	[ -n "$frozen" ] && kill -CONT "$frozen" 2>/dev/null
	[ -n "$poller" ] && kill "$poller" 2>/dev/null
	cleanup_operator
}
trap finish EXIT
expected=$top/build/test-logs/faults-apiserver-$$.expected
probes=$top/build/test-logs/faults-apiserver-$$.probes

start_operator "$ns"
pid0=$op_pid
create_services "$FAULT_SERVICES"
write_expected "$expected"
wait_converged "$ns" "$FAULT_CONVERGE_SECONDS" "$expected"
[ -n "$converge_ms" ] || { not_ok "the Services converge before any fault"; exit 1; }

# poll_probes: every second, "PHASE healthz readyz" into $probes.
poll_probes() {
	while :; do
		echo "$(cat "$probes.phase" 2>/dev/null) $(http_code "http://127.0.0.1:$op_health/healthz")" \
			"$(http_code "http://127.0.0.1:$op_health/readyz")" >>"$probes"
		sleep 1
	done
}
phase() { echo "$1" >"$probes.phase"; }
# probe_summary PHASE: "healthz 30x200, readyz 30x200"
probe_summary() {
	local h r
	h=$(awk -v p="$1" '$1 == p { print $2 }' "$probes" | sort | uniq -c | awk '{ printf "%s%sx%s", s, $1, $2; s=" " }')
	r=$(awk -v p="$1" '$1 == p { print $3 }' "$probes" | sort | uniq -c | awk '{ printf "%s%sx%s", s, $1, $2; s=" " }')
	echo "healthz ${h:-none}, readyz ${r:-none}"
}
phase before
poll_probes &
poller=$!

# 1. frozen
check_rollout "a rollout is under way"
apid=$(apiserver_pid)
check "the kube-apiserver process is found" test -n "$apid"
phase frozen
kill -STOP "$apid" && frozen=$apid
sleep "$FAULT_FREEZE_SECONDS"
kill -CONT "$apid"
frozen=
phase thawed
t0=$(now_ms)
check "the API server answers again after SIGCONT" eventually 60 kubectl get --raw /readyz
check "the operator survived the freeze (same process)" kill -0 "$pid0"
for ((e = 0; e < 5; e++)); do edit_random; done
write_expected "$expected"
wait_converged "$ns" "$FAULT_CONVERGE_SECONDS" "$expected"
freeze_ms=$converge_ms
figure "apiserver.sh: frozen ${FAULT_FREEZE_SECONDS} s mid-rollout: converged exactly" \
	"$([ -n "$freeze_ms" ] && echo "$(secs "$freeze_ms") s" || echo NOT) after SIGCONT (and 5 more edits)"
figure "apiserver.sh: while frozen: $(probe_summary frozen)"
phase after-freeze

# 2. restarted
check_rollout "a second rollout is under way"
phase restarting
t0=$(now_ms)
check "the API server restarts" "$top/tests/cluster/cluster.sh" restart kube-apiserver
restart_ms=$(($(now_ms) - t0))
phase restarted
check "the operator survived the restart (same process)" kill -0 "$pid0"
for ((e = 0; e < 5; e++)); do edit_random; done
write_expected "$expected"
wait_converged "$ns" "$FAULT_CONVERGE_SECONDS" "$expected"
figure "apiserver.sh: restarted mid-rollout (down $(secs "$restart_ms") s): converged exactly" \
	"$([ -n "$converge_ms" ] && echo "$(secs "$converge_ms") s" || echo NOT) after it was back (and 5 more edits)"
figure "apiserver.sh: while restarting: $(probe_summary restarting)"
figure "apiserver.sh: edits: $edits_ok accepted, $edits_refused refused"
kill "$poller" 2>/dev/null
poller=
check "/healthz answered 200 throughout" bash -c "! awk '\$2 != 200' '$probes' | grep -q ."

no_writes_while_converged "$ns" "$FAULT_QUIET_SECONDS"
stop_operator
check_eq "the operator stops cleanly on SIGTERM" 0 "$?"
check_operator_log
