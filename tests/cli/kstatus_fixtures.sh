#!/usr/bin/env bash
# The kstatus library of sigs.k8s.io/cli-utils (tests/kstatus/) over the
# status every rollout fixture writes (tests/unit/data/rollout/): Current,
# InProgress or Failed as docs/resources.md says, and valid
# metav1.Conditions. Then that the tool itself can fail: a condition that is
# not a valid metav1.Condition, and a generation not yet observed.
. "$(dirname "$0")/../lib.sh"

tool=$("$top/tests/kstatus/build.sh") || { not_ok "the kstatus tool builds"; exit 1; }
"$tool" -rollout-fixtures "$top/tests/unit/data/rollout"

obj() { # GENERATION OBSERVED REASON STATUS(of Stalled)
	cat <<JSON
{"apiVersion": "breakwater.io/v1alpha1", "kind": "Service",
 "metadata": {"name": "orders", "namespace": "shop", "generation": $1},
 "status": {"observedGeneration": $2, "conditions": [
  {"type": "Ready", "status": "False", "reason": "$3", "message": "m",
   "observedGeneration": $2, "lastTransitionTime": "2026-11-30T10:00:00Z"},
  {"type": "Stalled", "status": "$4", "reason": "$3", "message": "stalled: m",
   "observedGeneration": $2, "lastTransitionTime": "2026-11-30T10:00:00Z"}]}}
JSON
}
check_eq "Stalled True reads Failed with its message" "Failed: stalled: m" "$(obj 2 2 RolledBack True | "$tool")"
check_eq "Ready False alone reads InProgress" "InProgress: m" "$(obj 2 2 RolloutInProgress False | "$tool")"
check "a generation not yet observed reads InProgress, even when Stalled" \
	bash -c "'$tool' <<<'$(obj 3 2 RolledBack True)' | grep -q '^InProgress: '"
out=$(obj 2 2 "Rolled back" True | "$tool")
check_eq "a reason that is not CamelCase fails the check" 1 "$?"
check "and is named" grep -q 'invalid condition: status.conditions\[0\].reason' <<<"$out"
echo '{' | "$tool" >/dev/null 2>&1
check_eq "input that is not JSON exits 2" 2 "$?"
