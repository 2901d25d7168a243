#!/usr/bin/env bash
# kill -9 of the operator at FAULT_KILLS random moments (default 50) while
# FAULT_SERVICES Services (default 20) are being rolled out, scaled, and now
# and then deleted and created again; the operator is started again at once
# each time. Each cycle: start the operator, draw a delay of 0-6 s and 1-3
# edits from the seeded generator, issue the edits spread over the delay,
# then SIGKILL. After the last kill the operator is started once more and
# the namespace must converge exactly to what the last accepted writes ask.
#
# The webhook is on, as in a real install, on one port kept across
# restarts: its registration stays behind a SIGKILL (validation is
# failurePolicy Fail, issue 8 item 7), so edits made while the operator is
# down or starting are refused; they are counted, not expected to land.
#
# Runtime: a kill cycle took 5-11 s on 2 busy cores (the drawn delay, the
# edits' requests, the operator's start), so 5-10 minutes at the defaults.
#
#   FAULT_SEED=N FAULT_KILLS=5 FAULT_SERVICES=5 bash tests/faults/kill.sh
. "$(dirname "$0")/lib.sh"

echo "# FAULT_SEED=$FAULT_SEED FAULT_KILLS=$FAULT_KILLS FAULT_SERVICES=$FAULT_SERVICES"
rng_seed "$FAULT_SEED"
install_crds || { not_ok "the CRDs are installed"; exit 1; }
use_namespace kill
trap cleanup_operator EXIT
take_port webhook
expected=$top/build/test-logs/faults-kill-$$.expected

start_operator "$ns" --webhook-port "$webhook"
create_services "$FAULT_SERVICES"
write_expected "$expected"
wait_converged "$ns" "$FAULT_CONVERGE_SECONDS" "$expected"
[ -n "$converge_ms" ] || { not_ok "the Services converge before any fault"; exit 1; }

kills=0 ready_at_kill=0 t_start=$(now_ms)
for ((k = 1; k <= FAULT_KILLS; k++)); do
	rand 6000
	delay=$r
	rand 3
	n_edits=$((1 + r))
	t0=$(now_ms)
	for ((e = 1; e <= n_edits; e++)); do
		sleep_ms $((t0 + delay * e / (n_edits + 1) - $(now_ms)))
		edit_random
	done
	sleep_ms $((t0 + delay - $(now_ms)))
	[ "$(http_code "http://127.0.0.1:$op_health/readyz")" = 200 ] && ready_at_kill=$((ready_at_kill + 1))
	if ! kill -0 "$op_pid" 2>/dev/null; then
		not_ok "the operator is still running before kill $k" "$(tail -n 20 "$op_log")"
		exit 1
	fi
	stop_operator KILL
	kills=$((kills + 1))
	echo "# kill $k after ${delay} ms and $n_edits edits"
	launch_operator "$ns" --namespace "$ns" --webhook-port "$webhook"
done
t_last=$(now_ms)
figure "kill.sh: $kills SIGKILLs in $(secs $((t_last - t_start))) s ($ready_at_kill of them after /readyz was 200);" \
	"$edits_ok edits accepted, $edits_refused refused (the operator was down or starting)"

write_expected "$expected"
wait_converged "$ns" "$FAULT_CONVERGE_SECONDS" "$expected"
if [ -n "$converge_ms" ]; then
	figure "kill.sh: converged exactly $(secs "$converge_ms") s after the last restart"
else
	figure "kill.sh: NOT converged $FAULT_CONVERGE_SECONDS s after the last restart"
fi
check_eq "the $FAULT_KILLS kills were made" "$FAULT_KILLS" "$kills"
no_writes_while_converged "$ns" "$FAULT_QUIET_SECONDS"
check "the last operator is still running" kill -0 "$op_pid"
stop_operator
check_eq "and stops cleanly on SIGTERM" 0 "$?"
check_operator_log
