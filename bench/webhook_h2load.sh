#!/usr/bin/env bash
# Admission under h2load (Debian's nghttp2-client), a load generator no one
# here wrote: the webhook server of bench/webhook_latency.c run standalone
# (--serve, caches holding the shop, or N Services in its namespace), four
# keep-alive HTTP/1.1 connections over TLS, one request in flight on each.
#
# For each cache size in SIZES: POST /mutate-pods (a pod of `orders`, two
# dependencies, so a real patch comes back) and GET /healthz on the same
# server, first at a fixed RATE (h2load --rps per connection), then at full
# speed (FULL_REQUESTS requests). h2load sends one review over and over, so
# the mutations after the first are answered from the review memo, as the
# pods of a ReplicaSet after its first are ("mutate"); then the same on a
# server started with --no-memo, where every review is decided, as the first
# pod of each ReplicaSet is ("decided"). Then, when nginx is installed, the
# outside baseline: nginx (one worker) answering a static "ok" over TLS with
# the same certificate, at full speed. p50 and p99 come from h2load's per-request log (time from the
# request's start to the end of its response).
#
#   bench/webhook_h2load.sh                      # SIZES="3 1000" RATE=2000 DURATION=10 FULL_REQUESTS=30000
#   SIZES=1000 DURATION=5 bench/webhook_h2load.sh
#   PERF=1 bench/webhook_h2load.sh               # also perf record -g the server at full speed
#
# Needs h2load (apt-get install nghttp2-client); nginx (nginx-light) is
# optional. Builds build/bench/webhook_latency with make.
set -euo pipefail

cd "$(dirname "$0")/.."
SIZES=${SIZES:-"3 1000"}
RATE=${RATE:-2000}
DURATION=${DURATION:-10}
CONNS=${CONNS:-4}
PERF=${PERF:-0}
NICE=${NICE:-"nice -n 10"}

command -v h2load >/dev/null || { echo "webhook_h2load: h2load is missing (apt-get install nghttp2-client)" >&2; exit 1; }
make -s build/bench/webhook_latency

work=$(mktemp -d)
server_pid=
nginx_pid=
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	[ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# percentile P of the third column (microseconds) of an h2load log, in ms
pct() {
	awk '$2 >= 200 && $2 < 300 {print $3}' "$1" | sort -n |
		awk -v p="$2" '{v[NR]=$1} END {i=int(NR*p/100); if (i<1) i=1; if (i>NR) i=NR; printf "%.3f", v[i]/1000}'
}

# CPU time of a process, all its threads, in clock ticks
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run NAME PID URL [h2load options...]: prints one line of the table; PID is
# the server's, whose CPU time per request is shown (the figure a loaded
# machine disturbs least: latency there includes waiting for a core)
run() {
	local name=$1 pid=$2 url=$3 log=$work/log out
	shift 3
	rm -f "$log"
	local c0 c1
	c0=$(cpu_ticks "$pid")
	out=$($NICE h2load --h1 -c "$CONNS" -t 1 --log-file="$log" "$@" "$url" 2>&1) || {
		echo "$out" >&2
		return 1
	}
	c1=$(cpu_ticks "$pid")
	local rps ok failed us
	rps=$(echo "$out" | sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p')
	ok=$(echo "$out" | sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p')
	failed=$(echo "$out" | sed -n 's/^requests: .* \([0-9]*\) failed.*/\1/p')
	us=$(awk -v c=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="$(wc -l <"$log")" -v r="$rps" \
		-v d="$DURATION" 'BEGIN {if (n > 0) printf "%.0f", c / hz * 1e6 / n}')
	printf "%-30s %7.0f req/s  p50 %6s ms  p99 %7s ms  %4s us CPU/req  (%s ok, %s failed)\n" \
		"$name" "$rps" "$(pct "$log" 50)" "$(pct "$log" 99)" "$us" "$ok" "$failed"
	echo "$name|$rps|$(pct "$log" 50)|$(pct "$log" 99)|$us" >>"$work/results"
}

field() { # field NAME COLUMN(2 rps, 3 p50, 4 p99, 5 CPU us per request)
	awk -F'|' -v n="$1" -v c="$2" '$1 == n {print $c}' "$work/results"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}'; }

# against_healthz NAME SIZE: NAME@SIZE's runs over /healthz's on the same server
against_healthz() {
	local n=$1@$2 h=healthz@$2
	printf "   %s/healthz: p50 %s, p99 %s at %d/s; full-speed rate %s; CPU per request %s\n" "$1" \
		"$(ratio "$(field "$n at $RATE/s" 3)" "$(field "$h at $RATE/s" 3)")" \
		"$(ratio "$(field "$n at $RATE/s" 4)" "$(field "$h at $RATE/s" 4)")" \
		"$RATE" \
		"$(ratio "$(field "$n full speed" 2)" "$(field "$h full speed" 2)")" \
		"$(ratio "$(field "$n full speed" 5)" "$(field "$h full speed" 5)")"
}

n_rate=$((RATE * DURATION))
n_full=${FULL_REQUESTS:-30000}
per_conn=$((RATE / CONNS))
echo "h2load $(h2load --version | awk '{print $2}'), $CONNS keep-alive HTTP/1.1 connections over TLS, $(nproc) cores"
for size in $SIZES; do
	dir=$work/s$size
	mkdir -p "$dir"
	$NICE build/bench/webhook_latency --services "$size" --serve "$dir" >"$dir/out" &
	server_pid=$!
	for _ in $(seq 100); do grep -q '^port ' "$dir/out" 2>/dev/null && break; sleep 0.1; done
	port=$(awk '/^port /{print $2}' "$dir/out")
	[ -n "$port" ] || { echo "webhook_h2load: the server did not start" >&2; exit 1; }
	base=https://127.0.0.1:$port
	mut=(-d "$dir/review.json" -H 'content-type: application/json')
	echo "== $size Services cached in the namespace"
	# warm-up: connections, caches, allocator
	h2load --h1 -c "$CONNS" -n 2000 "${mut[@]}" "$base/mutate-pods" >/dev/null 2>&1
	run "healthz@$size at $RATE/s" "$server_pid" "$base/healthz" -n "$n_rate" --rps "$per_conn"
	run "mutate@$size at $RATE/s" "$server_pid" "$base/mutate-pods" "${mut[@]}" -n "$n_rate" --rps "$per_conn"
	run "healthz@$size full speed" "$server_pid" "$base/healthz" -n "$n_full"
	if [ "$PERF" = 1 ] && command -v perf >/dev/null; then
		perf record -e cpu-clock -F 1999 --call-graph dwarf,16384 -o "$work/perf.data" \
			-p "$server_pid" -- sleep 4 >/dev/null 2>&1 &
		perf_pid=$!
	fi
	run "mutate@$size full speed" "$server_pid" "$base/mutate-pods" "${mut[@]}" -n "$n_full"
	if [ "$PERF" = 1 ] && [ -n "${perf_pid:-}" ]; then
		wait "$perf_pid" || true
		perf report -i "$work/perf.data" --no-children --stdio --sort dso,sym -g none \
			--percent-limit 0.7 2>/dev/null | grep -v '^$' >"build/bench/perf-webhook-$size.txt" || true
		perf report -i "$work/perf.data" --children --stdio --sort sym -g none \
			--percent-limit 3 2>/dev/null | grep -v '^$' >"build/bench/perf-webhook-$size-children.txt" || true
		echo "   (profile: build/bench/perf-webhook-$size.txt)"
		perf_pid=
	fi
	kill "$server_pid"
	wait "$server_pid" || true
	server_pid=
	sed -n 's/^server: /   server: /p' "$dir/out"
	# every review decided: the memo off
	mkdir -p "$dir/decided"
	$NICE build/bench/webhook_latency --services "$size" --serve "$dir/decided" --no-memo >"$dir/out2" &
	server_pid=$!
	for _ in $(seq 100); do grep -q '^port ' "$dir/out2" 2>/dev/null && break; sleep 0.1; done
	port=$(awk '/^port /{print $2}' "$dir/out2")
	[ -n "$port" ] || { echo "webhook_h2load: the --no-memo server did not start" >&2; exit 1; }
	base=https://127.0.0.1:$port
	h2load --h1 -c "$CONNS" -n 2000 "${mut[@]}" "$base/mutate-pods" >/dev/null 2>&1
	run "decided@$size at $RATE/s" "$server_pid" "$base/mutate-pods" "${mut[@]}" -n "$n_rate" --rps "$per_conn"
	run "decided@$size full speed" "$server_pid" "$base/mutate-pods" "${mut[@]}" -n "$n_full"
	kill "$server_pid"
	wait "$server_pid" || true
	server_pid=
	sed -n 's/^server: /   server (--no-memo): /p' "$dir/out2"
	against_healthz mutate "$size"
	against_healthz decided "$size"
done

nginx=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null || true)
if [ -n "$nginx" ]; then
	dir=$work/nginx
	mkdir -p "$dir"
	first=$work/s${SIZES%% *}
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $dir; proxy_temp_path $dir; fastcgi_temp_path $dir;
	uwsgi_temp_path $dir; scgi_temp_path $dir;
	keepalive_requests 10000000;
	server {
		listen 127.0.0.1:$port ssl;
		ssl_certificate $first/cert.pem;
		ssl_certificate_key $first/key.pem;
		location / { default_type text/plain; return 200 "ok\n"; }
	}
}
EOF
	$NICE "$nginx" -c "$dir/nginx.conf" -e "$dir/error.log" &
	nginx_pid=$!
	nginx_worker() { pgrep -P "$(cat "$dir/nginx.pid")" | head -1; }
	for _ in $(seq 50); do h2load --h1 -n 1 "https://127.0.0.1:$port/" 2>/dev/null | grep -q '1 succeeded' && break; sleep 0.1; done
	echo "== outside baseline: nginx $("$nginx" -v 2>&1 | sed 's/.*nginx\///'), one worker, static 200 over TLS"
	run "nginx at $RATE/s" "$(nginx_worker)" "https://127.0.0.1:$port/" -n "$n_rate" --rps "$per_conn"
	run "nginx full speed" "$(nginx_worker)" "https://127.0.0.1:$port/" -n "$n_full"
	for size in $SIZES; do
		printf "   mutate@%s/nginx full-speed rate %s; healthz@%s/nginx %s\n" "$size" \
			"$(ratio "$(field "mutate@$size full speed" 2)" "$(field "nginx full speed" 2)")" "$size" \
			"$(ratio "$(field "healthz@$size full speed" 2)" "$(field "nginx full speed" 2)")"
	done
fi
