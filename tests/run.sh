#!/usr/bin/env bash
# The test runner: runs the suites named (default: all of them) and ends with
# one line "N passed, N failed".
#
#   tests/run.sh [unit] [cli] [fuzz] [integration] [e2e]
#
# A test program prints "ok - NAME" or "not ok - NAME" lines (TAP-like); the
# runner counts them. A program that exits non-zero without reporting a
# failure counts as one failure, so a crash is never a pass.
#
# The integration and e2e suites need the local control plane: it is started
# if it is not running, and stopped at the end unless BREAKWATER_KEEP_CLUSTER=1.
# The fuzz suite replays each target's corpus (tests/fuzz/corpus/NAME/) and
# then fuzzes for BREAKWATER_FUZZ_SECONDS (default 10) per target, with
# tests/fuzz/NAME.dict as its dictionary when there is one;
# tests/fuzz/summary.sh then tells executions, coverage and crashes.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(unit cli fuzz integration e2e)

passed=0
failed=0
failures=()
logs=$top/build/test-logs
mkdir -p "$logs"

# run_program NAME COMMAND...: runs one test program and counts its results.
run_program() {
	local name=$1 log rc p f start
	shift
	log=$logs/$(printf '%s' "$name" | tr '/ ' '__').log
	start=$SECONDS
	"$@" >"$log" 2>&1
	rc=$?
	p=$(grep -c '^ok ' "$log")
	f=$(grep -c '^not ok ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name exited with status $rc" >>"$log"
		f=1
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	printf '%-40s %3d passed, %d failed  (%ds)\n' "$name" "$p" "$f" $((SECONDS - start))
	if [ "$f" -gt 0 ]; then
		failures+=("$name")
		grep '^not ok ' "$log" | sed 's/^/    /'
		echo "    log: $log"
		tail -n 15 "$log" | sed 's/^/    | /'
	fi
}

suite_unit() {
	local t
	for t in build/asan/tests/unit/test_*; do
		[ -x "$t" ] || continue
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
			run_program "unit/${t##*/}" "$t"
	done
}

suite_cli() {
	local t
	for t in tests/cli/*.sh; do
		[ -f "$t" ] && run_program "cli/${t##*/}" bash "$t"
	done
}

suite_fuzz() {
	local t name corpus scratch dict
	for t in build/fuzz/tests/fuzz/fuzz_*; do
		[ -x "$t" ] || continue
		name=${t##*/}
		corpus=tests/fuzz/corpus/$name
		scratch=$logs/fuzz-$name
		dict=
		[ -f "tests/fuzz/$name.dict" ] && dict="-dict=tests/fuzz/$name.dict"
		rm -rf "$scratch"
		mkdir -p "$scratch" "$corpus"
		# New inputs go to the scratch folder, so the checked-in corpus stays as it is.
		# BREAKWATER_FUZZ_RUNS stops a target after that many executions.
		run_program "fuzz/$name" bash -c "'$t' -max_total_time=${BREAKWATER_FUZZ_SECONDS:-10} \
			-runs=${BREAKWATER_FUZZ_RUNS:--1} $dict \
			-artifact_prefix='$scratch/' -print_final_stats=1 '$scratch' '$corpus' \
			&& echo 'ok - $name: no crash, leak or sanitizer report'"
	done
}

cluster_started=0
need_cluster() {
	[ "$cluster_started" -ne 0 ] && return 0
	if tests/cluster/cluster.sh status >/dev/null 2>&1; then
		cluster_started=-1
		return 0
	fi
	echo "starting the local control plane (tests/cluster/cluster.sh up)"
	if ! tests/cluster/cluster.sh up; then
		echo "not ok - the local control plane did not start"
		failed=$((failed + 1))
		failures+=("cluster-up")
		return 1
	fi
	cluster_started=1
}

suite_integration() {
	local t
	need_cluster || return
	for t in build/asan/tests/integration/test_*; do
		[ -x "$t" ] || continue
		KUBECONFIG=$top/.cluster/kubeconfig BREAKWATER_CLUSTER_DIR=$top/.cluster \
			ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
			run_program "integration/${t##*/}" "$t"
	done
}

suite_e2e() {
	local t
	need_cluster || return
	for t in tests/e2e/*.sh; do
		[ -f "$t" ] && run_program "e2e/${t##*/}" bash "$t"
	done
}

for s in "${suites[@]}"; do
	case $s in
	unit | cli | fuzz | integration | e2e) "suite_$s" ;;
	*)
		echo "run.sh: unknown suite '$s' (unit, cli, fuzz, integration, e2e)" >&2
		exit 2
		;;
	esac
done

if [ "$cluster_started" -eq 1 ] && [ "${BREAKWATER_KEEP_CLUSTER:-0}" != 1 ]; then
	tests/cluster/cluster.sh down >/dev/null
fi

[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed" | tee "$logs/summary"
[ "$failed" -eq 0 ]
