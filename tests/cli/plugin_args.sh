#!/usr/bin/env bash
# kubectl breakwater's arguments, under ASan, with no cluster: --help of the
# plugin and of each command (exit 0, within 80 columns), and what it
# refuses before any request with exit 2 and a message naming the thing at
# fault; both ways of calling it (the kubectl-breakwater link and
# `breakwater plugin`); a kubeconfig that is not there is exit 1.
. "$(dirname "$0")/../lib.sh"
bin=$top/build/asan/breakwater

dir=$(mktemp -d /tmp/bw-cli-plugin-XXXXXX)
trap 'rm -rf "$dir"' EXIT
ln -s "$bin" "$dir/kubectl-breakwater"

# run ARGS...: the plugin through its link, with no cluster to reach
run() { ASAN_OPTIONS=detect_leaks=1 KUBECONFIG="$dir/none" HOME="$dir" timeout 20 "$dir/kubectl-breakwater" "$@" 2>&1; }

# expect NAME RC WANT ARGS...: exit RC, output holding WANT, no sanitizer report.
expect() {
	local name=$1 want_rc=$2 want=$3 out rc
	shift 3
	out=$(run "$@")
	rc=$?
	if [ "$rc" -eq "$want_rc" ] && grep -qF -- "$want" <<<"$out" && ! grep -q 'Sanitizer' <<<"$out"; then
		ok "$name"
	else
		not_ok "$name" "exit $rc, wanted $want_rc and: $want" "$(head -c 1500 <<<"$out")"
	fi
}

# fits NAME ARGS...: the output's lines are at most 80 characters
fits() {
	local name=$1 wide
	shift
	wide=$(run "$@" | awk 'length($0) > 80')
	if [ -z "$wide" ]; then ok "$name"; else not_ok "$name" "$wide"; fi
}

expect "--help: the commands, exit 0" 0 "usage: kubectl breakwater COMMAND NAME [flags]" --help
expect "--help names every command" 0 "restart   a new rollout of the same spec" -h
fits "--help fits 80 columns" --help
for c in status history undo pause resume restart; do
	expect "$c --help, exit 0" 0 "usage: kubectl breakwater $c NAME" "$c" --help
	fits "$c --help fits 80 columns" "$c" --help
done
expect "status --help tells the exit codes of --watch" 0 "Ready at its" status --help
expect "undo --help tells the default target" 0 "--to-revision N" undo --help
out=$(ASAN_OPTIONS=detect_leaks=1 "$bin" plugin --help 2>&1)
check "called as breakwater plugin, it says so" grep -q "^usage: breakwater plugin COMMAND NAME" <<<"$out"
out=$(ASAN_OPTIONS=detect_leaks=1 "$bin" plugin status 2>&1)
check_eq "breakwater plugin: the same checks, its own name" \
	"breakwater plugin: status needs the NAME of a Service (see breakwater plugin status --help)" "$out"

expect "no command: usage on stderr, exit 2" 2 "usage: kubectl breakwater COMMAND NAME"
expect "an unknown command" 2 "kubectl breakwater: unknown command 'rollback' (see kubectl breakwater --help)" \
	rollback web
expect "no NAME" 2 "kubectl breakwater: history needs the NAME of a Service (see kubectl breakwater history --help)" \
	history
expect "two NAMEs" 2 "one NAME only: unexpected argument 'api'" status web api
expect "an unknown flag" 2 "kubectl breakwater: unknown flag --replicas (see kubectl breakwater status --help)" \
	status web --replicas 3
expect "an unknown short flag" 2 "unknown flag -x" pause web -x
expect "a flag without its value" 2 "flag --namespace needs a value" status web --namespace
expect "an empty namespace is no namespace" 2 "flag -n needs a value" status web -n ""
expect "nor with =" 2 "flag --namespace needs a value" status web --namespace=
expect "-o takes text or json" 2 "-o takes text or json, not 'yaml'" status web -o yaml
expect "--output=yaml the same" 2 "-o takes text or json, not 'yaml'" history web --output=yaml
expect "--watch belongs to status" 2 "--watch is a flag of status, not of history" history web --watch
expect "--to-revision belongs to undo" 2 "--to-revision is a flag of undo, not of status" \
	status web --to-revision 2
expect "--to-revision takes a number" 2 "--to-revision takes a revision number (1, 2, ...), not 'two'" \
	undo web --to-revision two
expect "--to-revision 0 is no revision" 2 "not '0'" undo web --to-revision=0
expect "a kubeconfig that is not there: exit 1, named" 1 "$dir/missing" \
	status web --kubeconfig "$dir/missing"
expect "no kubeconfig at all: exit 1, the places tried" 1 "kubectl breakwater: " status web -n shop -o json
