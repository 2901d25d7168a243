#!/usr/bin/env bash
# The scale bench (bench/scale.sh) at N=20, so it cannot rot: every phase
# runs against the local control plane and produces its figures (converged,
# every Service Ready, restart to /readyz, a new image everywhere, single
# edits reaching the Deployment), and the report and the plot are written.
# The figures themselves are not judged here: at 20 services they are noise.
# The first run builds bench/baseline (controller-runtime: minutes on 2
# cores); later runs reuse the cached binaries.
. "$(dirname "$0")/../lib.sh"

out=$top/build/test-logs/bench-scale-smoke
rm -rf "$out"
mkdir -p "$out"
if OUT=$out SIZES=20 EDITS=20 TIMEOUT=300 bash "$top/bench/scale.sh" >"$out.log" 2>&1; then
	ok "bench/scale.sh ran at N=20"
else
	not_ok "bench/scale.sh ran at N=20" "$(tail -n 20 "$out.log")"
	exit 1
fi

results=$out/results.tsv
# has PHASE METRIC: a numeric figure was recorded.
has() {
	awk -F'\t' -v p="$1" -v m="$2" '$1 == 20 && $2 == p && $3 == m && $4 ~ /^-?[0-9]+(\.[0-9]+)?$/ { f = 1 } END { exit !f }' "$results"
}
# positive PHASE METRIC: recorded and above zero.
positive() {
	awk -F'\t' -v p="$1" -v m="$2" '$1 == 20 && $2 == p && $3 == m && $4 + 0 > 0 { f = 1 } END { exit !f }' "$results"
}

for m in apply_s converge_s kcm_cpu_s edit_s kcm_cpu_edit_s; do
	check "baseline-a: $m" has baseline-a "$m"
done
check "baseline-a converged" positive baseline-a converge_s
for p in baseline-b breakwater; do
	for m in apply_s converge_s cpu_s kcm_cpu_s rss_idle_kib rss_converged_kib rss_peak_kib list_s \
		restart_ready_s restart_settled_s restart_cpu_s restart_rss_kib restart_peak_kib \
		edit_s cpu_edit_s kcm_cpu_edit_s rss_edit_kib lat_deployment_p50_ms lat_deployment_p99_ms \
		lat_watch_p50_ms lat_watch_p99_ms peak_kib; do
		check "$p: $m" has "$p" "$m"
	done
	check "$p: every Service converged" positive "$p" converge_s
	check "$p: ready after a restart" positive "$p" restart_ready_s
	check_eq "$p: no single edit missed its Deployment" 0 \
		"$(awk -F'\t' -v p="$p" '$2 == p && $3 == "lat_missed" { print $4 }' "$results")"
done
check "the report has a table for N=20" grep -q '^### N = 20 ' "$out/results.md"
check "the report has the convergence row" grep -q '^| converged: all Available / Ready (s) | [0-9]' "$out/results.md"
if command -v gnuplot >/dev/null; then
	check_eq "the plot is a PNG" PNG "$(head -c 4 "$out/scale.png" 2>/dev/null | tail -c 3)"
fi
