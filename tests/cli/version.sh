#!/usr/bin/env bash
# bin/breakwater answers --version and --help, and refuses unknown options and
# bad flag values with a message naming the flag.
. "$(dirname "$0")/../lib.sh"
bin=$top/build/asan/breakwater

out=$("$bin" --version)
check "--version exits 0" test $? -eq 0
check "--version names breakwater and its version" grep -qE '^breakwater [0-9]+\.[0-9]+\.[0-9]+' <<<"$out"
check "--version names the libraries" grep -q 'libwebsockets' <<<"$out"

out=$("$bin" --help)
check "--help exits 0 with usage" grep -q '^usage: breakwater' <<<"$out"

out=$("$bin" --no-such-flag 2>&1)
rc=$?
check_eq "an unknown option exits 2" 2 "$rc"
check "an unknown option is named" grep -q "unknown option '--no-such-flag'" <<<"$out"

# bad values are refused before anything starts, each naming the flag
while IFS='|' read -r args want; do
	# shellcheck disable=SC2086 # args is a word list on purpose
	out=$("$bin" $args 2>&1)
	rc=$?
	if [ "$rc" -eq 2 ] && grep -qF -- "$want" <<<"$out"; then
		ok "'$args' is refused: $want"
	else
		not_ok "'$args' is refused: $want" "exit $rc: $(head -n 3 <<<"$out")"
	fi
done <<'TABLE'
--namespace|--namespace needs a value
--log-level loud|--log-level takes error, warn, info, debug or trace, not 'loud'
--log-format xml|--log-format takes text or json, not 'xml'
--workers 0|--workers takes 1..64, not '0'
--webhook-port 70000|--webhook-port takes 0..65535, not '70000'
--webhook-service nosl|--webhook-service takes NAMESPACE/NAME, not 'nosl'
--webhook-cert-validity 5|--webhook-cert-validity takes seconds (>= 10), not '5'
--webhook-request-timeout 0|--webhook-request-timeout takes 1..300, not '0'
--webhook-idle-timeout 1h|--webhook-idle-timeout takes 1..3600, not '1h'
--webhook-max-connections-per-peer 5000|--webhook-max-connections-per-peer takes 1..1024, not '5000'
--webhook-cert-file /tmp/x.crt|--webhook-cert-file and --webhook-key-file go together
--webhook-ca-file /tmp/ca.crt|--webhook-ca-file needs --webhook-cert-file and --webhook-key-file
--leader-elect=maybe|--leader-elect
TABLE
