#!/usr/bin/env bash
# A kubeconfig the operator cannot use is refused at start with one clean
# message naming the file (abbreviated when long) and the reason: a path of
# about 520 bytes once overflowed a stack buffer (ASan) while the message was
# put together.
. "$(dirname "$0")/../lib.sh"
bin=$top/build/asan/breakwater

dir=$(mktemp -d /tmp/bw-cli-kubeconfig-XXXXXX)
trap 'rm -rf "$dir"' EXIT

# deep: a folder whose path makes the kubeconfig's about 520 bytes long
seg=$(printf 'd%.0s' {1..99})
deep=$dir
while [ $((${#deep} + 100 + 11)) -le 520 ]; do deep=$deep/$seg; done
deep=$deep/$(printf 'e%.0s' $(seq $((520 - ${#deep} - 12))))
mkdir -p "$deep"
long=$deep/kubeconfig
check_eq "the long path is 520 bytes" 520 "${#long}"

# run_refused NAME WANT ARGS...: the operator exits 1 at once, its message
# holds WANT, and no sanitizer report comes with it.
run_refused() {
	local name=$1 want=$2 out rc
	shift 2
	out=$(ASAN_OPTIONS=detect_leaks=0 timeout 20 "$bin" "$@" --health-probe-bind-address 0 \
		--metrics-bind-address 0 2>&1)
	rc=$?
	if [ "$rc" -eq 1 ] && grep -qF -- "$want" <<<"$out" && ! grep -q 'Sanitizer' <<<"$out"; then
		ok "$name"
	else
		not_ok "$name" "exit $rc, wanted 1 and: $want" "$(head -c 1500 <<<"$out")"
	fi
}

run_refused "a missing kubeconfig at a 520-byte path: the reason is kept" \
	"No such file or directory" --kubeconfig "$long"
run_refused "and the path is shown by its head and tail" \
	"cannot read kubeconfig $dir/ddd" --kubeconfig "$long"

printf 'clusters: [\n' >"$long"
run_refused "a malformed kubeconfig at a 520-byte path is named, with the YAML error" \
	"YAML error at line 2" --kubeconfig "$long"
run_refused "its path is shortened in the middle, the reason kept whole" \
	"dddd...dddd" --kubeconfig "$long"
