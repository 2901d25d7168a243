#!/usr/bin/env bash
# The local control plane: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler and kwok as separate processes on free 127.0.0.1 ports,
# with all state in one folder (default: .cluster at the top of the checkout).
#
#   tests/cluster/cluster.sh up        build if needed, start, wait until usable
#   tests/cluster/cluster.sh down      stop exactly the processes `up` started
#   tests/cluster/cluster.sh status    print what runs; exit 1 unless all of it does
#   tests/cluster/cluster.sh restart COMPONENT   stop and start one component
#   tests/cluster/cluster.sh stop|start COMPONENT  the same in two steps
#   tests/cluster/cluster.sh compact   compact etcd at its current revision
#   tests/cluster/cluster.sh nodes     create the fake nodes up to BREAKWATER_NODES on a running cluster
#   tests/cluster/cluster.sh metrics   build if needed and start metrics-server (metrics.k8s.io
#                                      through the aggregation layer, from kwok's emulated usage)
#   tests/cluster/cluster.sh clean     down, then remove the state (not the binary cache)
#
# Environment: BREAKWATER_CLUSTER_DIR (state folder), BREAKWATER_CACHE (binary
# cache), BREAKWATER_NODES (fake nodes, default 2), BREAKWATER_NODE_PODS (pods
# a fake node holds, default 250; for nodes when they are created).
# For scale benchmarks (bench/scale.sh), read when a component starts or
# restarts, unset by default (the components' own defaults):
# BREAKWATER_KCM_QPS / BREAKWATER_KCM_BURST (kube-controller-manager's
# --kube-api-qps/--kube-api-burst, default 20/30) and BREAKWATER_SCHED_QPS /
# BREAKWATER_SCHED_BURST (kube-scheduler's, default 50/100).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
state=${BREAKWATER_CLUSTER_DIR:-$top/.cluster}
nodes=${BREAKWATER_NODES:-2}
node_pods=${BREAKWATER_NODE_PODS:-250}
components=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
# started on demand (cluster.sh metrics), stopped with the rest
extras=(metrics-server)
service_cidr=10.96.0.0/16

say() { printf 'cluster: %s\n' "$*"; }
die() { printf 'cluster: error: %s\n' "$*" >&2; exit 1; }

# --- processes ------------------------------------------------------------

pid_of() { cat "$state/run/$1.pid" 2>/dev/null || true; }

# A pid file is trusted only while its process still names our state folder,
# so a recycled pid is never signalled.
is_ours() {
	local pid=$1
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] &&
		tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$state/"
}

running() { is_ours "$(pid_of "$1")"; }

# Each component runs under a small supervisor that restarts it a second after
# it exits, as a kubelet or systemd would: kube-controller-manager, for one,
# exits when the API server goes away while it starts. The supervisor forwards
# SIGTERM to the component and waits for it.
supervise='
name=$1; shift
trap "kill -TERM \$child 2>/dev/null; wait \$child; exit 0" TERM INT
while :; do
	"$@" & child=$!
	wait $child
	echo "cluster.sh: $name exited with status $?; restarting it in 1s"
	sleep 1
done'

start() {
	local name=$1
	shift
	# fd 9 is the state lock: the daemons must not hold it.
	setsid bash -c "$supervise" "supervise-$name" "$name" "$state/bin/$name" "$@" \
		>>"$state/logs/$name.log" 2>&1 </dev/null 9>&- &
	echo $! >"$state/run/$name.pid"
}

# A process that has exited but is not yet reaped has an empty cmdline.
group_alive() { ps -o stat= -g "$1" 2>/dev/null | grep -qv '^Z'; }

# etcd gets 10 s to close its database cleanly. The others hold no state;
# kube-apiserver, for one, can linger for a minute after SIGTERM waiting for
# HTTP/2 clients to go, so they get 3 s before SIGKILL.
stop() {
	local name=$1 pid i grace=30
	[ "$name" = etcd ] && grace=100
	pid=$(pid_of "$name")
	if is_ours "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < grace; i++)); do
			group_alive "$pid" || break
			sleep 0.1
		done
		if group_alive "$pid"; then
			say "$name (pid $pid) still running $((grace / 10))s after SIGTERM; killing it"
			kill -KILL -- "-$pid" 2>/dev/null || true
			sleep 0.2
		fi
	fi
	rm -f "$state/run/$name.pid"
}

# --- ports ----------------------------------------------------------------

port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }

# Ports are taken from 20000-31999, below the kernel's ephemeral range, where
# outgoing connections take theirs. They are remembered in run/ports.env so a restarted cluster keeps its
# addresses (and etcd its peer URL) while they stay free.
choose_ports() {
	local var port
	[ -f "$state/run/ports.env" ] && . "$state/run/ports.env"
	: >"$state/run/ports.env.tmp"
	for var in ETCD_PORT ETCD_PEER_PORT API_PORT KCM_PORT SCHED_PORT KWOK_PORT METRICS_PORT; do
		port=${!var:-}
		if [ -z "$port" ] || ! port_free "$port"; then
			while :; do
				port=$((20000 + RANDOM % 12000))
				port_free "$port" && ! grep -q "=$port\$" "$state/run/ports.env.tmp" && break
			done
		fi
		printf -v "$var" '%s' "$port"
		echo "$var=$port" >>"$state/run/ports.env.tmp"
	done
	mv "$state/run/ports.env.tmp" "$state/run/ports.env"
}

# --- certificates -----------------------------------------------------------

# client_cert NAME CN [O]: a client certificate signed by the cluster CA.
client_cert() {
	local name=$1 cn=$2 org=${3:-} subj
	subj="/CN=$cn"
	[ -n "$org" ] && subj="/O=$org$subj"
	[ -f "$state/pki/$name.crt" ] && return 0
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$subj" \
		-keyout "$state/pki/$name.key" -out "$state/pki/$name.csr" 2>/dev/null
	openssl x509 -req -in "$state/pki/$name.csr" -CA "$state/pki/ca.crt" -CAkey "$state/pki/ca.key" \
		-CAcreateserial -days 3650 -out "$state/pki/$name.crt" \
		-extfile <(printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n') 2>/dev/null
	rm -f "$state/pki/$name.csr"
}

# server_cert NAME CN SANS [CA]: a serving certificate signed by CA (default
# the cluster CA).
server_cert() {
	local name=$1 cn=$2 sans=$3 ca=${4:-ca}
	[ -f "$state/pki/$name.crt" ] && return 0
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
		-keyout "$state/pki/$name.key" -out "$state/pki/$name.csr" 2>/dev/null
	openssl x509 -req -in "$state/pki/$name.csr" -CA "$state/pki/$ca.crt" -CAkey "$state/pki/$ca.key" \
		-CAcreateserial -days 3650 -out "$state/pki/$name.crt" -extfile <(
			printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$sans"
			printf 'keyUsage=critical,digitalSignature,keyEncipherment\n'
		) 2>/dev/null
	rm -f "$state/pki/$name.csr"
}

# The aggregation layer (metrics.k8s.io from metrics-server): the API server
# proxies to an extension API server with the client certificate
# front-proxy-client, signed by a CA of its own, and the user in headers that
# the extension trusts only from that certificate.
make_front_proxy_pki() {
	local pki=$state/pki
	if [ ! -f "$pki/front-proxy-ca.crt" ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
			-subj "/CN=breakwater-local-front-proxy-ca" -keyout "$pki/front-proxy-ca.key" \
			-out "$pki/front-proxy-ca.crt" -addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
	fi
	if [ ! -f "$pki/front-proxy-client.crt" ]; then
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=front-proxy-client" \
			-keyout "$pki/front-proxy-client.key" -out "$pki/front-proxy-client.csr" 2>/dev/null
		openssl x509 -req -in "$pki/front-proxy-client.csr" -CA "$pki/front-proxy-ca.crt" \
			-CAkey "$pki/front-proxy-ca.key" -CAcreateserial -days 3650 -out "$pki/front-proxy-client.crt" \
			-extfile <(printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n') 2>/dev/null
		rm -f "$pki/front-proxy-client.csr"
	fi
}

make_pki() {
	local pki=$state/pki
	mkdir -p "$pki"
	chmod 700 "$pki"
	if [ ! -f "$pki/ca.crt" ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
			-subj "/CN=breakwater-local-ca" -keyout "$pki/ca.key" -out "$pki/ca.crt" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
	fi
	if [ ! -f "$pki/apiserver.crt" ]; then
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=kube-apiserver" \
			-keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" 2>/dev/null
		openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
			-CAcreateserial -days 3650 -out "$pki/apiserver.crt" -extfile <(
				printf 'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,'
				printf 'DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n'
				printf 'extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n'
			) 2>/dev/null
		rm -f "$pki/apiserver.csr"
	fi
	if [ ! -f "$pki/sa.key" ]; then
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/sa.key" 2>/dev/null
		openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
	fi
	client_cert admin admin system:masters
	client_cert controller-manager system:kube-controller-manager
	client_cert scheduler system:kube-scheduler
	client_cert kwok kwok system:masters
	client_cert metrics-server system:metrics-server system:masters
	make_front_proxy_pki
	# kwok serves the fake kubelets' /metrics over HTTPS (metrics-server scrapes them)
	server_cert kwok-serving kwok IP:127.0.0.1
	server_cert metrics-server-serving metrics-server \
		IP:127.0.0.1,DNS:localhost,DNS:metrics-server.kube-system.svc
}

b64() { base64 -w0 <"$1"; }

# kubeconfig NAME USER_CERT: a kubeconfig with everything embedded.
kubeconfig() {
	local file=$1 cert=$2
	cat >"$file.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: breakwater-local
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $(b64 "$state/pki/ca.crt")
users:
- name: $cert
  user:
    client-certificate-data: $(b64 "$state/pki/$cert.crt")
    client-key-data: $(b64 "$state/pki/$cert.key")
contexts:
- name: breakwater-local
  context:
    cluster: breakwater-local
    user: $cert
    namespace: default
current-context: breakwater-local
EOF
	chmod 600 "$file.tmp"
	mv "$file.tmp" "$file"
}

# --- waiting ----------------------------------------------------------------

kubectl() { "$state/bin/kubectl" --kubeconfig "$state/kubeconfig" "$@"; }

# wait_for WHAT SECONDS COMMAND...: retries COMMAND every half second.
wait_for() {
	local what=$1 seconds=$2 deadline
	shift 2
	deadline=$((SECONDS + seconds))
	until "$@" >/dev/null 2>&1; do
		if [ $SECONDS -ge $deadline ]; then
			say "timed out after ${seconds}s waiting for $what"
			return 1
		fi
		sleep 0.5
	done
}

# nodes_ready: every node's Ready condition is True, seen in one LIST.
# `kubectl wait --all` with a 2 s timeout waited node after node under
# kubectl's client-side rate limit: past about 40 nodes it could never
# finish in time, and bench/scale.sh's 81 nodes failed to come up.
nodes_ready() {
	kubectl get nodes -o json | jq -e '.items | length > 0 and
		all(.[]; any(.status.conditions[]?; .type == "Ready" and .status == "True"))' >/dev/null
}

apiserver_ready() {
	curl -sf --max-time 2 --cacert "$state/pki/ca.crt" --cert "$state/pki/admin.crt" \
		--key "$state/pki/admin.key" "https://127.0.0.1:$API_PORT/readyz" | grep -q '^ok'
}

check_alive() {
	local name=$1
	running "$name" && return 0
	say "$name exited; last lines of $state/logs/$name.log:"
	tail -n 25 "$state/logs/$name.log" >&2
	return 1
}

# --- components -------------------------------------------------------------

start_etcd() {
	start etcd --name breakwater --data-dir "$state/etcd" \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster "breakwater=http://127.0.0.1:$ETCD_PEER_PORT" \
		--log-level warn
	wait_for "etcd" 30 curl -sf --max-time 1 "http://127.0.0.1:$ETCD_PORT/health" || { check_alive etcd; return 1; }
}

# OwnerReferencesPermissionEnforcement is on, as on OpenShift: setting
# blockOwnerDeletion needs update on the owner's finalizers subresource. The
# audit log (tests/cluster/audit-policy.yaml, Metadata level) is rotated at
# 20 MB with two old files kept (audit-TIMESTAMP.log), so it stays under 60 MB.
start_kube_apiserver() {
	start kube-apiserver \
		--etcd-servers "http://127.0.0.1:$ETCD_PORT" \
		--bind-address 127.0.0.1 --secure-port "$API_PORT" \
		--tls-cert-file "$state/pki/apiserver.crt" --tls-private-key-file "$state/pki/apiserver.key" \
		--client-ca-file "$state/pki/ca.crt" \
		--requestheader-client-ca-file "$state/pki/front-proxy-ca.crt" \
		--requestheader-allowed-names front-proxy-client \
		--requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
		--requestheader-extra-headers-prefix X-Remote-Extra- \
		--proxy-client-cert-file "$state/pki/front-proxy-client.crt" \
		--proxy-client-key-file "$state/pki/front-proxy-client.key" \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--service-account-key-file "$state/pki/sa.pub" \
		--service-account-signing-key-file "$state/pki/sa.key" \
		--service-cluster-ip-range "$service_cidr" \
		--authorization-mode RBAC \
		--enable-admission-plugins NamespaceLifecycle,ServiceAccount,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,ResourceQuota,LimitRanger,OwnerReferencesPermissionEnforcement \
		--audit-policy-file "$here/audit-policy.yaml" \
		--audit-log-path "$state/logs/audit.log" \
		--audit-log-maxsize 20 --audit-log-maxbackup 2 \
		--allow-privileged=true \
		--watch-cache-sizes podtemplates#0 \
		--profiling=false
	wait_for "kube-apiserver /readyz" 90 apiserver_ready || { check_alive kube-apiserver; return 1; }
}

# api_rate_flags QPS BURST: the client rate flags a component gets, nothing
# for an empty value (so the tests run with the components' defaults).
api_rate_flags() {
	[ -z "$1" ] || printf ' --kube-api-qps %s' "$1"
	[ -z "$2" ] || printf ' --kube-api-burst %s' "$2"
}

start_kube_controller_manager() {
	start kube-controller-manager \
		--kubeconfig "$state/controller-manager.kubeconfig" \
		--authentication-kubeconfig "$state/controller-manager.kubeconfig" \
		--authorization-kubeconfig "$state/controller-manager.kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$KCM_PORT" \
		--service-account-private-key-file "$state/pki/sa.key" \
		--root-ca-file "$state/pki/ca.crt" \
		--cluster-signing-cert-file "$state/pki/ca.crt" --cluster-signing-key-file "$state/pki/ca.key" \
		--use-service-account-credentials=true \
		--service-cluster-ip-range "$service_cidr" \
		--horizontal-pod-autoscaler-sync-period 5s \
		--leader-elect=false --profiling=false $(api_rate_flags "${BREAKWATER_KCM_QPS:-}" "${BREAKWATER_KCM_BURST:-}")
	wait_for "kube-controller-manager /healthz" 60 \
		curl -skf --max-time 1 "https://127.0.0.1:$KCM_PORT/healthz" || { check_alive kube-controller-manager; return 1; }
}

start_kube_scheduler() {
	start kube-scheduler \
		--kubeconfig "$state/scheduler.kubeconfig" \
		--authentication-kubeconfig "$state/scheduler.kubeconfig" \
		--authorization-kubeconfig "$state/scheduler.kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$SCHED_PORT" \
		--leader-elect=false --profiling=false $(api_rate_flags "${BREAKWATER_SCHED_QPS:-}" "${BREAKWATER_SCHED_BURST:-}")
	wait_for "kube-scheduler /healthz" 60 \
		curl -skf --max-time 1 "https://127.0.0.1:$SCHED_PORT/healthz" || { check_alive kube-scheduler; return 1; }
}

# Each fake Node gets a Lease in kube-node-lease, renewed every 10 s, as a
# kubelet's: the node lifecycle controller then reads the node's health from
# it. Without one (kwok's default) its only sign of life was the Ready
# condition's heartbeat from kwok.yaml, 20-45 s after the node last changed;
# a change to the Node (cluster.sh metrics' patch, an annotation) put the
# next one off by as much again, past the 50 s grace period: the node went
# NotReady and every pod on it lost Ready for good (kwok readies a pod once).
# kwok plays a node only while it holds that Lease, and each kwok process
# has an identity of its own: the Leases a stopped kwok held are deleted
# first, or the new one would wait up to 40 s for them to expire, with no
# pod made Ready meanwhile (tests/e2e/cluster_nodes.sh).
start_kwok() {
	local leases
	leases=$(kubectl get nodes -l type=kwok -o jsonpath='{.items[*].metadata.name}' 2>/dev/null)
	[ -z "$leases" ] || kubectl -n kube-node-lease delete lease $leases --ignore-not-found >/dev/null 2>&1
	start kwok --kubeconfig "$state/kwok.kubeconfig" \
		--config "$here/kwok.yaml" --node-lease-duration-seconds 40 \
		--manage-all-nodes=false \
		--manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
		--server-address "127.0.0.1:$KWOK_PORT" --node-port "$KWOK_PORT" \
		--tls-cert-file "$state/pki/kwok-serving.crt" --tls-private-key-file "$state/pki/kwok-serving.key" \
		--cidr 10.244.0.1/16 --node-ip 10.240.0.1
}

# metrics-server: scrapes the fake kubelets (kwok, over HTTPS with a
# certificate of the cluster CA, at the address and port cmd_metrics writes
# into each fake Node) and serves metrics.k8s.io to the API server's
# aggregation layer. Its own client certificate is in system:masters, as
# kwok's is. 10 s resolution: the HPA reacts within a test's patience.
start_metrics_server() {
	start metrics-server \
		--kubeconfig "$state/metrics-server.kubeconfig" \
		--authentication-kubeconfig "$state/metrics-server.kubeconfig" \
		--authorization-kubeconfig "$state/metrics-server.kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$METRICS_PORT" \
		--tls-cert-file "$state/pki/metrics-server-serving.crt" \
		--tls-private-key-file "$state/pki/metrics-server-serving.key" \
		--kubelet-certificate-authority "$state/pki/ca.crt" \
		--kubelet-preferred-address-types ExternalIP --kubelet-use-node-status-port \
		--metric-resolution 10s --kubelet-request-timeout 5s --profiling=false
	wait_for "metrics-server /livez" 60 \
		curl -skf --max-time 1 "https://127.0.0.1:$METRICS_PORT/livez" || { check_alive metrics-server; return 1; }
}

start_component() {
	case $1 in
	metrics-server) start_metrics_server ;;
	etcd) start_etcd ;;
	kube-apiserver) start_kube_apiserver ;;
	kube-controller-manager) start_kube_controller_manager ;;
	kube-scheduler) start_kube_scheduler ;;
	kwok) start_kwok ;;
	*) die "unknown component '$1' (one of: ${components[*]})" ;;
	esac
}

fake_nodes() {
	local i
	for ((i = 0; i < nodes; i++)); do
		cat <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {type: kwok, kubernetes.io/hostname: kwok-node-$i, kubernetes.io/os: linux, kubernetes.io/arch: amd64}
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "$node_pods"}
  capacity: {cpu: "32", memory: 256Gi, pods: "$node_pods"}
---
EOF
	done
}

# --- commands ---------------------------------------------------------------

all_running() {
	local c
	for c in "${components[@]}"; do running "$c" || return 1; done
}

cmd_up() {
	local t0=$SECONDS c
	mkdir -p "$state/run" "$state/logs"
	exec 9>"$state/run/lock"
	if ! flock -n 9; then
		say "another cluster.sh is working on $state; waiting for it"
		flock -w 3600 9 || die "timed out waiting for another cluster.sh on $state"
	fi
	if all_running; then
		say "already running (kubeconfig: $state/kubeconfig)"
		return 0
	fi
	# Whatever survives from a partial start is stopped, so every process is ours.
	for c in "${components[@]}"; do stop "$c"; done
	"$here/build.sh" "$state"
	choose_ports
	. "$state/run/ports.env"
	make_pki
	kubeconfig "$state/kubeconfig" admin
	kubeconfig "$state/controller-manager.kubeconfig" controller-manager
	kubeconfig "$state/scheduler.kubeconfig" scheduler
	kubeconfig "$state/kwok.kubeconfig" kwok
	for c in "${components[@]}"; do
		say "starting $c"
		if ! start_component "$c"; then
			say "start failed; stopping what was started"
			cmd_down_unlocked
			return 1
		fi
	done
	fake_nodes | kubectl apply -f - >/dev/null
	wait_for "fake nodes Ready" 60 nodes_ready || {
		for c in "${components[@]}"; do check_alive "$c" || true; done
		return 1
	}
	wait_for "the default service account" 60 kubectl get serviceaccount default -n default || return 1
	for c in "${components[@]}"; do check_alive "$c" || return 1; done
	say "up in $((SECONDS - t0))s: https://127.0.0.1:$API_PORT, $nodes fake nodes"
	say "kubeconfig: $state/kubeconfig   kubectl: $state/bin/kubectl   logs: $state/logs/"
}

cmd_down_unlocked() {
	local i
	for i in "${extras[@]}"; do
		running "$i" && say "stopping $i"
		stop "$i"
	done
	for ((i = ${#components[@]} - 1; i >= 0; i--)); do
		running "${components[i]}" && say "stopping ${components[i]}"
		stop "${components[i]}"
	done
}

cmd_down() {
	[ -d "$state/run" ] || { say "not running"; return 0; }
	exec 9>"$state/run/lock"
	flock -w 120 9 || die "timed out waiting for another cluster.sh on $state"
	cmd_down_unlocked
	say "stopped"
}

cmd_status() {
	local c rc=0
	for c in "${components[@]}"; do
		if running "$c"; then
			printf '%-24s running (pid %s)\n' "$c" "$(pid_of "$c")"
		else
			printf '%-24s stopped\n' "$c"
			rc=1
		fi
	done
	for c in "${extras[@]}"; do
		running "$c" && printf '%-24s running (pid %s)\n' "$c" "$(pid_of "$c")"
	done
	return $rc
}

# Restarting one component keeps its data and port: tests use it to prove that
# clients survive an API server restart.
cmd_restart() {
	local c=${1:-}
	[ -n "$c" ] || die "restart needs a component (one of: ${components[*]})"
	. "$state/run/ports.env"
	stop "$c"
	start_component "$c"
	say "$c restarted (pid $(pid_of "$c"))"
}

cmd_stop() {
	local c=${1:-}
	[ -n "$c" ] || die "stop needs a component (one of: ${components[*]})"
	stop "$c"
	say "$c stopped"
}

cmd_start() {
	local c=${1:-}
	[ -n "$c" ] || die "start needs a component (one of: ${components[*]})"
	. "$state/run/ports.env"
	running "$c" && { say "$c already running"; return 0; }
	start_component "$c"
	say "$c started (pid $(pid_of "$c"))"
}

# More fake nodes on a running cluster (bench/scale.sh asks for as many as
# its largest size needs); existing nodes are left as they are (a node's
# capacity is its status, which an apply does not change).
cmd_nodes() {
	. "$state/run/ports.env"
	all_running || die "the cluster is not running (cluster.sh up)"
	fake_nodes | kubectl apply -f - >/dev/null
	wait_for "fake nodes Ready" 120 nodes_ready || return 1
	say "$nodes fake nodes"
}

# Compacts etcd's history up to its current revision, through etcd's JSON
# gateway: a watch from an older resourceVersion then gets 410 Gone.
cmd_compact() {
	local rev
	. "$state/run/ports.env"
	rev=$(curl -sf -X POST "http://127.0.0.1:$ETCD_PORT/v3/kv/range" -d '{"key":"AA=="}' |
		jq -r .header.revision) || die "etcd did not answer"
	curl -sf -X POST "http://127.0.0.1:$ETCD_PORT/v3/kv/compaction" \
		-d "{\"revision\":\"$rev\",\"physical\":true}" >/dev/null || die "compaction failed"
	say "etcd compacted at revision $rev"
}

# metrics.k8s.io for the HPA tests: metrics-server built (once, cached like
# the rest) and started, each fake Node pointed at kwok's HTTPS port
# (ExternalIP 127.0.0.1, the kubelet port, the annotation naming kwok's
# per-node metrics path), and the APIService registered with the aggregation
# layer through an ExternalName Service to localhost. Idempotent.
cmd_metrics() {
	local n
	. "$state/run/ports.env"
	all_running || die "the cluster is not running (cluster.sh up)"
	tr '\0' ' ' <"/proc/$(pid_of kube-apiserver)/cmdline" | grep -q -- --proxy-client-cert-file ||
		die "this cluster's API server predates the aggregation layer set-up: cluster.sh down; cluster.sh up"
	[ -n "${METRICS_PORT:-}" ] || die "no METRICS_PORT in $state/run/ports.env: cluster.sh down; cluster.sh up"
	"$here/build.sh" "$state" metrics-server
	make_pki
	kubeconfig "$state/metrics-server.kubeconfig" metrics-server
	for n in $(kubectl get nodes -l type=kwok -o name); do
		kubectl annotate "$n" --overwrite \
			"metrics.k8s.io/resource-metrics-path=/metrics/nodes/${n#node/}/metrics/resource" >/dev/null
		kubectl patch "$n" --subresource=status --type=strategic -p "{\"status\":{
			\"addresses\":[{\"type\":\"ExternalIP\",\"address\":\"127.0.0.1\"}],
			\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":$KWOK_PORT}}}}" >/dev/null
	done
	kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: metrics-server, namespace: kube-system}
spec:
  type: ExternalName
  externalName: localhost
  ports: [{name: https, port: $METRICS_PORT, targetPort: $METRICS_PORT}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.metrics.k8s.io}
spec:
  group: metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  service: {namespace: kube-system, name: metrics-server, port: $METRICS_PORT}
  caBundle: $(b64 "$state/pki/ca.crt")
EOF
	running metrics-server || start_metrics_server || return 1
	wait_for "APIService v1beta1.metrics.k8s.io Available" 90 \
		kubectl wait --for=condition=Available apiservice v1beta1.metrics.k8s.io --timeout=2s || return 1
	say "metrics-server up: https://127.0.0.1:$METRICS_PORT (kubectl top pods answers after two scrapes, ~20 s)"
}

cmd_clean() {
	cmd_down
	rm -rf "$state"
	say "removed $state"
}

case ${1:-} in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
restart) cmd_restart "${2:-}" ;;
stop) cmd_stop "${2:-}" ;;
start) cmd_start "${2:-}" ;;
compact) cmd_compact ;;
nodes) cmd_nodes ;;
metrics) cmd_metrics ;;
clean) cmd_clean ;;
*)
	sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//; /^set -e/d' >&2
	exit 2
	;;
esac
