#!/usr/bin/env bash
# Two operator replicas with leader election (a Lease in the test namespace,
# 15 s lease, 10 s renew deadline, the defaults), each in the middle of a
# rollout of FAULT_SERVICES Services (default 20), the leader is
#   1. killed (SIGKILL): the other takes over once the lease expires;
#   2. stopped gracefully (SIGTERM): it releases the lease, the other takes
#      over at once;
#   3. partitioned: SIGSTOP for FAULT_PARTITION_SECONDS (default 25, more
#      than the lease), so the other takes over, then SIGCONT. The resumed
#      old leader must notice it lost the lease and write nothing. To see
#      its writes, each replica talks to the API server as a user of its own
#      (a client certificate made here), and while it is stopped a
#      ValidatingAdmissionPolicy denies every write of that user to what
#      the operator writes (not to the Lease): a write it attempts after the
#      takeover is refused and shows in its log.
# After each, the replica that went away is started again (a follower) and
# the namespace must converge exactly, with exactly one leader: one replica
# reporting leader_election_master_status 1, and the Lease naming it.
# The webhook is off (--webhook-port 0): out of a cluster its registration
# is a URL, which two replicas would fight over; this is about the leases.
#
# Runtime: about 3-4 minutes at the defaults.
#
#   FAULT_SEED=N FAULT_SERVICES=5 bash tests/faults/leader.sh
. "$(dirname "$0")/lib.sh"

FAULT_PARTITION_SECONDS=${FAULT_PARTITION_SECONDS:-25}
echo "# FAULT_SEED=$FAULT_SEED FAULT_SERVICES=$FAULT_SERVICES FAULT_PARTITION_SECONDS=$FAULT_PARTITION_SECONDS"
rng_seed "$FAULT_SEED"
install_crds || { not_ok "the CRDs are installed"; exit 1; }
use_namespace leader
expected=$top/build/test-logs/faults-leader-$$.expected
policy=faults-deny-old-leader-$$
declare -A pid health metrics log kc user
stopped=
finish() {
	local x
	[ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null
	for x in a b; do
		[ -n "${pid[$x]:-}" ] && kill -TERM "${pid[$x]}" 2>/dev/null && wait "${pid[$x]}" 2>/dev/null
	done
	kubectl delete validatingadmissionpolicybinding,validatingadmissionpolicy "$policy" \
		--ignore-not-found >/dev/null 2>&1
	rm -f "$top"/build/test-logs/faults-leader-$$-*.{key,crt,srl,kubeconfig}
	kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1
}
trap finish EXIT

# user_kubeconfig X: a kubeconfig for user faults-replica-X-PID (group
# system:masters), with a client certificate signed by the cluster's CA.
user_kubeconfig() {
	local x=$1 base=$top/build/test-logs/faults-leader-$$-$1 server
	user[$x]=faults-replica-$x-$$
	kc[$x]=$base.kubeconfig
	server=$(kubectl config view -o jsonpath='{.clusters[0].cluster.server}')
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-subj "/O=system:masters/CN=${user[$x]}" -keyout "$base.key" -out "$base.csr" 2>/dev/null &&
		openssl x509 -req -in "$base.csr" -CA "$state/pki/ca.crt" -CAkey "$state/pki/ca.key" \
			-CAcreateserial -CAserial "$base.srl" -days 1 -out "$base.crt" \
			-extfile <(printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n') \
			2>/dev/null || return 1
	cat >"${kc[$x]}" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "$server", certificate-authority-data: $(base64 -w0 "$state/pki/ca.crt")}
users:
- name: ${user[$x]}
  user: {client-certificate-data: $(base64 -w0 "$base.crt"), client-key-data: $(base64 -w0 "$base.key")}
contexts:
- name: local
  context: {cluster: local, user: ${user[$x]}, namespace: $ns}
current-context: local
EOF
	chmod 600 "${kc[$x]}"
	rm -f "$base.csr" "$base.key"
}

# start_replica X: launches replica X and waits for its /readyz.
start_replica() {
	local x=$1
	launch_operator "leader-$x" --namespace "$ns" --kubeconfig "${kc[$x]}" --webhook-port 0 \
		--leader-elect --leader-election-namespace "$ns" --leader-election-id faults
	pid[$x]=$op_pid health[$x]=$op_health metrics[$x]=$op_metrics log[$x]=$op_log
	op_pid= # the replicas are this test's to stop, not stop_operator's
	eventually 60 curl -sf "http://127.0.0.1:${health[$x]}/readyz"
}

# leads X: replica X reports itself the leader.
leads() {
	curl -sf --max-time 2 "http://127.0.0.1:${metrics[$1]}/metrics" |
		grep -q '^leader_election_master_status 1'
}
other() { [ "$1" = a ] && echo b || echo a; }
# leader: the replica that leads, or nothing.
leader() {
	local x
	for x in a b; do [ -n "${pid[$x]:-}" ] && leads "$x" && echo "$x"; done
}
holder() { kubectl -n "$ns" get lease faults -o jsonpath='{.spec.holderIdentity}'; }

# exactly_one_leader WHEN: one replica leads, and the Lease names it.
exactly_one_leader() {
	local l h
	l=$(leader | xargs)
	h=$(holder)
	if [ -n "$l" ] && [ "$l" = "${l%% *}" ] && [[ $h == *"_${pid[$l]}_"* ]]; then
		ok "exactly one leader $1"
	else
		not_ok "exactly one leader $1" "replicas that report leading: ${l:-none}" \
			"lease holder: ${h:-none}; pids: a=${pid[a]:-} b=${pid[b]:-}"
	fi
}

# strike WHAT: a rollout, wait until it is under way, name the leader L.
strike() {
	check_rollout "a rollout is under way ($1)"
	L=$(leader | xargs)
	check "one replica leads ($1)" test -n "$L" -a "$L" = "${L%% *}"
	O=$(other "$L")
}

user_kubeconfig a && user_kubeconfig b || { not_ok "a client certificate per replica"; exit 1; }
start_replica a || { not_ok "replica a becomes ready" "$(tail -n 20 "${log[a]}")"; exit 1; }
check "replica a leads" eventually 30 leads a
start_replica b || { not_ok "replica b becomes ready" "$(tail -n 20 "${log[b]}")"; exit 1; }
create_services "$FAULT_SERVICES"
write_expected "$expected"
wait_converged "$ns" "$FAULT_CONVERGE_SECONDS" "$expected"
[ -n "$converge_ms" ] || { not_ok "the Services converge before any fault"; exit 1; }
exactly_one_leader "at the start"

# takeover_by X: waits until X leads; sets takeover_ms from t0.
takeover_by() {
	if eventually 60 leads "$1"; then
		takeover_ms=$(($(now_ms) - t0))
	else
		takeover_ms=
		return 1
	fi
}
# after WHAT: edits, convergence, one leader, the absent replica back.
after() {
	local e
	for ((e = 0; e < 3; e++)); do edit_random; done
	write_expected "$expected"
	wait_converged "$ns" "$FAULT_CONVERGE_SECONDS" "$expected"
	figure "leader.sh: leader $1: the other took over in" \
		"$([ -n "$takeover_ms" ] && echo "$(secs "$takeover_ms") s" || echo NOT)," \
		"then converged exactly $([ -n "$converge_ms" ] && echo "in $(secs "$converge_ms") s" || echo NOT)"
	exactly_one_leader "after the leader was $1"
}

# 1. killed
strike killed
t0=$(now_ms)
kill -KILL "${pid[$L]}"
wait "${pid[$L]}" 2>/dev/null
pid[$L]=
takeover_by "$O" && ok "the other takes over once the lease expires" ||
	not_ok "the other takes over once the lease expires" "$(tail -n 20 "${log[$O]}")"
after killed
start_replica "$L" && ok "the killed replica starts again" ||
	not_ok "the killed replica starts again" "$(tail -n 20 "${log[$L]}")"
check "and follows" bash -c "sleep 3; ! curl -sf http://127.0.0.1:${metrics[$L]}/metrics | grep -q '^leader_election_master_status 1'"

# 2. stopped gracefully
strike "stopped (SIGTERM)"
t0=$(now_ms)
kill -TERM "${pid[$L]}"
wait "${pid[$L]}"
check_eq "the leader exits 0 on SIGTERM" 0 "$?"
pid[$L]=
takeover_by "$O"
# sooner than the 15 s lease could expire: only a released lease allows that
check "the other takes over before the lease could expire (it was released)" \
	test -n "$takeover_ms" -a "${takeover_ms:-99999}" -lt 15000
after "stopped (SIGTERM)"
start_replica "$L" && ok "the stopped replica starts again" ||
	not_ok "the stopped replica starts again" "$(tail -n 20 "${log[$L]}")"

# 3. partitioned
strike partitioned
t0=$(now_ms)
kill -STOP "${pid[$L]}" && stopped=${pid[$L]}
takeover_by "$O" && ok "the other takes over while the leader is stopped" ||
	not_ok "the other takes over while the leader is stopped" "$(tail -n 20 "${log[$O]}")"
kubectl apply -f - >/dev/null <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: $policy}
spec:
  failurePolicy: Fail
  matchConstraints:
    namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: $ns}}
    resourceRules:
    - {apiGroups: [apps], apiVersions: ["*"], operations: [CREATE, UPDATE, DELETE], resources: [deployments]}
    - {apiGroups: [""], apiVersions: ["*"], operations: [CREATE, UPDATE, DELETE], resources: [services, configmaps, pods]}
    - {apiGroups: [networking.k8s.io], apiVersions: ["*"], operations: [CREATE, UPDATE, DELETE], resources: [ingresses]}
    - {apiGroups: [breakwater.io], apiVersions: ["*"], operations: [CREATE, UPDATE, DELETE], resources: [services, services/status, breakers, breakers/status]}
  validations:
  - expression: "request.userInfo.username != '${user[$L]}'"
    message: "faults: a write by ${user[$L]}, the replica that lost the lease"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: $policy}
spec: {policyName: $policy, validationActions: [Deny]}
EOF
check "the policy refuses the old leader's writes" eventually 30 bash -c \
	"! '$state/bin/kubectl' --kubeconfig '${kc[$L]}' -n $ns annotate bsvc svc-1 faults/probe=1 --overwrite --dry-run=server"
for ((e = 0; e < 3; e++)); do edit_random; done
sleep_ms $((t0 + FAULT_PARTITION_SECONDS * 1000 - $(now_ms)))
lines_before=$(wc -l <"${log[$L]}")
kill -CONT "${pid[$L]}"
stopped=
# It should exit ("lost the lease: exiting"); give it the renew deadline.
exited=
for ((i = 0; i < 40; i++)); do
	kill -0 "${pid[$L]}" 2>/dev/null || { exited=1; break; }
	sleep 0.5
done
if [ -n "$exited" ]; then
	wait "${pid[$L]}"
	rc=$?
	check_eq "the resumed old leader exits with status 1 (lost the lease)" 1 "$rc"
	pid[$L]=
else
	not_ok "the resumed old leader exits within 20 s" "$(tail -n +$((lines_before + 1)) "${log[$L]}" | tail -n 20)"
fi
denied=$(tail -n +$((lines_before + 1)) "${log[$L]}" | grep -c 'faults: a write by')
figure "leader.sh: the resumed old leader attempted $denied writes after the takeover (refused by the policy)"
if [ "$denied" -eq 0 ]; then
	ok "the resumed old leader attempts no write after the takeover"
else
	not_ok "the resumed old leader attempts no write after the takeover" \
		"$(tail -n +$((lines_before + 1)) "${log[$L]}" | grep -m 10 'faults: a write by')"
fi
kubectl delete validatingadmissionpolicybinding,validatingadmissionpolicy "$policy" >/dev/null
[ -z "${pid[$L]}" ] || { kill -TERM "${pid[$L]}"; wait "${pid[$L]}"; pid[$L]=; }
start_replica "$L" && ok "the partitioned replica starts again" ||
	not_ok "the partitioned replica starts again" "$(tail -n 20 "${log[$L]}")"
after partitioned

for x in a b; do
	kill -TERM "${pid[$x]}"
	wait "${pid[$x]}"
	check_eq "replica $x stops cleanly on SIGTERM" 0 "$?"
	pid[$x]=
	op_log=${log[$x]}
	check_operator_log
done
