# The traffic harness: a network namespace where the kwok pods answer and
# Traefik routes to them. Sourced by tests/traffic/*.sh and examples/demo.sh;
# needs root (unshare, nsenter, ip), python3, the local control plane up,
# and Traefik built (tests/traffic/build.sh).
#
# traffic_start WORK NS
#   WORK  an empty folder of the caller's (logs, sockets), removed by the caller
#   NS    the namespace whose pods answer and whose Ingresses Traefik serves
# Makes a network and mount namespace held by a sleeping process
# (tests/netns.sh: no port of the host is taken); inside, 127.0.0.1:API_PORT
# is the API server (a bridge through a unix socket in WORK), every address
# of TR_POD_CIDR is local and podnet.py pods answers on TR_PORTS there as
# the pod that has the address asked (from a watch of NS's pods), and
# Traefik listens on 127.0.0.1:80 with its Kubernetes Ingress provider and
# the admin kubeconfig. Returns once
# Traefik answers /ping, or 1 saying why. Sets tr_holder and tr_pids.
#
# tr_in COMMAND...            runs COMMAND in that namespace
# tr_gw PATH                  curl of the gateway (http://127.0.0.1/PATH) there
# tr_spread PATH N            N requests to the gateway: {"POD": count, ...}
# traffic_stop                stops what start started (by pid)

tr_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tr_holder= tr_pids= tr_work=
. "$tr_dir/../netns.sh"
tr_py=$(command -v /usr/bin/python3 python3 | head -n 1) # Debian's starts fast, a pyenv shim does not
# How long a gone pod keeps answering (a preStop sleep): the EndpointSlice
# controller and Traefik's provider (throttled to 1 s here) take a moment to
# drop it; on a loaded machine (load 20 on 2 cores) more than 5 s was seen.
TR_GRACE=${TR_GRACE:-15}
TR_POD_CIDR=${TR_POD_CIDR:-10.244.0.0/16} # kwok's --cidr (tests/cluster/cluster.sh)
TR_PORTS=${TR_PORTS:-8000}                # the pods' container ports served

tr_in() { nsenter -t "$tr_holder" -n -m "$@"; }

tr_gw() { tr_in curl -s --max-time 10 "http://127.0.0.1/${1#/}"; }

tr_spread() { tr_in "$tr_py" "$tr_dir/podnet.py" spread "http://127.0.0.1/${1#/}" "$2"; }

tr_wait() { # SECONDS COMMAND...
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.3
	done
}

traffic_start() {
	local work=$1 ns=$2 kubeconfig=$KUBECONFIG port traefik
	tr_work=$work
	traefik=$(cd "$tr_dir/../.." && pwd)/.cluster/bin/traefik
	[ -x "$traefik" ] || { echo "no Traefik at $traefik (tests/traffic/build.sh)" >&2; return 1; }
	# the API server's port, from the kubeconfig (https://127.0.0.1:PORT)
	port=$(sed -n 's|^ *server: https://127.0.0.1:\([0-9]*\).*|\1|p' "$kubeconfig" | head -n 1)
	[ -n "$port" ] || { echo "no https://127.0.0.1:PORT server in $kubeconfig" >&2; return 1; }

	netns_hold || return 1
	tr_holder=$netns_holder
	tr_in ip link set lo up || return 1

	"$tr_py" "$tr_dir/podnet.py" fwd-host "$work/api.sock" "$port" 2>"$work/fwd-host.log" &
	tr_pids+=" $!"
	tr_wait 5 test -S "$work/api.sock" || { echo "the API bridge did not start" >&2; return 1; }
	nsenter -t "$tr_holder" -n -m "$tr_py" "$tr_dir/podnet.py" fwd-ns "$port" "$work/api.sock" 2>"$work/fwd-ns.log" &
	tr_pids+=" $!"
	tr_wait 10 tr_in "$(dirname "$traefik")/kubectl" --kubeconfig "$kubeconfig" get --raw /readyz ||
		{ echo "the API server is not reachable from the namespace: $(cat "$work"/fwd-*.log)" >&2; return 1; }

	nsenter -t "$tr_holder" -n -m "$tr_py" -u "$tr_dir/podnet.py" pods "$ns" "$(dirname "$traefik")/kubectl" "$TR_GRACE" "$TR_POD_CIDR" "$TR_PORTS" \
		>"$work/pods.log" 2>&1 &
	tr_pids+=" $!"

	nsenter -t "$tr_holder" -n -m env KUBECONFIG="$kubeconfig" "$traefik" \
		--entryPoints.web.address=127.0.0.1:80 \
		--entryPoints.traefik.address=127.0.0.1:8080 --ping=true \
		--providers.kubernetesingress=true \
		--providers.kubernetesingress.namespaces="$ns" \
		--providers.providersThrottleDuration=1s \
		--global.checkNewVersion=false --global.sendAnonymousUsage=false --log.noColor=true \
		--log.level=INFO --accesslog=true --accesslog.filepath="$work/access.log" \
		>"$work/traefik.log" 2>&1 &
	tr_pids+=" $!"
	tr_wait 30 tr_in curl -sf http://127.0.0.1:8080/ping ||
		{ echo "Traefik did not start: $(tail -n 5 "$work/traefik.log")" >&2; return 1; }
}

traffic_stop() {
	local p
	for p in $tr_pids $tr_holder; do kill "$p" 2>/dev/null || true; done
	for p in $tr_pids $tr_holder; do wait "$p" 2>/dev/null || true; done
	tr_pids= tr_holder=
}

# tr_sidecar_start POD_JSON CM_JSON DEP IP BINARY
# Runs in the namespace the breaker sidecar of the pod object POD_JSON (its
# init container breakwater-proxy) with the pod's EXACT args and env, as
# tests/sidecar_local.sh does: the ConfigMap CM_JSON's files laid out as the
# kubelet does at the sidecar's mountPath, /etc an overlay whose hosts sends
# DEP's host to IP (a pod of DEP: no kube-proxy here for its ClusterIP).
# BINARY stands for the image's entrypoint. The namespace has one loopback,
# so this one sidecar serves every pod there (each pod's own would take the
# same ports). Its log: WORK/proxy.log. Sets tr_proxy, tr_admin.
tr_proxy= tr_admin=
tr_sidecar_start() {
	local pod=$1 cm=$2 dep=$3 ip=$4 bin=$5 side reg stamp key host mount_path w=$tr_work
	local -a args envs
	side='.spec.initContainers[0] | select(.name == "breakwater-proxy")'
	reg=$w/registry
	stamp=..$(date -u +%Y_%m_%d_%H_%M_%S.000000000)
	mkdir -p "$reg/$stamp" "$w/upper" "$w/ovl" || return 1
	for key in $(jq -r '.data | keys[]' "$cm"); do
		jq -r --arg k "$key" '.data[$k]' "$cm" >"$reg/$stamp/$key"
		ln -s "..data/$key" "$reg/$key"
	done
	ln -s "$stamp" "$reg/..data"
	mapfile -t args < <(jq -r "$side | .args[]" "$pod")
	mapfile -t envs < <(jq -r "$side | (.env // [])[] | \"\(.name)=\(.value)\"" "$pod")
	[ ${#args[@]} -gt 0 ] || { echo "the pod has no sidecar" >&2; return 1; }
	host=$(printf '%s\n' "${args[@]}" | sed -n "s|^$dep=[0-9]*=http://\([^:/]*\).*|\1|p")
	[ -n "$host" ] || { echo "the sidecar has no --dependency $dep" >&2; return 1; }
	mount_path=$(jq -r "$side | .volumeMounts[] | select(.name == \"breakwater-registry\") | .mountPath" "$pod")
	tr_admin=$(jq -r "$side | .startupProbe.httpGet.port" "$pod")
	tr_in sh -ec "
		mount -t overlay overlay -o lowerdir=/etc,upperdir=$w/upper,workdir=$w/ovl /etc
		mkdir -p '$mount_path'
		mount --bind '$reg' '$mount_path'
		echo '$ip $host' >>/etc/hosts" || return 1
	nsenter -t "$tr_holder" -n -m env -i "${envs[@]}" "$bin" "${args[@]}" >"$w/proxy.log" 2>&1 &
	tr_proxy=$!
	tr_pids+=" $tr_proxy"
	tr_wait 15 tr_in curl -sf "http://127.0.0.1:$tr_admin/readyz" ||
		{ echo "the sidecar did not become ready: $(tail -n 5 "$w/proxy.log")" >&2; return 1; }
}

# The state of DEP's breaker in the sidecar's /metrics.
tr_breaker_state() {
	tr_in curl -s "http://127.0.0.1:$tr_admin/metrics" |
		sed -n "s/^breakwater_proxy_breaker_state{.*dependency=\"$1\".*state=\"\([A-Z_]*\)\".* 1$/\1/p"
}
