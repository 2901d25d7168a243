#!/usr/bin/env bash
# `breakwater proxy` refuses what it cannot run with one message naming the
# thing at fault and exit 2 (usage) or 1 (cannot start), under ASan: a bad
# --dependency, a URL it cannot forward to, a breakers file that is missing
# or does not parse, a port taken; --help answers 0.
. "$(dirname "$0")/../lib.sh"
bin=$top/build/asan/breakwater

dir=$(mktemp -d /tmp/bw-cli-proxy-XXXXXX)
trap 'rm -rf "$dir"' EXIT
printf '{"breakers": {"p": {"target": "payments", "mode": "Sometimes"}}}' >"$dir/bad.json"

# expect NAME RC WANT ARGS...: exit RC, output holding WANT, no sanitizer report.
expect() {
	local name=$1 want_rc=$2 want=$3 out rc
	shift 3
	out=$(ASAN_OPTIONS=detect_leaks=1 BREAKWATER_BREAKERS_FILE= timeout 20 "$bin" proxy "$@" 2>&1)
	rc=$?
	if [ "$rc" -eq "$want_rc" ] && grep -qF -- "$want" <<<"$out" && ! grep -q 'Sanitizer' <<<"$out"; then
		ok "$name"
	else
		not_ok "$name" "exit $rc, wanted $want_rc and: $want" "$(head -c 1500 <<<"$out")"
	fi
}

expect "--help: usage, exit 0" 0 "usage: breakwater proxy --dependency NAME=PORT=URL" --help
expect "no dependency: usage, exit 2" 2 "usage: breakwater proxy"
expect "a dependency without a URL" 2 "--dependency takes NAME=PORT=URL" --dependency payments=15001
expect "a port that is not a number" 2 "--dependency takes NAME=PORT=URL" \
	--dependency payments=x=http://a:1
expect "a dependency name that is not a Service name" 1 "a Service name (a DNS-1035 label)" \
	--dependency 'pay"ments=0=http://a:1'
expect "https is not forwarded" 1 "dependency payments: URL https://a: only http:// URLs" \
	--dependency payments=0=https://a
expect "a URL with a path" 1 "a path is not supported" --dependency payments=0=http://a:80/api
expect "a missing breakers file" 1 "cannot read breakers file $dir/none.json" \
	--dependency payments=0=http://127.0.0.1:1 --breakers-file "$dir/none.json"
expect "a breakers file that does not parse names the field" 1 \
	'breakers.p.mode: unknown value "Sometimes"' \
	--dependency payments=0=http://127.0.0.1:1 --breakers-file "$dir/bad.json"
expect "a bad admin address" 1 "admin address nowhere: IPV4:PORT expected" \
	--dependency payments=0=http://127.0.0.1:1 --admin-bind-address nowhere
expect "a bad timeout" 2 "bad value '0'" --dependency payments=0=http://a:1 \
	--request-timeout-ms 0

# a port taken: a listener holds one, then the proxy asks for it
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True); time.sleep(30)' >"$dir/port" &
holder=$!
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.1; done
port=$(cat "$dir/port")
expect "a port taken" 1 "payments: listen on 127.0.0.1:$port: Address already in use" \
	--dependency payments=$port=http://a:1
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null || true # killed: 143
