#!/usr/bin/env bash
# The test runner: runs the suites named (default: all of them) and ends with
# one line "N passed, N failed".
#
#   tests/run.sh [unit] [cli] [fuzz] [integration] [tsan] [e2e] [traffic] [faults]
#
# A test program prints "ok - NAME" or "not ok - NAME" lines (TAP-like); the
# runner counts them. A program that exits non-zero without reporting a
# failure counts as one failure, so a crash is never a pass.
#
# The integration and e2e suites need the local control plane: it is started
# if it is not running, and stopped at the end unless BREAKWATER_KEEP_CLUSTER=1;
# the integration tests that need none (test_proxy) run first, under ASan and
# UBSan like the others (and under TSan in the tsan suite), cluster or not.
# The unit suite also runs the load tests (build/load/, `make load-bins`),
# built without sanitizers because they measure memory and latency.
# The tsan suite runs the ThreadSanitizer builds (make tsan-bins) of the
# threaded parts' unit and integration tests; any sanitizer report fails.
# The fuzz suite replays each target's corpus (tests/fuzz/corpus/NAME/) and
# then fuzzes for BREAKWATER_FUZZ_SECONDS (default 10) per target, with
# tests/fuzz/NAME.dict as its dictionary when there is one;
# tests/fuzz/summary.sh then tells executions, coverage and crashes.
# The traffic suite (tests/traffic/) sends requests through a real gateway
# (Traefik, built from its Go module by tests/traffic/build.sh, cached) to
# the kwok pods, answered in a network namespace of its own; it needs root.
# The e2e suite ends with tests/autoscaling/metrics.sh (HPAs on real CPU
# metrics from metrics-server, built from its Go module and cached: about
# 8 min the first time on 2 cores, 30 s with Go's build cache warm).
# The faults suite (tests/faults/, `make test-faults`) is not in the default
# list: it takes minutes; the figures its scenarios measure are shown.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(unit cli fuzz integration tsan e2e traffic)

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
	# a report in a child process (a test's own candidates) counts too
	if grep -q '^WARNING: ThreadSanitizer\|^==[0-9]*==ERROR: [A-Za-z]*Sanitizer' "$log"; then
		echo "not ok - $name: a sanitizer report (see the log)" >>"$log"
		f=$((f + 1))
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	printf '%-40s %3d passed, %d failed  (%ds)\n' "$name" "$p" "$f" $((SECONDS - start))
	if [ "$f" -gt 0 ]; then
		failures+=("$name")
		# each failed check with the lines that say why (lib.sh's not_ok
		# indents them), so the reason survives a clipped CI output
		awk '/^not ok / { print; n = 4; next } n > 0 && /^    / { print; n--; next } { n = 0 }' \
			"$log" | sed 's/^/    /'
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
	# load tests measure memory and latency: built without sanitizers
	for t in build/load/test_*; do
		[ -x "$t" ] || continue
		run_program "load/${t##*/}" "$t"
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

# Integration tests that need no cluster (real loopback servers only): they
# run first, and run even when the local control plane does not start.
no_cluster=" test_proxy "

suite_integration() {
	local t
	for t in build/asan/tests/integration/test_*; do
		[ -x "$t" ] && [[ $no_cluster == *" ${t##*/} "* ]] || continue
		ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
			run_program "integration/${t##*/}" "$t"
	done
	need_cluster || return
	for t in build/asan/tests/integration/test_*; do
		[ -x "$t" ] && [[ $no_cluster != *" ${t##*/} "* ]] || continue
		KUBECONFIG=$top/.cluster/kubeconfig BREAKWATER_CLUSTER_DIR=$top/.cluster \
			ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
			run_program "integration/${t##*/}" "$t"
	done
}

# halt_on_error: the first race ends the process, so a race in a child
# candidate shows in its parent's checks too.
tsan_options="halt_on_error=1 second_deadlock_stack=1 suppressions=$top/tests/tsan.supp"

suite_tsan() {
	local t
	for t in build/tsan/tests/unit/test_*; do
		[ -x "$t" ] || continue
		BREAKWATER_HTTPD_CONC=25 TSAN_OPTIONS=$tsan_options \
			run_program "tsan/unit/${t##*/}" "$t"
	done
	for t in build/tsan/tests/integration/test_*; do
		[ -x "$t" ] && [[ $no_cluster == *" ${t##*/} "* ]] || continue
		TSAN_OPTIONS=$tsan_options run_program "tsan/integration/${t##*/}" "$t"
	done
	need_cluster || return
	for t in build/tsan/tests/integration/test_*; do
		[ -x "$t" ] && [[ $no_cluster != *" ${t##*/} "* ]] || continue
		# the API server restarts stay with the integration suite: slow, and
		# not where the threads are
		KUBECONFIG=$top/.cluster/kubeconfig BREAKWATER_CLUSTER_DIR=$top/.cluster \
			BREAKWATER_SKIP_RESTARTS=1 TSAN_OPTIONS=$tsan_options \
			run_program "tsan/integration/${t##*/}" "$t"
	done
}

suite_e2e() {
	local t
	need_cluster || return
	for t in tests/e2e/*.sh; do
		[ -f "$t" ] && run_program "e2e/${t##*/}" bash "$t"
	done
	# last: it builds (once, cached) and starts metrics-server and registers
	# metrics.k8s.io, which the scripts above run without
	run_program "e2e/autoscaling/metrics.sh" bash tests/autoscaling/metrics.sh
}

suite_traffic() {
	local t
	if [ "$(id -u)" != 0 ]; then
		echo "traffic: skipped (the harness needs root: unshare, nsenter, ip)"
		return
	fi
	# Traefik first (minutes when Go's caches are cold), its progress shown
	if ! tests/traffic/build.sh >/dev/null; then
		echo "not ok - Traefik builds (tests/traffic/build.sh)"
		failed=$((failed + 1))
		failures+=("traffic-build")
		return
	fi
	need_cluster || return
	for t in tests/traffic/*.sh; do
		case ${t##*/} in lib.sh | build.sh) continue ;; esac
		run_program "traffic/${t##*/}" bash "$t"
		grep '^# figure: ' "$logs/traffic_${t##*/}.log" | sed 's/^# figure: /    /'
	done
}

suite_faults() {
	local t name
	need_cluster || return
	for t in tests/faults/*.sh; do
		[ -f "$t" ] && [ "${t##*/}" != lib.sh ] || continue
		name=faults/${t##*/}
		run_program "$name" bash "$t"
		grep '^# figure: ' "$logs/$(printf '%s' "$name" | tr '/ ' '__').log" | sed 's/^# figure: /    /'
	done
}

for s in "${suites[@]}"; do
	case $s in
	unit | cli | fuzz | integration | tsan | e2e | traffic | faults) "suite_$s" ;;
	*)
		echo "run.sh: unknown suite '$s' (unit, cli, fuzz, integration, tsan, e2e, traffic, faults)" >&2
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
