#!/usr/bin/env bash
# bench/decision_phases (a decision's phases timed) runs on the real review
# and times every phase, so the benchmark cannot rot between `make bench`
# runs; a review that is not one is refused naming the file. What the
# figures are is the benchmark's business (bench/README.md), not checked.
. "$(dirname "$0")/../lib.sh"
bin=$top/build/bench/decision_phases
cd "$top" || exit 1

out=$("$bin" bench/data/orders-pod-review.json 50 2>&1)
check_eq "it runs 50 rounds of the real review" 0 $?
read -r whole kept < <(sed -n 's/^review .*: \([0-9]*\) bytes, \([0-9]*\) kept;.*/\1 \2/p' <<<"$out")
check "the kept text ($kept bytes) is part of the review ($whole)" test "${kept:-0}" -gt 0 -a "${kept:-0}" -lt "${whole:-0}"
check "a patch comes back" grep -qE 'answer [1-9][0-9]* bytes' <<<"$out"
for phase in parse mutate write release "a decision"; do
	check "$phase is timed" grep -qE "^$phase +[0-9]+\.[0-9]+ us" <<<"$out"
done

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
echo '{"kind": "AdmissionReview"}' >"$dir/not-a-review.json"
out=$("$bin" "$dir/not-a-review.json" 5 2>&1)
check_eq "not a review: exit 1" 1 $?
check "saying why" grep -q "not an AdmissionReview: apiVersion must be" <<<"$out"
out=$("$bin" "$dir/none.json" 5 2>&1)
check_eq "no file: exit 2" 2 $?
check "naming it" grep -q "cannot read review $dir/none.json" <<<"$out"
