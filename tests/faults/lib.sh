# Helpers for the fault scenarios (tests/faults/*.sh); source it after
# nothing else: it sources tests/lib.sh.
#
# The centre is converged_exactly: after a fault, the namespace must hold
# exactly what its breakwater Services ask for. No lost update, no
# duplicate, no orphan, nothing half rolled out.
#
# Knobs (environment): FAULT_SEED (the random generator's seed; printed, so
# a run can be repeated), FAULT_SERVICES (Services per scenario, default 20),
# FAULT_KILLS (kill.sh, default 50), FAULT_CONVERGE_SECONDS (how long a
# scenario waits for convergence after its last fault, default 300),
# FAULT_QUIET_SECONDS (the no-writes window, default 10).
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

FAULT_SEED=${FAULT_SEED:-$((($(date +%s%N) / 1000) % 1000000))}
FAULT_SERVICES=${FAULT_SERVICES:-20}
FAULT_KILLS=${FAULT_KILLS:-50}
FAULT_CONVERGE_SECONDS=${FAULT_CONVERGE_SECONDS:-300}
FAULT_QUIET_SECONDS=${FAULT_QUIET_SECONDS:-10}
for v in FAULT_SEED FAULT_SERVICES FAULT_KILLS FAULT_CONVERGE_SECONDS FAULT_QUIET_SECONDS; do
	[[ ${!v} =~ ^[0-9]+$ ]] || { echo "not ok - $v must be a whole number, not '${!v}'"; exit 1; }
done

mkdir -p "$top/build/test-logs"

# --- a random generator of our own --------------------------------------------
# A 31-bit LCG (glibc's constants), so the sequence depends only on the
# seed, whatever else draws from $RANDOM (free_port does, in subshells).
rng_state=0
rng_seed() { rng_state=$(($1 & 0x7fffffff)); }
# rand N: sets r to a number in [0, N). Not a $(...) function: that would
# lose the generator's state with the subshell.
rand() {
	rng_state=$(((rng_state * 1103515245 + 12345) & 0x7fffffff))
	r=$(((rng_state >> 8) % $1))
}

now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }
# sleep_ms MS
sleep_ms() { [ "$1" -gt 0 ] && sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; return 0; }
# secs MS: milliseconds as seconds with one decimal
secs() { printf '%d.%d' $(($1 / 1000)) $((($1 % 1000) / 100)); }

# figure TEXT: a measured figure; tests/run.sh faults shows these lines.
figure() { echo "# figure: $*"; }

# api METHOD PATH CONTENT-TYPE [BODY]: one request to the API server as the
# cluster admin, with curl: a kubectl process costs far more CPU than the
# write it makes, and the storm and the edits should not be paced by that.
# Prints the HTTP status; succeeds on 2xx.
api_server=$(kubectl config view -o jsonpath='{.clusters[0].cluster.server}' 2>/dev/null)
api() {
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 15 -X "$1" \
		--cacert "$state/pki/ca.crt" --cert "$state/pki/admin.crt" --key "$state/pki/admin.key" \
		-H "Content-Type: $3" --data-binary "${4:-}" "$api_server$2")
	echo "$code"
	[[ $code == 2?? ]]
}

# api_get PATH: the body of a GET (a cheap poll, where kubectl would take
# longer than a rollout on kwok).
api_get() {
	curl -sf --max-time 15 --cacert "$state/pki/ca.crt" --cert "$state/pki/admin.crt" \
		--key "$state/pki/admin.key" "$api_server$1"
}

# --- the Services under test --------------------------------------------------
# Service i is svc-i; every fourth has a route (an Ingress). The test keeps
# what it last asked for in exp_image[i], exp_replicas[i] (and exp_present[i]),
# so a write the cluster lost is seen, not only a Deployment that lags.
declare -a exp_image exp_replicas exp_present
edits_ok=0 edits_refused=0
edit_log=$top/build/test-logs/faults-edits-$$.log

# service_yaml I
service_yaml() {
	local i=$1 route=""
	[ $((i % 4)) -eq 0 ] && route="  route: {pathPrefix: /api/svc-$i/}"
	cat <<EOF
apiVersion: breakwater.io/v1alpha1
kind: Service
metadata: {name: svc-$i, namespace: $ns}
spec:
  image: ${exp_image[i]}
  replicas: ${exp_replicas[i]}
  healthCheck: {path: /health}
  rollout: {maxSurge: 1, maxUnavailable: 0}
$route
---
EOF
}

# create_services N: svc-1..svc-N at tag 1.0.0 with 1 to 3 replicas (from
# the generator), all in one apply.
create_services() {
	local i
	for ((i = 1; i <= $1; i++)); do
		rand 3
		exp_image[i]=registry.local/faults/svc-$i:1.0.0
		exp_replicas[i]=$((1 + r))
		exp_present[i]=1
	done
	for ((i = 1; i <= $1; i++)); do service_yaml "$i"; done |
		kubectl apply -f - >/dev/null
}

# write_expected FILE: what the Services should be, for converged_exactly.
write_expected() {
	local i
	: >"$1"
	for ((i = 1; i <= FAULT_SERVICES; i++)); do
		[ -n "${exp_present[i]:-}" ] || continue
		if [ "${exp_present[i]}" = 1 ]; then
			echo "svc-$i ${exp_image[i]} ${exp_replicas[i]}" >>"$1"
		else
			echo "svc-$i absent" >>"$1"
		fi
	done
}

# edit_service I: one random edit of svc-I (from the generator): a new
# image tag (a rollout), a new replica count 0..4 (a scale change), both,
# or, one time in twenty, delete it and create it again (a new uid, while
# the garbage collector is still removing what the old one owned). Counts
# edits_ok and edits_refused; a refused edit leaves the expectation as it was.
tag_counter=1
edit_service() {
	local i=$1 image=${exp_image[$1]} replicas=${exp_replicas[$1]} kind patch
	rand 100
	kind=$r
	if [ "${exp_present[i]}" != 1 ]; then
		kind=create
	elif [ "$kind" -lt 45 ]; then
		kind=image
	elif [ "$kind" -lt 80 ]; then
		kind=scale
	elif [ "$kind" -lt 95 ]; then
		kind=both
	else
		kind=recreate
	fi
	case $kind in image | both)
		tag_counter=$((tag_counter + 1))
		image=registry.local/faults/svc-$i:1.$tag_counter.0
		;;
	esac
	case $kind in scale | both)
		rand 5
		replicas=$r
		;;
	esac
	case $kind in
	image | scale | both)
		patch="{\"spec\":{\"image\":\"$image\",\"replicas\":$replicas}}"
		if api PATCH "/apis/breakwater.io/v1alpha1/namespaces/$ns/services/svc-$i" \
			application/merge-patch+json "$patch" >>"$edit_log"; then
			exp_image[i]=$image exp_replicas[i]=$replicas
			edits_ok=$((edits_ok + 1))
		else
			edits_refused=$((edits_refused + 1))
		fi
		;;
	recreate)
		if kubectl -n "$ns" delete bsvc "svc-$i" --request-timeout=15s >/dev/null 2>>"$edit_log"; then
			exp_present[i]=0
			edits_ok=$((edits_ok + 1))
			create_one "$i"
		else
			edits_refused=$((edits_refused + 1))
		fi
		;;
	create) create_one "$i" ;;
	esac
}

create_one() {
	local i=$1
	if service_yaml "$i" | kubectl create -f - --request-timeout=15s >/dev/null 2>>"$edit_log"; then
		exp_present[i]=1
		edits_ok=$((edits_ok + 1))
	else
		edits_refused=$((edits_refused + 1))
	fi
}

# edit_random: edit_service on a Service the generator picks.
edit_random() {
	rand "$FAULT_SERVICES"
	edit_service $((r + 1))
}

# rollout_all: a new image tag for every Service, in one apply, so the
# rollouts run side by side and mid_rollout can catch them.
rollout_all() {
	local i
	tag_counter=$((tag_counter + 1))
	for ((i = 1; i <= FAULT_SERVICES; i++)); do
		[ "${exp_present[i]}" = 1 ] || continue
		service_yaml "$i" | sed "s|^  image: .*|  image: registry.local/faults/svc-$i:1.$tag_counter.0|"
	done | kubectl apply -f - --request-timeout=30s >/dev/null 2>>"$edit_log" || {
		edits_refused=$((edits_refused + 1))
		return 1
	}
	for ((i = 1; i <= FAULT_SERVICES; i++)); do
		[ "${exp_present[i]}" = 1 ] && exp_image[i]=registry.local/faults/svc-$i:1.$tag_counter.0
	done
	edits_ok=$((edits_ok + 1))
}

# start_rollout: rollout_all, then waits (up to 20 s) for mid_rollout. A
# rollout can finish before the first look on a small run: then another,
# three times at most.
start_rollout() {
	local attempt
	for attempt in 1 2 3; do
		rollout_all && eventually 20 mid_rollout && return 0
	done
	return 1
}

# check_rollout NAME: start_rollout as a check (not in a subshell, as
# check would run it: the expectations it sets must stay).
check_rollout() {
	if start_rollout; then ok "$1"; else not_ok "$1" "no rollout seen under way in 3 tries"; fi
}

# mid_rollout: the operator has put the new image into some Deployment and
# some Deployment is not rolled out yet: the moment to strike.
mid_rollout() {
	local i want
	want=$(for ((i = 1; i <= FAULT_SERVICES; i++)); do
		[ "${exp_present[i]}" = 1 ] && echo "svc-$i ${exp_image[i]}"
	done | jq -R 'split(" ") | {(.[0]): .[1]}' | jq -s 'add // {}')
	api_get "/apis/apps/v1/namespaces/$ns/deployments" | jq -e --argjson want "$want" '
		[.items[] | $want[.metadata.name] as $w | select($w != null)
		 | (.spec.template.spec.containers[0].image == $w) as $new
		 | {new: $new, done: ($new and .status.observedGeneration == .metadata.generation
			and (.status.updatedReplicas // 0) == .spec.replicas and (.status.availableReplicas // 0) == .spec.replicas)}]
		| any(.new) and any(.done | not)' >/dev/null
}

# --- converged exactly --------------------------------------------------------

# The whole namespace in one read, and every way it can differ from what the
# Services ask for, one line each, prefixed with its kind of problem. With an
# expectation file (write_expected), the Services' specs are compared with
# what the test last wrote too.
read -r -d '' converge_jq <<'EOF'
def items(k; v): [.items[] | select(.kind == k and (.apiVersion | startswith(v)))];
def ctl: (.metadata.ownerReferences // []) | map(select(.controller == true)) | .[0];
def owned($b): ctl as $c | $c != null and $c.uid == $b.metadata.uid;
def among($list): . as $x | $list | map(. == $x) | any;
def lbl(k): (.metadata.labels // {})[k];
items("Service"; "breakwater.io/") as $bs
| items("Service"; "v1") as $cs
| items("Deployment"; "apps/") as $ds
| items("ReplicaSet"; "apps/") as $rss
| items("Ingress"; "networking.k8s.io/") as $ings
| (items("Pod"; "v1") | map(select(.metadata.deletionTimestamp == null))) as $pods
| (items("ConfigMap"; "v1") | map(select(.metadata.name == "breakwater-registry"))) as $cms
| ($bs | map(.metadata.uid)) as $uids
| ($bs | map(.metadata.name)) as $names
| [
  # what the test last wrote
  ($expected[] | . as $e
   | ($bs | map(select(.metadata.name == $e.name)) | .[0]) as $b
   | if $e.absent then
       (if $b != null then "lost-update: bsvc \($e.name) exists; the test's last accepted write deleted it" else empty end)
     elif $b == null then "lost-update: bsvc \($e.name) is gone; the test's last accepted write created or edited it"
     else
       (if $b.spec.image != $e.image then "lost-update: bsvc \($e.name) spec.image is \($b.spec.image), the last accepted write set \($e.image)" else empty end),
       (if $b.spec.replicas != $e.replicas then "lost-update: bsvc \($e.name) spec.replicas is \($b.spec.replicas), the last accepted write set \($e.replicas)" else empty end)
     end),
  # per Service: what it owns, and its status
  ($bs[] | . as $b | .metadata.name as $n | (.spec.replicas // 1) as $want | .spec.image as $img
   | ($ds | map(select(.metadata.name == $n))) as $d
   | ($ds | map(select(lbl("breakwater.io/service") == $n))) as $dl
   | (if ($d | length) == 0 then "missing: no Deployment \($n)"
      else $d[0] as $d0
      | (if ($d0 | owned($b)) then empty else "missing: Deployment \($n) is not controlled by bsvc \($n) (uid \($b.metadata.uid)): controller \($d0 | ctl | tostring)" end),
        (if $d0.spec.template.spec.containers[0].image != $img then "lost-update: Deployment \($n) runs \($d0.spec.template.spec.containers[0].image), bsvc \($n) asks for \($img)" else empty end),
        (if $d0.spec.replicas != $want then "lost-update: Deployment \($n) has replicas \($d0.spec.replicas), bsvc \($n) asks for \($want)" else empty end),
        (if ($d0.status.observedGeneration // 0) != $d0.metadata.generation
            or ($d0.status.replicas // 0) != $want or ($d0.status.updatedReplicas // 0) != $want
            or ($d0.status.availableReplicas // 0) != $want
         then "settle: Deployment \($n) not rolled out: generation \($d0.metadata.generation) observed \($d0.status.observedGeneration // 0), replicas \($d0.status.replicas // 0) updated \($d0.status.updatedReplicas // 0) available \($d0.status.availableReplicas // 0), want \($want)" else empty end),
        ($rss | map(select((ctl | .uid) == $d0.metadata.uid) | .spec.replicas // 0) | add // 0) as $rsum
        | (if $rsum != $want then "settle: the ReplicaSets of Deployment \($n) ask for \($rsum) pods, want \($want)" else empty end)
      end),
     (if ($dl | length) > 1 then "duplicate: \($dl | length) Deployments labelled breakwater.io/service=\($n): \($dl | map(.metadata.name) | join(", "))" else empty end),
     (($cs | map(select(.metadata.name == $n))) as $c
      | if ($c | length) == 0 then "missing: no ClusterIP Service \($n)"
        else (if ($c[0] | owned($b)) then empty else "missing: Service \($n) is not controlled by bsvc \($n)" end),
             (if ($c[0].spec.selector // {})["breakwater.io/service"] != $n or ($c[0].spec.type // "ClusterIP") != "ClusterIP"
              then "missing: Service \($n) is not a ClusterIP Service selecting breakwater.io/service=\($n)" else empty end)
        end),
     (($ings | map(select(.metadata.name == $n))) as $i
      | if $b.spec.route then
          (if ($i | length) == 0 then "missing: no Ingress \($n) for the route"
           elif ($i[0] | owned($b)) | not then "missing: Ingress \($n) is not controlled by bsvc \($n)" else empty end)
        elif ($i | length) > 0 and ($i[0] | owned($b)) then "orphan: Ingress \($n) without a route" else empty end),
     (($b.status.conditions // []) | map(select(.type == "Ready")) | .[0]) as $ready
     | (if $ready == null or $ready.status != "True" then "status: bsvc \($n) not Ready: \($ready // {} | {status, reason, message} | tostring)" else empty end),
       (if $ready != null and $ready.observedGeneration != $b.metadata.generation then "status: bsvc \($n) Ready is for generation \($ready.observedGeneration), the object is at \($b.metadata.generation)" else empty end),
       (if ($b.status.observedGeneration // 0) != $b.metadata.generation then "status: bsvc \($n) status.observedGeneration \($b.status.observedGeneration // 0), generation \($b.metadata.generation)" else empty end),
       (if $b.status.image != $img then "status: bsvc \($n) status.image \($b.status.image // "unset"), spec.image \($img)" else empty end),
       (if ($b.status.readyReplicas // 0) != $want then "status: bsvc \($n) status.readyReplicas \($b.status.readyReplicas // 0), want \($want)" else empty end),
     (($pods | map(select(lbl("breakwater.io/service") == $n))) as $p
      | (if ($p | length) != $want then "settle: \($p | length) pods of \($n), want \($want)" else empty end),
        ($p[] | select(.spec.containers[0].image != $img) | "settle: pod \(.metadata.name) runs \(.spec.containers[0].image), want \($img)"),
        ($p[] | select(((.status.conditions // []) | map(select(.type == "Ready" and .status == "True")) | length) == 0)
         | "settle: pod \(.metadata.name) not Ready"))
  ),
  # orphans: what breakwater manages, without a live owner
  (($ds + $cs + $ings)[]
   | select(lbl("app.kubernetes.io/managed-by") == "breakwater"
            or ((.metadata.ownerReferences // []) | map(.apiVersion | startswith("breakwater.io/")) | any))
   | select((.metadata.ownerReferences // []) | map(.uid | among($uids)) | any | not)
   | "orphan: \(.kind) \(.metadata.name) has no live breakwater Service as owner (owners: \(.metadata.ownerReferences // [] | map(.uid) | join(", ")))"),
  ($pods[] | lbl("breakwater.io/service") as $l | select($l != null and ($l | among($names) | not))
   | "orphan: pod \(.metadata.name) of \($l), which no Service asks for"),
  ($rss[] | lbl("breakwater.io/service") as $l | select($l != null and ($l | among($names) | not))
   | "orphan: ReplicaSet \(.metadata.name) of \($l), which no Service asks for"),
  # the registry
  (if ($bs | length) == 0 then
     (if ($cms | length) > 0 then "registry: a registry ConfigMap without any Service" else empty end)
   elif ($cms | length) != 1 then "registry: \($cms | length) registry ConfigMaps"
   else ($cms[0].data["registry.json"] // "{}" | fromjson | .services // {}) as $reg
   | (if ($reg | keys) != ($names | sort) then "registry: lists \($reg | keys | join(" ")), the Services are \($names | sort | join(" "))" else empty end),
     ($bs[] | .metadata.name as $n | $reg[$n] as $e | select($e != null)
      | (if $e.image != .spec.image then "registry: \($n) image \($e.image), spec \(.spec.image)" else empty end),
        (if $e.readyReplicas != (.spec.replicas // 1) then "registry: \($n) readyReplicas \($e.readyReplicas), want \(.spec.replicas // 1)" else empty end))
   end)
] | .[]
EOF

# converge_problems NS [EXPECTED_FILE]: prints every difference, one a line;
# fails when there is one (or the read fails).
converge_problems() {
	local ns_=$1 expected='[]' out
	if [ -n "${2:-}" ]; then
		expected=$(jq -R 'split(" ") | if .[1] == "absent" then {name: .[0], absent: true}
			else {name: .[0], image: .[1], replicas: (.[2] | tonumber)} end' "$2" | jq -s .)
	fi
	out=$(kubectl -n "$ns_" get services.breakwater.io,deployments.apps,replicasets.apps,services,ingresses.networking.k8s.io,configmaps,pods \
		-o json --request-timeout=20s | jq -r --argjson expected "$expected" "$converge_jq") || {
		echo "read: could not read namespace $ns_"
		return 1
	}
	[ -z "$out" ] || { echo "$out"; return 1; }
}

# converged_exactly NS [EXPECTED_FILE]: one check per kind of problem.
converged_exactly() {
	local problems kind what
	problems=$(converge_problems "$@")
	for kind in read lost-update missing duplicate orphan status settle registry; do
		case $kind in
		read) what="the namespace can be read" ;;
		lost-update) what="no lost update: Services hold the last accepted writes, Deployments their image and replicas" ;;
		missing) what="a Deployment, a ClusterIP Service and (with a route) an Ingress per Service, each controlled by it" ;;
		duplicate) what="no duplicate Deployment" ;;
		orphan) what="no orphan: no Deployment, Service, Ingress, ReplicaSet or pod without a live Service" ;;
		status) what="every Service Ready=True at its generation, status.image = spec.image" ;;
		settle) what="settled: rollouts complete, exactly spec.replicas pods, all of spec.image and Ready" ;;
		registry) what="the registry ConfigMap lists exactly the Services, with their image and ready replicas" ;;
		esac
		if grep -q "^$kind: " <<<"$problems"; then
			not_ok "converged exactly: $what" "$(grep "^$kind: " <<<"$problems" | head -n 15)"
		else
			ok "converged exactly: $what"
		fi
	done
}

# wait_converged NS SECONDS [EXPECTED_FILE]: waits until converge_problems
# finds nothing (polling every second), sets converge_ms to how long that
# took, then runs converged_exactly once.
converge_ms=
wait_converged() {
	local ns_=$1 deadline=$(($(now_ms) + $2 * 1000)) t0
	t0=$(now_ms)
	converge_ms=
	while :; do
		if converge_problems "$ns_" "${3:-}" >/dev/null 2>&1; then
			converge_ms=$(($(now_ms) - t0))
			break
		fi
		[ "$(now_ms)" -lt "$deadline" ] || break
		sleep 1
	done
	if [ -z "$converge_ms" ]; then # for the log: what the pods say
		kubectl -n "$ns_" get pods -o wide 2>&1 | sed 's/^/# /' | head -n 40
		kubectl -n "$ns_" get pods -o json 2>/dev/null | jq -r '.items[]
			| select(((.status.conditions // []) | map(select(.type == "Ready" and .status == "True")) | length) == 0)
			| "# not ready: \(.metadata.name) phase \(.status.phase) node \(.spec.nodeName) conditions \(.status.conditions | tostring)"'
	fi
	converged_exactly "$ns_" "${3:-}"
}

# no_writes_while_converged NS SECONDS: once converged, nothing the operator
# writes may change for SECONDS: a controller fighting itself (or the
# Deployment controller) would. Checks the resourceVersions of the Services,
# Deployments, Services, Ingresses and the registry ConfigMap.
versions() {
	kubectl -n "$1" get services.breakwater.io,deployments.apps,services,ingresses.networking.k8s.io,configmaps \
		-o jsonpath='{range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion}{"\n"}{end}' | sort
}
no_writes_while_converged() {
	local before after
	before=$(versions "$1")
	sleep "$2"
	after=$(versions "$1")
	if [ -n "$before" ] && [ "$before" = "$after" ]; then
		ok "no write in ${2}s once converged (no hot loop)"
	else
		not_ok "no write in ${2}s once converged (no hot loop)" \
			"$(diff <(echo "$before") <(echo "$after") | head -n 20)"
	fi
}

# --- processes ----------------------------------------------------------------

# cpu_ticks PID: user + system time of a process, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
clk_tck=$(getconf CLK_TCK)

# http_code URL: the status of a GET (000 when nothing answers in 2 s).
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1"; }

# apiserver_pid: the kube-apiserver process itself, not its supervisor.
apiserver_pid() {
	local sup
	sup=$(cat "$state/run/kube-apiserver.pid" 2>/dev/null) || return 1
	pgrep -P "$sup" -x kube-apiserver
}
