#!/usr/bin/env bash
# The breaker sidecar (breakwater proxy) against nginx and HAProxy as the
# same reverse proxy, on loopback, in one run (bench/README.md, "The breaker
# sidecar against nginx and HAProxy"). `make bench-proxy` builds and runs it.
#
# The upstream is nginx (one worker) answering `hello world` (12 bytes) with
# keep-alive. In front of it, each on its own port: breakwater proxy (a
# CLOSED Enforce breaker on the path, so the state machine runs per call),
# nginx (one worker, upstream keepalive 32) and HAProxy (one thread,
# http-reuse safe). bench/proxy_load.c sends GETs over CONNECTIONS (16)
# keep-alive connections at 1,000 and 10,000 requests/s (open loop) and then
# as fast as answers come (closed loop), SECONDS (5) each after a 1 s
# warm-up, to the upstream directly and through each proxy, the targets
# taking turns at each rate, for ROUNDS (3) rounds; each figure is the
# median of the rounds (a shared machine's noise is in the tails). Added
# latency is a proxy's percentile minus the direct one of the same rate. RSS: VmRSS after start and one call
# (idle) and VmHWM at the end (the peak under load); nginx is master plus
# worker. CPU: each proxy's user+system time over its closed-loop run. The
# fast-fail rate: closed loop against a dependency whose Breaker is
# ForcedOpen (every answer a 503 from the breaker).
#
# On a shared machine other work lands in the tails; every process of the
# bench (the upstream, the proxies, the load generator) runs at the same
# raised priority, NICE (-10 as root, else 0), so the comparison stays fair.
#
#   SECONDS_PER_RUN=5 CONNECTIONS=16 ROUNDS=3 NICE=-10 BASE_PORT=18180 bench/proxy.sh
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
load=build/bench/proxy_load
bw=bin/breakwater
seconds=${SECONDS_PER_RUN:-5}
conns=${CONNECTIONS:-16}
base=${BASE_PORT:-18180}
rounds=${ROUNDS:-3}
nice_default=0
[ "$(id -u)" -ne 0 ] || nice_default=-10
# nice execs the command: $! is the server's own pid
run=(nice -n "${NICE:-$nice_default}")
up=$base bwp=$((base + 1)) ngp=$((base + 2)) hap=$((base + 3)) ffp=$((base + 4))
for f in "$load" "$bw"; do
	[ -x "$f" ] || { echo "proxy.sh: $f missing (make build bench-bins)" >&2; exit 1; }
done
for c in nginx haproxy; do
	command -v "$c" >/dev/null || { echo "proxy.sh: $c missing (tests/install-deps.sh bench)" >&2; exit 1; }
done

for p in $up $bwp $ngp $hap $ffp; do
	if ss -ltn "sport = :$p" | grep -q LISTEN; then
		echo "proxy.sh: port $p is taken (BASE_PORT=$base); set BASE_PORT" >&2
		exit 1
	fi
done
dir=$(mktemp -d /tmp/bw-bench-proxy-XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

nginx_conf() { # NAME PORT LOCATION-BODY [HTTP-EXTRA]
	mkdir -p "$dir/$1"
	cat >"$dir/$1/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 1;
pid $dir/$1/nginx.pid;
error_log $dir/$1/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_requests 100000000;
	keepalive_timeout 75s;
	client_body_temp_path $dir/$1/body;
	proxy_temp_path $dir/$1/proxy;
	fastcgi_temp_path $dir/$1/fastcgi;
	uwsgi_temp_path $dir/$1/uwsgi;
	scgi_temp_path $dir/$1/scgi;
	${4:-}
	server {
		listen 127.0.0.1:$2;
		location / { $3 }
	}
}
CONF
}

nginx_conf upstream "$up" 'default_type text/plain; return 200 "hello world\n";'
nginx_conf proxy "$ngp" 'proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection "";' \
	"upstream backend { server 127.0.0.1:$up; keepalive 32; }"
cat >"$dir/haproxy.cfg" <<CONF
global
	nbthread 1
	maxconn 4096
defaults
	mode http
	timeout connect 2s
	timeout client 30s
	timeout server 30s
	option http-keep-alive
	http-reuse safe
frontend fe
	bind 127.0.0.1:$hap
	default_backend be
backend be
	server s1 127.0.0.1:$up
CONF
cat >"$dir/breakers.json" <<CONF
{"namespace": "bench", "breakers": {
 "upstream-breaker": {"target": "upstream", "failureThreshold": 50, "openSeconds": 30, "mode": "Enforce"},
 "down-breaker": {"target": "down", "mode": "ForcedOpen"}}}
CONF

"${run[@]}" nginx -e stderr -c "$dir/upstream/nginx.conf" & pids+=($!)
"${run[@]}" nginx -e stderr -c "$dir/proxy/nginx.conf" & pids+=($!); nginx_proxy=$!
"${run[@]}" haproxy -db -f "$dir/haproxy.cfg" & pids+=($!); haproxy_pid=$!
"${run[@]}" "$bw" proxy --dependency "upstream=$bwp=http://127.0.0.1:$up" \
	--dependency "down=$ffp=http://127.0.0.1:$up" \
	--breakers-file "$dir/breakers.json" --log-level warn & pids+=($!); bw_pid=$!
for port in $up $bwp $ngp $hap; do
	for _ in $(seq 50); do
		curl -sf -o /dev/null "http://127.0.0.1:$port/" && break
		sleep 0.1
	done
done
nginx_worker=$(pgrep -P "$nginx_proxy" | head -1)

status_kib() { # FIELD PID...
	local field=$1 sum=0 p v
	shift
	for p in "$@"; do
		v=$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$p/status")
		sum=$((sum + v))
	done
	echo "$sum"
}
cpu_ticks() { # PID...
	local sum=0 p
	for p in "$@"; do sum=$((sum + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
	echo "$sum"
}
declare -A procs=([breakwater]="$bw_pid" [nginx]="$nginx_proxy $nginx_worker" [haproxy]="$haproxy_pid")
declare -A port=([direct]=$up [breakwater]=$bwp [nginx]=$ngp [haproxy]=$hap)
declare -A idle res cpu
for t in breakwater nginx haproxy; do
	# shellcheck disable=SC2086
	idle[$t]=$(status_kib VmRSS ${procs[$t]})
done

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
# The median over the rounds of FIELD for TARGET at RATE.
med() {
	local r
	for r in $(seq "$rounds"); do field "$1" "${res[$2,$3,$r]}"; done | sort -g |
		awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}
echo "# $(date -u +%F) $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $conns connections, ${seconds} s per run after a 1 s warm-up, $rounds rounds, nice ${NICE:-$nice_default}"
for round in $(seq "$rounds"); do
	for rate in 1000 10000 max; do
		for t in direct breakwater nginx haproxy; do
			args=(--port "${port[$t]}" --seconds "$seconds" --connections "$conns")
			[ "$rate" = max ] || args+=(--rate "$rate")
			before=0
			# shellcheck disable=SC2086
			[ "$t" = direct ] || before=$(cpu_ticks ${procs[$t]})
			# a run with no answer at all still prints its line (achieved=0)
			res[$t,$rate,$round]=$("${run[@]}" "$load" "${args[@]}" || true)
			# shellcheck disable=SC2086
			[ "$t" = direct ] || cpu[$t,$rate,$round]=$(($(cpu_ticks ${procs[$t]}) - before))
			echo "# round $round, $rate $t: ${res[$t,$rate,$round]}"
		done
	done
done
ff=$("${run[@]}" "$load" --port "$ffp" --seconds "$seconds" --connections "$conns" || true)
echo "# fast-fail: $ff"
echo "# load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "| rate | proxy | achieved req/s | p50 µs | p99 µs | p99.9 µs | added p50 | added p99 | added p99.9 |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
for rate in 1000 10000 max; do
	for t in direct breakwater nginx haproxy; do
		if [ "$t" = direct ]; then
			added="| | |"
		else
			added=$(awk -v a="$(med p50_us $t $rate)" -v b="$(med p50_us direct $rate)" \
				-v c="$(med p99_us $t $rate)" -v e="$(med p99_us direct $rate)" \
				-v f="$(med p999_us $t $rate)" -v g="$(med p999_us direct $rate)" \
				'BEGIN {printf "%.0f | %.0f | %.0f |", a - b, c - e, f - g}')
		fi
		echo "| $rate | $t | $(med achieved $t $rate) | $(med p50_us $t $rate) | $(med p99_us $t $rate) | $(med p999_us $t $rate) | $added"
	done
done
echo
echo "| proxy | RSS idle KiB | peak RSS under load KiB | CPU ms per 1,000 requests (closed loop, all rounds) |"
echo "|---|---:|---:|---:|"
hz=$(getconf CLK_TCK)
for t in breakwater nginx haproxy; do
	# shellcheck disable=SC2086
	peak=$(status_kib VmHWM ${procs[$t]})
	c=0 n=0
	for r in $(seq "$rounds"); do
		c=$((c + cpu[$t,max,$r]))
		n=$(awk -v a="$n" -v b="$(field achieved "${res[$t,max,$r]}")" 'BEGIN {print a + b}')
	done
	per=$(awk -v c="$c" -v hz="$hz" -v n="$n" -v s="$seconds" \
		'BEGIN {printf "%.1f", (n > 0 ? c * 1000 / hz / (n * (s + 1)) * 1000 : 0)}')
	echo "| $t | ${idle[$t]} | $peak | $per |"
done
echo
echo "fast-fail while OPEN (ForcedOpen, closed loop): $(field achieved "$ff") answers/s, $(field s503 "$ff") 503s, p99 $(field p99_us "$ff") µs"
