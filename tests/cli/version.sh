#!/usr/bin/env bash
# bin/breakwater answers --version and --help, and refuses unknown options.
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
