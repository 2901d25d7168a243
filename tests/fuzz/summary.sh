#!/usr/bin/env bash
# Executions, coverage and crashes per fuzz target, from the logs of the last
# `tests/run.sh fuzz` (or `make fuzz`): build/test-logs/fuzz_fuzz_NAME.log and
# the artifacts in build/test-logs/fuzz-NAME/.
#
#   tests/fuzz/summary.sh [LOGDIR]
#
# cov is libFuzzer's count of covered edges (inline 8-bit counters), ft its
# "features" (edges with hit-count buckets); crashes counts crash-* artifacts,
# other the leak-*, timeout-* and oom-* ones.
set -uo pipefail

logs=${1:-$(cd "$(dirname "$0")/../.." && pwd)/build/test-logs}
printf '%-20s %12s %8s %8s %8s %6s %s\n' target executions exec/s cov ft crashes other
found=0
for log in "$logs"/fuzz_fuzz_*.log; do
	[ -f "$log" ] || continue
	found=1
	name=${log##*/fuzz_}
	name=${name%.log}
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	# the last status line carries the final coverage (DONE, or the last before a crash)
	last=$(grep -E '^#[0-9]+.* cov: ' "$log" | tail -n 1)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	crashes=0
	other=0
	if [ -d "$logs/fuzz-$name" ]; then
		crashes=$(find "$logs/fuzz-$name" -maxdepth 1 -name 'crash-*' | wc -l)
		other=$(find "$logs/fuzz-$name" -maxdepth 1 \( -name 'leak-*' -o -name 'timeout-*' \
			-o -name 'oom-*' \) | wc -l)
	fi
	printf '%-20s %12s %8s %8s %8s %6s %s\n' "$name" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
		"${ft:-?}" "$crashes" "$other"
done
[ "$found" -eq 1 ] || echo "no fuzz logs in $logs: run make fuzz (or tests/run.sh fuzz) first"
