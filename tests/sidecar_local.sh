# Runs the breaker sidecar of a pod object here, as its kubelet would (kwok
# plays the kubelet of the local control plane and runs no containers).
# Sourced by tests/e2e/breaker_sidecar.sh and examples/demo.sh; needs root
# (unshare, mount), nsenter, ip, curl, jq and python3.
#
# sidecar_local_start WORK POD_JSON CM_JSON DEP BINARY
#   WORK      an empty folder of the caller's, removed by the caller
#   POD_JSON  the pod object (kubectl get pod -o json) with the sidecar
#             breakwater-proxy first among its init containers
#   CM_JSON   the namespace's breakwater-registry ConfigMap object
#   DEP       the dependency to stand in for (its --dependency NAME)
#   BINARY    what runs as the image's entrypoint (/usr/bin/breakwater)
# Lays out the ConfigMap's files as the kubelet does (a timestamped folder
# and the ..data symlink) in WORK/registry; makes a network and mount
# namespace held by a sleeping process (tests/netns.sh: no port of the host
# is taken, nothing is mounted there), with
# loopback up, /etc an overlay (the host's files untouched) whose hosts
# sends DEP's host to 127.0.0.9, and the registry bind-mounted at the
# sidecar's mountPath; starts there an upstream on 127.0.0.9 at DEP's port
# (200, or 500 after GET /control/fail until GET /control/ok; GET
# /control/count: calls so far besides the controls) and the sidecar with
# the pod's EXACT args and env (and nothing else: env -i), its log in
# WORK/proxy.log. Returns once its startup probe passes, or 1 saying why.
# Sets sl_holder, sl_upstream, sl_proxy, sl_admin (the admin port).
#
# sl_in COMMAND...     runs COMMAND in that namespace
# sl_control WHAT      fail, ok or count, to the upstream
# sidecar_local_stop   stops what start started (by pid)

sl_holder= sl_upstream= sl_proxy= sl_admin=
. "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

sl_in() { nsenter -t "$sl_holder" -n -m "$@"; }

sl_control() { sl_in curl -sf "http://127.0.0.9:$sl_port/control/$1"; }

sl_wait() { # SECONDS COMMAND...
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.3
	done
}

sidecar_local_start() {
	local work=$1 pod=$2 cm=$3 dep=$4 bin=$5 side reg stamp key host mount_path py
	local -a args envs
	side='.spec.initContainers[0] | select(.name == "breakwater-proxy")'
	reg=$work/registry
	stamp=..$(date -u +%Y_%m_%d_%H_%M_%S.000000000)
	mkdir -p "$reg/$stamp" "$work/upper" "$work/ovl" || return 1
	for key in $(jq -r '.data | keys[]' "$cm"); do
		jq -r --arg k "$key" '.data[$k]' "$cm" >"$reg/$stamp/$key"
		ln -s "..data/$key" "$reg/$key"
	done
	ln -s "$stamp" "$reg/..data"

	mapfile -t args < <(jq -r "$side | .args[]" "$pod")
	mapfile -t envs < <(jq -r "$side | (.env // [])[] | \"\(.name)=\(.value)\"" "$pod")
	[ ${#args[@]} -gt 0 ] || { echo "the pod has no sidecar" >&2; return 1; }
	host=$(printf '%s\n' "${args[@]}" | sed -n "s|^$dep=[0-9]*=http://\([^:/]*\).*|\1|p")
	sl_port=$(printf '%s\n' "${args[@]}" | sed -n "s|^$dep=[0-9]*=http://[^:/]*:\([0-9]*\).*|\1|p")
	[ -n "$host" ] || { echo "the sidecar has no --dependency $dep" >&2; return 1; }
	sl_port=${sl_port:-80}
	mount_path=$(jq -r "$side | .volumeMounts[] | select(.name == \"breakwater-registry\") | .mountPath" "$pod")
	sl_admin=$(jq -r "$side | .startupProbe.httpGet.port" "$pod")

	netns_hold || return 1
	sl_holder=$netns_holder
	sl_in sh -ec "
		ip link set lo up
		mount -t overlay overlay -o lowerdir=/etc,upperdir=$work/upper,workdir=$work/ovl /etc
		mkdir -p '$mount_path'
		mount --bind '$reg' '$mount_path'
		echo '127.0.0.9 $host' >>/etc/hosts" || return 1

	cat >"$work/upstream.py" <<'EOF'
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
state = {"fail": False, "calls": 0}
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        code, body = 200, b"ok\n"
        if self.path == "/control/fail": state["fail"] = True
        elif self.path == "/control/ok": state["fail"] = False
        elif self.path == "/control/count": body = b"%d\n" % state["calls"]
        else:
            state["calls"] += 1
            if state["fail"]: code, body = 500, b"down\n"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
EOF
	py=$(command -v /usr/bin/python3 python3 | head -n 1) # Debian's starts fast, a pyenv shim does not
	nsenter -t "$sl_holder" -n -m "$py" "$work/upstream.py" 127.0.0.9 "$sl_port" &
	sl_upstream=$!
	sl_wait 30 sl_control count || { echo "the upstream did not start" >&2; return 1; }

	nsenter -t "$sl_holder" -n -m env -i "${envs[@]}" "$bin" "${args[@]}" >"$work/proxy.log" 2>&1 &
	sl_proxy=$!
	sl_wait 15 sl_in curl -sf "http://127.0.0.1:$sl_admin/readyz" ||
		{ echo "the sidecar did not become ready: $(tail -n 5 "$work/proxy.log")" >&2; return 1; }
}

# The state of DEP's breaker in the sidecar's /metrics.
sl_state() {
	sl_in curl -s "http://127.0.0.1:$sl_admin/metrics" |
		sed -n "s/^breakwater_proxy_breaker_state{.*dependency=\"$1\".*state=\"\([A-Z_]*\)\".* 1$/\1/p"
}

sidecar_local_stop() {
	local p
	# (a killed process's status is no failure: callers may run with set -e)
	for p in $sl_proxy $sl_upstream $sl_holder; do kill "$p" 2>/dev/null || true; done
	for p in $sl_proxy $sl_upstream $sl_holder; do wait "$p" 2>/dev/null || true; done
	sl_proxy= sl_upstream= sl_holder=
	return 0
}
