#!/usr/bin/env bash
# A conflict storm: for FAULT_STORM_SECONDS (default 60) another client
# rewrites the replicas and images of the Deployments the operator owns
# (a scale, a new image, and both, as `kubectl scale`, `kubectl set image`
# and `kubectl patch` would, but with curl: one after another as fast as the
# API server answers, on Deployments the seeded
# generator picks), while the test also edits the breakwater Services every
# second or so. The operator owns those fields (server-side apply, field
# manager breakwater) and must put them back: when the storm stops the
# namespace converges exactly, and then nothing is written any more (a
# controller fighting the Deployment controller, or itself, would). The
# operator's CPU over the storm and its reconciles are reported.
#
# Runtime: the storm plus about a minute.
#
#   FAULT_SEED=N FAULT_SERVICES=5 FAULT_STORM_SECONDS=20 bash tests/faults/storm.sh
. "$(dirname "$0")/lib.sh"

FAULT_STORM_SECONDS=${FAULT_STORM_SECONDS:-60}
echo "# FAULT_SEED=$FAULT_SEED FAULT_SERVICES=$FAULT_SERVICES FAULT_STORM_SECONDS=$FAULT_STORM_SECONDS"
rng_seed "$FAULT_SEED"
install_crds || { not_ok "the CRDs are installed"; exit 1; }
use_namespace storm
storm=
finish() {
	[ -n "$storm" ] && kill "$storm" 2>/dev/null
	cleanup_operator
}
trap finish EXIT
expected=$top/build/test-logs/faults-storm-$$.expected
storm_out=$top/build/test-logs/faults-storm-$$.count

start_operator "$ns"
create_services "$FAULT_SERVICES"
write_expected "$expected"
wait_converged "$ns" "$FAULT_CONVERGE_SECONDS" "$expected"
[ -n "$converge_ms" ] || { not_ok "the Services converge before any fault"; exit 1; }

reconciles() {
	curl -sf --max-time 5 "http://127.0.0.1:$op_metrics/metrics" |
		awk '/^controller_runtime_reconcile_total\{/ { n += $NF } END { print n + 0 }'
}

# The other client: its own generator (seed + 1), so the storm repeats too.
run_storm() {
	local deadline=$((SECONDS + FAULT_STORM_SECONDS)) writes=0 failed=0 n=0 d
	rng_seed $((FAULT_SEED + 1))
	while [ $SECONDS -lt $deadline ]; do
		rand "$FAULT_SERVICES"
		d=svc-$((r + 1))
		rand 6
		local replicas=$r path=/apis/apps/v1/namespaces/$ns/deployments/$d q=?fieldManager=faults-storm
		n=$((n + 1))
		local image_patch="{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"registry.local/faults/intruder:$n\"}]}}}}"
		rand 3
		case $r in
		0) api PATCH "$path/scale$q" application/merge-patch+json "{\"spec\":{\"replicas\":$replicas}}" ;;
		1) api PATCH "$path$q" application/strategic-merge-patch+json "$image_patch" ;;
		2) api PATCH "$path$q" application/strategic-merge-patch+json \
			"{\"spec\":{\"replicas\":$replicas,${image_patch#\{\"spec\":\{}" ;;
		esac >/dev/null 2>&1 && writes=$((writes + 1)) || failed=$((failed + 1))
	done
	echo "$writes $failed" >"$storm_out"
}

ticks0=$(cpu_ticks "$op_pid")
rec0=$(reconciles)
t0=$(now_ms)
run_storm &
storm=$!
while kill -0 "$storm" 2>/dev/null; do
	edit_random
	rand 1500
	sleep_ms "$r"
done
wait "$storm"
storm=
storm_ms=$(($(now_ms) - t0))
ticks1=$(cpu_ticks "$op_pid")
rec1=$(reconciles)
read -r storm_writes storm_failed <"$storm_out"
cpu_pct=$(awk -v t=$((ticks1 - ticks0)) -v hz="$clk_tck" -v ms="$storm_ms" 'BEGIN { printf "%.0f", 100 * t / hz / (ms / 1000) }')
figure "storm.sh: ${storm_writes} writes to the owned Deployments in $(secs "$storm_ms") s ($storm_failed refused)," \
	"$edits_ok edits of the Services ($edits_refused refused)"
figure "storm.sh: operator CPU during the storm ${cpu_pct}% of one core (ASan build)," \
	"$((rec1 - rec0)) reconciles"
check "the operator survived the storm" kill -0 "$op_pid"

write_expected "$expected"
wait_converged "$ns" "$FAULT_CONVERGE_SECONDS" "$expected"
figure "storm.sh: converged exactly" \
	"$([ -n "$converge_ms" ] && echo "$(secs "$converge_ms") s" || echo NOT) after the storm stopped"
rec2=$(reconciles)
no_writes_while_converged "$ns" "$FAULT_QUIET_SECONDS"
rec3=$(reconciles)
figure "storm.sh: $((rec3 - rec2)) reconciles in the ${FAULT_QUIET_SECONDS} s after convergence"
stop_operator
check_eq "the operator stops cleanly on SIGTERM" 0 "$?"
check_operator_log
