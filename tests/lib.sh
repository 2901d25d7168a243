# Helpers for shell tests; source it. Each check prints "ok - NAME" or
# "not ok - NAME" (tests/run.sh counts those) and a failing check shows why.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state=${BREAKWATER_CLUSTER_DIR:-$top/.cluster}
export KUBECONFIG=$state/kubeconfig

kubectl() { "$state/bin/kubectl" "$@"; }

ok() { echo "ok - $1"; }
not_ok() {
	echo "not ok - $1"
	shift
	[ $# -gt 0 ] && printf '    %s\n' "$@"
	return 0
}

# check NAME COMMAND...: passes when COMMAND succeeds; shows its output if not.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "command: $*" "$out"; fi
}

# check_eq NAME EXPECTED ACTUAL
check_eq() {
	if [ "$2" == "$3" ]; then ok "$1"; else not_ok "$1" "expected: $2" "actual:   $3"; fi
}

# eventually SECONDS COMMAND...: retries COMMAND every half second; the
# status of its last run is returned.
eventually() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.5
	done
}

# use_namespace NAME: sets $ns to a namespace of the test's own, deleted when
# the test exits (call it in the test's shell, not in $(...)).
use_namespace() {
	ns="bw-test-$1-$$"
	kubectl create namespace "$ns" >/dev/null
	trap 'kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1' EXIT
}
