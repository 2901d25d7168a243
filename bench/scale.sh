#!/usr/bin/env bash
# breakwater at scale, side by side with the two baselines, on the local
# control plane (tests/cluster/cluster.sh). For each size N, N services of one
# replica each, in one namespace per phase:
#
#   baseline-a  N Deployments + ClusterIP Services applied directly with
#               kubectl: the API's own limit.
#   baseline-b  N breakwater Services reconciled by a minimal
#               controller-runtime operator (bench/baseline/operator).
#   breakwater  N breakwater Services reconciled by the release build of
#               bin/breakwater (controllers and webhook, --namespace).
#
# Each phase: the apply (server-side, 8 requests in flight, by
# bench/baseline/client) and the time until everything converged (Deployments
# Available / Services Ready at their generation, running the image); the
# operator's RSS idle, converged and peak (VmHWM); CPU seconds of the operator
# and of kube-controller-manager over the same span; its RSS again 5 s later,
# between bursts (after the timed LISTs); a restart with the N
# Services present (process start to /readyz, against one kubectl LIST of
# them), RSS once the restart's work is done; a new image in all N, timed the
# same way; then EDITS single spec.image patches, each timed from the
# accepted patch to the Deployment carrying the image, against a plain watch
# of the Services delivering the same change (bench/baseline/client).
#
#   bench/scale.sh                                  (SIZES="100 1000")
#   SIZES="20" PHASES="baseline-b breakwater" bench/scale.sh
#
# Environment: SIZES, PHASES (any of baseline-a baseline-b breakwater, run
# in that order), STEPS (any of converge restart edit latency: the last
# three can be left out when time is short; converge always runs), EDITS (500), OUT (build/bench-scale),
# BREAKWATER_ARGS (more flags for bin/breakwater, e.g. --workers 4), BREAKWATER_BIN (another
# build to run, e.g. a copy kept for an A/B while bin/ is rebuilt), NODE_PODS (pods a fake
# node holds: 250, as cluster.sh makes them). BREAKWATER_KCM_QPS/_BURST and
# BREAKWATER_SCHED_QPS/_BURST, when set, restart kube-controller-manager and
# kube-scheduler with those client rates unless they run with them already
# (`make bench-scale` sets them). The cluster is started if it is not running;
# fake nodes are added until 2N pods fit (an image edit surges to 2 pods per
# Deployment).
#
# Results: $OUT/results.tsv (size, phase, metric, value, when; a phase rerun
# replaces its rows), $OUT/results.md (a table per size with the ratios) and
# $OUT/scale.png (RSS and convergence time against N; gnuplot).
#
# PERF=1: each operator's convergence is also sampled by `perf record -g`
# (199 Hz, its threads only) into $OUT/perf-PHASE-N.data, and the top of
# `perf report` (by symbol, children excluded) is written beside it as .txt.
set -euo pipefail
. "$(dirname "$0")/../tests/lib.sh" # top, state, $KUBECONFIG, kubectl, free_port

SIZES=${SIZES:-100 1000}
PHASES=${PHASES:-baseline-a baseline-b breakwater}
STEPS=${STEPS:-converge restart edit latency}
EDITS=${EDITS:-500}
OUT=${OUT:-$top/build/bench-scale}
NODE_PODS=${NODE_PODS:-250}
TIMEOUT=${TIMEOUT:-1800} # seconds any one wait may take
PERF=${PERF:-0}
bw_bin=${BREAKWATER_BIN:-$top/bin/breakwater}
results=$OUT/results.tsv
logs=$OUT/logs

say() { printf 'scale: %s\n' "$*" >&2; }
step() { case " $STEPS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
die() { printf 'scale: error: %s\n' "$*" >&2; exit 1; }

# --- clocks and /proc -------------------------------------------------------

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }

cpu_seconds() { # utime + stime of PID, in seconds
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

kcm_pid() { # the controller-manager itself, not its supervisor
	pgrep -f "^$state/bin/kube-controller-manager " | head -n 1
}

# --- results ----------------------------------------------------------------

# record SIZE PHASE METRIC VALUE: one row of results.tsv.
record() {
	printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$(date -u +%FT%TZ)" >>"$results"
	say "$1 $2 $3 = $4"
}

# forget SIZE PHASE: drops the rows of an earlier run of the same phase.
forget() {
	[ -f "$results" ] || return 0
	awk -F'\t' -v n="$1" -v p="$2" '!($1 == n && $2 == p)' "$results" >"$results.tmp"
	mv "$results.tmp" "$results"
}

# --- the cluster --------------------------------------------------------------

# component_has NAME FLAG VALUE: NAME's running command line has FLAG VALUE.
component_has() {
	local pid
	pid=$(pgrep -f "^$state/bin/$1 " | head -n 1)
	[ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$2 $3 "
}

# The client rates asked for in the environment, applied by a restart of the
# component when it runs without them (the cluster keeps them until its next
# restart without the variables).
apply_rates() {
	local c qps burst
	for c in kube-controller-manager:KCM kube-scheduler:SCHED; do
		qps=BREAKWATER_${c#*:}_QPS burst=BREAKWATER_${c#*:}_BURST
		[ -n "${!qps:-}" ] || continue
		if ! component_has "${c%%:*}" --kube-api-qps "${!qps}" ||
			{ [ -n "${!burst:-}" ] && ! component_has "${c%%:*}" --kube-api-burst "${!burst}"; }; then
			say "restarting ${c%%:*} with --kube-api-qps ${!qps} --kube-api-burst ${!burst:-default}"
			"$top/tests/cluster/cluster.sh" restart "${c%%:*}" >&2
		fi
	done
}

# ensure_nodes PODS: enough fake nodes (each NODE_PODS pods) for PODS pods
# besides what the cluster runs.
ensure_nodes() {
	local want have
	want=$(((($1 + NODE_PODS - 1) / NODE_PODS) + 1))
	have=$(kubectl get nodes -l type=kwok -o name | wc -l)
	[ "$have" -ge "$want" ] && return 0
	say "adding fake nodes: $have -> $want"
	BREAKWATER_NODES=$want "$top/tests/cluster/cluster.sh" nodes >&2
}

prepare_cluster() {
	local max=0 n
	"$top/tests/cluster/cluster.sh" up >&2
	apply_rates
	for n in $SIZES; do [ "$n" -gt "$max" ] && max=$n; done
	ensure_nodes $((2 * max))
	install_crds || die "the CRDs did not install"
}

# fresh_namespace NS: NS exists and holds nothing from an earlier run.
fresh_namespace() {
	drop_namespace "$1"
	kubectl create namespace "$1" >/dev/null
}

# drop_namespace NS: deletes NS and waits until it is gone, so the next phase
# is not measured while the garbage collector and kwok clear this one.
drop_namespace() {
	kubectl delete mutatingwebhookconfiguration,validatingwebhookconfiguration \
		"breakwater-$1" --ignore-not-found >/dev/null 2>&1 || true
	kubectl delete namespace "$1" --ignore-not-found --wait=true --timeout="${TIMEOUT}s" >/dev/null
}

# --- the workload -------------------------------------------------------------

# deployments NS N TAG: what baseline A applies, the same objects the
# operators make (labels as breakwater's, one container, port 8080).
deployments() {
	local i
	for ((i = 1; i <= $2; i++)); do
		cat <<EOF
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: svc-$i, namespace: $1}
spec:
  replicas: 1
  selector: {matchLabels: {breakwater.io/service: svc-$i}}
  template:
    metadata: {labels: {breakwater.io/service: svc-$i}}
    spec:
      containers:
      - name: app
        image: "registry.local/bench/svc-$i:$3"
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: svc-$i, namespace: $1}
spec: {selector: {breakwater.io/service: svc-$i}, ports: [{name: http, port: 8080, targetPort: http}]}
EOF
	done
}

# services NS N TAG: what the operators are given.
services() {
	local i
	for ((i = 1; i <= $2; i++)); do
		cat <<EOF
---
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: svc-$i, namespace: $1}
spec: {image: "registry.local/bench/svc-$i:$3", replicas: 1}
EOF
	done
}

# apply FILE: server-side apply of every object, one PATCH each, 8 at a time
# (bench/baseline/client: kubectl's client-side limit of about 5 requests a
# second would make it the bottleneck).
apply() {
	"$client_bin" apply --kubeconfig "$KUBECONFIG" --file "$1" --workers 8
}

# --- convergence --------------------------------------------------------------

# wait_converged KIND NS N TAG: until all N deployments (baseline A) or
# breakwater.io services (the operators) of NS are converged on TAG, by
# `bench-client wait`: one list, then a watch (bench/baseline/client/wait.go
# says what converged means). Until 2026-12-01 this polled `kubectl get` and
# jq: at 10,000 Services each poll was a LIST costing seconds of the API
# server's CPU on the 2 cores the convergence runs on, and saw the end up to
# a poll late.
wait_converged() {
	"$client_bin" wait --kubeconfig "$KUBECONFIG" --kind "$1" --namespace "$2" --count "$3" \
		--tag "$4" --timeout "${TIMEOUT}s" >/dev/null || die "timed out after ${TIMEOUT}s waiting for $3 $1 of $2"
}

# list_seconds NS RESOURCE: the median of three timed `kubectl get` LISTs.
list_seconds() {
	local i t
	for i in 1 2 3; do
		t=$(now)
		kubectl -n "$1" get "$2" -o json >/dev/null
		since "$t"
		echo
	done | sort -n | sed -n 2p
}

# --- the operators ------------------------------------------------------------

op_pid=
op_health=
op_kind=

# start_operator KIND NS LOG: starts the operator of KIND watching NS.
start_operator() {
	local kind=$1 ns=$2 log=$3
	op_kind=$kind
	op_health=$(free_port)
	case $kind in
	baseline-b)
		"$baseline_bin" --kubeconfig "$KUBECONFIG" --namespace "$ns" \
			--health-probe-bind-address "127.0.0.1:$op_health" >>"$log" 2>&1 &
		;;
	breakwater)
		# as bench/rollout.sh: the whole product path, controllers and the
		# webhook, which injects every pod of the namespace
		"$bw_bin" --kubeconfig "$KUBECONFIG" --namespace "$ns" --webhook-port "$(free_port)" \
			--metrics-bind-address 0 --health-probe-bind-address "127.0.0.1:$op_health" \
			${BREAKWATER_ARGS:-} >>"$log" 2>&1 &
		;;
	esac
	op_pid=$!
}

# perf_start PHASE N / perf_stop: the operator's convergence profiled (PERF=1).
perf_pid=
perf_start() {
	[ "$PERF" = 1 ] || return 0
	perf_out=$OUT/perf-$1-$2
	perf record -g -F 199 -p "$op_pid" -o "$perf_out.data" >/dev/null 2>&1 &
	perf_pid=$!
}
perf_stop() {
	[ -n "$perf_pid" ] || return 0
	kill -INT "$perf_pid" 2>/dev/null || true
	wait "$perf_pid" 2>/dev/null || true
	perf_pid=
	perf report -i "$perf_out.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
		grep -v '^#' | grep -v '^$' | grep '%' | head -60 >"$perf_out.txt" || true
	say "profile: $perf_out.txt"
}

stop_operator() {
	[ -n "$op_pid" ] || return 0
	kill -TERM "$op_pid" 2>/dev/null || true
	wait "$op_pid" 2>/dev/null || true
	op_pid=
}

# wait_ready: polls /readyz every 10 ms; prints nothing, fails on a timeout
# or when the operator exits.
wait_ready() {
	local deadline=$((SECONDS + 120))
	until curl -sf -o /dev/null "http://127.0.0.1:$op_health/readyz"; do
		kill -0 "$op_pid" 2>/dev/null || die "$op_kind exited before /readyz (log: $logs)"
		[ $SECONDS -lt $deadline ] || die "$op_kind: no /readyz after 120 s"
		sleep 0.01
	done
}

# wait_quiet: until the operator has spent under 0.05 s of CPU in each of
# two consecutive seconds (its start-up work after /readyz is done), at most
# 300 s. Prints the seconds waited.
wait_quiet() {
	local t=$SECONDS quiet=0 a b
	a=$(cpu_seconds "$op_pid")
	while [ $quiet -lt 2 ] && [ $((SECONDS - t)) -lt 300 ]; do
		sleep 1
		b=$(cpu_seconds "$op_pid")
		if awk -v a="$a" -v b="$b" 'BEGIN { exit !(b - a < 0.05) }'; then quiet=$((quiet + 1)); else quiet=0; fi
		a=$b
	done
}

# --- phases -------------------------------------------------------------------

phase_baseline_a() {
	local n=$1 ns=bw-scale-a phase=baseline-a file t kcm k0
	file=$OUT/work/deployments.yaml
	fresh_namespace "$ns"
	kcm=$(kcm_pid)

	deployments "$ns" "$n" 1 >"$file"
	k0=$(cpu_seconds "$kcm")
	t=$(now)
	apply "$file"
	record "$n" $phase apply_s "$(since "$t")"
	wait_converged deployments "$ns" "$n" 1
	record "$n" $phase converge_s "$(since "$t")"
	record "$n" $phase kcm_cpu_s "$(minus "$(cpu_seconds "$kcm")" "$k0")"

	step edit || { drop_namespace "$ns"; return 0; }
	deployments "$ns" "$n" 2 >"$file"
	k0=$(cpu_seconds "$kcm")
	t=$(now)
	apply "$file"
	wait_converged deployments "$ns" "$n" 2
	record "$n" $phase edit_s "$(since "$t")"
	record "$n" $phase kcm_cpu_edit_s "$(minus "$(cpu_seconds "$kcm")" "$k0")"
	drop_namespace "$ns"
}

# phase_operator KIND N: baseline-b or breakwater, the same steps and timing.
phase_operator() {
	local phase=$1 n=$2 ns log file t kcm c0 k0
	ns=bw-scale-${phase#baseline-}
	log=$logs/$phase-$n.log
	file=$OUT/work/services.yaml
	: >"$log"
	fresh_namespace "$ns"
	kcm=$(kcm_pid)

	# idle: ready, nothing to reconcile yet
	start_operator "$phase" "$ns" "$log"
	wait_ready
	sleep 2
	record "$n" "$phase" rss_idle_kib "$(rss_kib "$op_pid")"

	# convergence
	services "$ns" "$n" 1 >"$file"
	c0=$(cpu_seconds "$op_pid") k0=$(cpu_seconds "$kcm")
	t=$(now)
	perf_start "$phase" "$n"
	apply "$file"
	record "$n" "$phase" apply_s "$(since "$t")"
	wait_converged services "$ns" "$n" 1
	record "$n" "$phase" converge_s "$(since "$t")"
	perf_stop
	record "$n" "$phase" cpu_s "$(minus "$(cpu_seconds "$op_pid")" "$c0")"
	record "$n" "$phase" kcm_cpu_s "$(minus "$(cpu_seconds "$kcm")" "$k0")"
	record "$n" "$phase" rss_converged_kib "$(rss_kib "$op_pid")"
	record "$n" "$phase" rss_peak_kib "$(hwm_kib "$op_pid")"
	record "$n" "$phase" list_s "$(list_seconds "$ns" services.breakwater.io)"
	# and once the work is over: what an operator holds between bursts
	# (Go's collector and glibc's trims both return memory afterwards)
	sleep 5
	record "$n" "$phase" rss_settled_kib "$(rss_kib "$op_pid")"

	# restart with the N Services present
	if step restart; then
		restart_operator "$phase" "$n" "$ns" "$log"
	fi
	step edit && edit_all "$phase" "$n" "$ns" "$file" "$kcm"
	step latency && edit_latency "$phase" "$n" "$ns"

	stop_operator
	drop_namespace "$ns"
}

# restart_operator PHASE N NS LOG: a new process with the N Services present.
restart_operator() {
	local phase=$1 n=$2 ns=$3 log=$4 t
	stop_operator
	t=$(now)
	start_operator "$phase" "$ns" "$log"
	wait_ready
	record "$n" "$phase" restart_ready_s "$(since "$t")"
	wait_quiet
	record "$n" "$phase" restart_settled_s "$(since "$t")"
	record "$n" "$phase" restart_cpu_s "$(cpu_seconds "$op_pid")"
	record "$n" "$phase" restart_rss_kib "$(rss_kib "$op_pid")"
	record "$n" "$phase" restart_peak_kib "$(hwm_kib "$op_pid")"
}

# edit_all PHASE N NS FILE KCM: a new image in every Service.
edit_all() {
	local phase=$1 n=$2 ns=$3 file=$4 kcm=$5 t c0 k0
	services "$ns" "$n" 2 >"$file"
	c0=$(cpu_seconds "$op_pid") k0=$(cpu_seconds "$kcm")
	t=$(now)
	apply "$file"
	wait_converged services "$ns" "$n" 2
	record "$n" "$phase" edit_s "$(since "$t")"
	record "$n" "$phase" cpu_edit_s "$(minus "$(cpu_seconds "$op_pid")" "$c0")"
	record "$n" "$phase" kcm_cpu_edit_s "$(minus "$(cpu_seconds "$kcm")" "$k0")"
	record "$n" "$phase" rss_edit_kib "$(rss_kib "$op_pid")"
}

# edit_latency PHASE N NS: single edits, patch accepted -> Deployment carries the image.
edit_latency() {
	local phase=$1 n=$2 ns=$3 out k v
	out=$("$client_bin" latency --kubeconfig "$KUBECONFIG" --namespace "$ns" --services "$n" \
		--edits "$EDITS" --tag "lat$n") || die "$phase: the latency probe failed: $out"
	while IFS=$'\t' read -r k v; do
		case $k in
		deployment_p50_ms | deployment_p99_ms | watch_p50_ms | watch_p99_ms | missed) record "$n" "$phase" "lat_$k" "$v" ;;
		esac
	done <<<"$out"
	record "$n" "$phase" peak_kib "$(hwm_kib "$op_pid")"
}

run_phase() { # PHASE N
	forget "$2" "$1"
	say "== N=$2: $1"
	case $1 in
	baseline-a) phase_baseline_a "$2" ;;
	baseline-b | breakwater) phase_operator "$1" "$2" ;;
	*) die "unknown phase '$1' (baseline-a, baseline-b, breakwater)" ;;
	esac
}

# --- report -------------------------------------------------------------------

# value SIZE PHASE METRIC: the recorded value, empty if none.
value() {
	awk -F'\t' -v n="$1" -v p="$2" -v m="$3" '$1 == n && $2 == p && $3 == m { v = $4 } END { print v }' "$results"
}

# row LABEL METRIC SCALE: a table row with the three phases and the ratios
# breakwater / baseline A and breakwater / baseline B. SCALE divides (1024
# turns KiB into MiB).
row() {
	local label=$1 metric=$2 scale=${3:-1} a b w
	a=$(value "$n" baseline-a "$metric") b=$(value "$n" baseline-b "$metric") w=$(value "$n" breakwater "$metric")
	awk -v l="$label" -v a="$a" -v b="$b" -v w="$w" -v s="$scale" '
		function f(x) { return x == "" ? "-" : sprintf("%.2f", x / s) }
		function r(x, y) { return (x == "" || y == "" || y + 0 == 0) ? "-" : sprintf("%.2fx", x / y) }
		BEGIN { printf "| %s | %s | %s | %s | %s | %s |\n", l, f(a), f(b), f(w), r(w, a), r(w, b) }'
}

report() {
	local n
	{
		for n in $SIZES; do
			printf '\n### N = %s services of one replica\n\n' "$n"
			printf '| what | baseline A (kubectl) | baseline B (controller-runtime) | breakwater | bw / A | bw / B |\n'
			printf '|---|---:|---:|---:|---:|---:|\n'
			row "apply returned (s)" apply_s
			row "converged: all Available / Ready (s)" converge_s
			row "operator CPU, convergence (s)" cpu_s
			row "kube-controller-manager CPU, same span (s)" kcm_cpu_s
			row "RSS idle (MiB)" rss_idle_kib 1024
			row "RSS converged (MiB)" rss_converged_kib 1024
			row "RSS peak to convergence, VmHWM (MiB)" rss_peak_kib 1024
			row "RSS 5 s after convergence and a LIST (MiB)" rss_settled_kib 1024
			row "one kubectl LIST of the objects (s)" list_s
			row "restart: start to /readyz (s)" restart_ready_s
			row "restart: start until its CPU is quiet (s)" restart_settled_s
			row "restart: CPU to quiet (s)" restart_cpu_s
			row "restart: RSS when quiet (MiB)" restart_rss_kib 1024
			row "restart: peak, VmHWM (MiB)" restart_peak_kib 1024
			row "new image in all: until all Ready (s)" edit_s
			row "operator CPU, new image in all (s)" cpu_edit_s
			row "kube-controller-manager CPU, same span (s)" kcm_cpu_edit_s
			row "RSS after the new image (MiB)" rss_edit_kib 1024
			row "patch -> Deployment has the image, p50 (ms)" lat_deployment_p50_ms
			row "patch -> Deployment has the image, p99 (ms)" lat_deployment_p99_ms
			row "patch -> plain watch sees it, p50 (ms)" lat_watch_p50_ms
			row "patch -> plain watch sees it, p99 (ms)" lat_watch_p99_ms
			row "peak of the restarted process, VmHWM (MiB)" peak_kib 1024
		done
	} >"$OUT/results.md"
	cat "$OUT/results.md"
}

# plot: RSS and convergence time against N, every size in results.tsv.
plot() {
	command -v gnuplot >/dev/null || { say "no gnuplot (tests/install-deps.sh bench): no plot"; return 0; }
	local data=$OUT/plot.dat n m v
	{
		echo "# N conv_A conv_B conv_bw rss_B rss_bw peak_B peak_bw (s, MiB)"
		for n in $(cut -f1 "$results" | sort -n | uniq); do
			printf '%s' "$n"
			for m in "baseline-a converge_s" "baseline-b converge_s" "breakwater converge_s" \
				"baseline-b rss_converged_kib" "breakwater rss_converged_kib" \
				"baseline-b restart_peak_kib" "breakwater restart_peak_kib"; do
				v=$(value "$n" $m)
				case $m in *_kib) [ -n "$v" ] && v=$(awk -v v="$v" 'BEGIN { printf "%.1f", v / 1024 }') ;; esac
				printf ' %s' "${v:-NaN}"
			done
			echo
		done
	} >"$data"
	gnuplot <<EOF
set terminal pngcairo size 1100,450 font ",10"
set output "$OUT/scale.png"
set multiplot layout 1,2 title "breakwater at scale: N services of one replica (local control plane, 2 cores)"
set logscale x
set xlabel "N (services)"
set key top left
set grid
set ylabel "MiB"
set title "operator RSS"
plot "$data" u 1:5 w lp t "baseline B converged", "$data" u 1:7 w lp t "baseline B restart peak", \
     "$data" u 1:6 w lp t "breakwater converged", "$data" u 1:8 w lp t "breakwater restart peak"
set ylabel "seconds"
set title "time to converge"
plot "$data" u 1:2 w lp t "baseline A (kubectl)", "$data" u 1:3 w lp t "baseline B (controller-runtime)", \
     "$data" u 1:4 w lp t "breakwater"
unset multiplot
EOF
	say "plot: $OUT/scale.png"
}

# --- main ---------------------------------------------------------------------

main() {
	local n p
	mkdir -p "$OUT/work" "$logs"
	[ -x "$bw_bin" ] || die "$bw_bin: not an executable (make builds bin/breakwater)"
	# the baseline operator and the bench's client (applies, latency probe)
	{ read -r baseline_bin && read -r client_bin; } < <(BENCH_LOG_DIR=$logs "$top/bench/baseline/build.sh")
	[ -x "${client_bin:-}" ] || die "bench/baseline did not build"
	prepare_cluster
	trap 'stop_operator' EXIT
	for n in $SIZES; do
		for p in baseline-a baseline-b breakwater; do
			case " $PHASES " in *" $p "*) run_phase "$p" "$n" ;; esac
		done
	done
	report
	plot
}

main
