"""The traffic tests' stand-ins for what kwok does not run (stdlib only).

Owned by tests/traffic/lib.sh, which starts each part in the right network
namespace. Subcommands:

  fwd-host SOCK PORT      host side of the API server bridge: accepts on the
                          unix socket SOCK, connects to 127.0.0.1:PORT
  fwd-ns PORT SOCK        netns side: accepts on 127.0.0.1:PORT, connects to
                          SOCK (a path-named unix socket is reachable from
                          every network namespace), so 127.0.0.1:PORT inside
                          is the API server outside, with the same TLS name
  pods NS KUBECTL GRACE CIDR PORTS
                          watches NS's pods; makes every address of CIDR
                          local and serves each of PORTS (comma-separated)
                          on all of them, answering as the pod with the
                          address asked; a deleted or gone pod answers GRACE
                          seconds more (a preStop delay: the gateway learns
                          of it late), then closes connections unanswered
  load URL STOP OUT       sends GETs to URL one after the other until the file
                          STOP exists, then writes counts to OUT (JSON)
  spread URL N            N GETs to URL, prints counts per pod (JSON)

A pod's server answers every GET with 200, headers X-Pod and X-Pod-IP and a
body "pod NAME ip IP path PATH". GET /control/fail makes it answer 500 (and
/control/ok 200 again); /control/count gives the calls it served. If the
pod runs the breaker sidecar (an init container breakwater-proxy with
--dependency payments=PORT=URL), a GET of a path ending in /checkout calls
127.0.0.1:PORT/charge (the sidecar's port for payments); the answer has
payments' status and the sidecar's breakwater-breaker and Retry-After
headers, and its body a line "payments STATUS BODY".
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def log(*a):
    t = time.time()
    print(time.strftime("%H:%M:%S", time.localtime(t)) + ".%03d" % (t % 1 * 1000), *a,
          file=sys.stderr, flush=True)


# ---- the API server bridge ----

def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def forward(listener, connect):
    while True:
        conn, _ = listener.accept()
        try:
            up = connect()
        except OSError as e:
            log("forward: connect failed:", e)
            conn.close()
            continue
        threading.Thread(target=pipe, args=(conn, up), daemon=True).start()
        threading.Thread(target=pipe, args=(up, conn), daemon=True).start()


def fwd_host(sock_path, port):
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lst.bind(sock_path)
    lst.listen(64)
    forward(lst, lambda: socket.create_connection(("127.0.0.1", int(port))))


def fwd_ns(port, sock_path):
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", int(port)))
    lst.listen(64)

    def connect():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sock_path)
        return s

    forward(lst, connect)


# ---- the pods ----

def sidecar_port(pod, dep="payments"):
    for c in pod["spec"].get("initContainers") or []:
        if c.get("name") != "breakwater-proxy":
            continue
        for a in c.get("args") or []:
            if a.startswith(dep + "="):
                return int(a.split("=")[1])
    return None


class Pod:
    """What one pod is, as its server answers (from the API's pod object)."""

    def __init__(self, pod):
        self.name = pod["metadata"]["name"]
        self.ip = pod["status"]["podIP"]
        self.uid = pod["metadata"]["uid"]
        self.side = sidecar_port(pod)
        self.fail = False
        self.calls = 0
        self.gone = None  # when the API stopped listing it
        self.added = time.time()


class Pods:
    """The pods by IP, kept from a watch and a list every 2 s."""

    def __init__(self, ns, kubectl, grace):
        self.ns, self.kubectl, self.grace = ns, kubectl, grace
        self.by_ip = {}
        self.cond = threading.Condition()

    def lookup(self, ip, wait=10.0):
        """The pod at ip; waits for the watch when the gateway knew it first.
        None when there is none, or it went away more than grace s ago."""
        deadline = time.time() + wait
        with self.cond:
            while ip not in self.by_ip and time.time() < deadline:
                self.cond.wait(0.2)
            p = self.by_ip.get(ip)
        if p and p.gone and time.time() - p.gone > self.grace:
            return None
        return p

    def seen(self, obj, deleted):
        uid = obj["metadata"]["uid"]
        ip = (obj.get("status") or {}).get("podIP")
        gone = deleted or obj["metadata"].get("deletionTimestamp")
        with self.cond:
            old = self.by_ip.get(ip) if ip else None
            if gone:
                for p in self.by_ip.values():
                    if p.uid == uid and not p.gone:
                        p.gone = time.time()
                        log("pod gone:", p.name, p.ip)
            elif old and old.uid == uid:
                if old.gone:  # a list older than the pod said gone: it is not
                    old.gone = None
                    log("pod back:", old.name, ip)
            elif ip:  # new, or its IP handed out again
                self.by_ip[ip] = Pod(obj)
                log("pod up:", obj["metadata"]["name"], ip, "sidecar", self.by_ip[ip].side)
                self.cond.notify_all()

    def resync(self):
        start = time.time()
        out = subprocess.run([self.kubectl, "-n", self.ns, "get", "pods", "-o", "json"],
                             capture_output=True, text=True)
        if out.returncode != 0:
            return log("list failed:", out.stderr.strip())
        items = json.loads(out.stdout)["items"]
        uids = {i["metadata"]["uid"] for i in items}
        with self.cond:
            for p in self.by_ip.values():
                # (a pod the watch added while the list ran is not in it)
                if p.uid not in uids and not p.gone and p.added < start:
                    p.gone = time.time()
                    log("pod gone (list):", p.name, p.ip)
        for i in items:
            self.seen(i, False)

    def resync_loop(self):
        # the watch is for speed; a list every 2 s mends what it missed
        while True:
            time.sleep(2)
            self.resync()

    def watch(self):
        while True:
            w = subprocess.Popen([self.kubectl, "-n", self.ns, "get", "pods", "--watch",
                                  "--output-watch-events", "-o", "json"],
                                 stdout=subprocess.PIPE, text=True)
            for line in w.stdout:  # one event a line
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                self.seen(ev["object"], ev["type"] == "DELETED")
            w.wait()
            log("watch ended; watching again")
            time.sleep(0.5)


def handler(pods):
    class H(BaseHTTPRequestHandler):
        # one request per connection: a stopped pod keeps no connection
        protocol_version = "HTTP/1.0"

        def log_message(self, *a):
            pass

        def answer(self, pod, code, body, headers=()):
            body = body.encode()
            self.send_response(code)
            self.send_header("X-Pod", pod.name)
            self.send_header("X-Pod-IP", pod.ip)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            # the address the client connected to says which pod is asked
            pod = pods.lookup(self.connection.getsockname()[0])
            if not pod:  # no such pod (any more): as a stopped one, no answer
                self.close_connection = True
                return
            if self.path == "/control/fail":
                pod.fail = True
                return self.answer(pod, 200, "failing\n")
            if self.path == "/control/ok":
                pod.fail = False
                return self.answer(pod, 200, "ok\n")
            if self.path == "/control/count":
                return self.answer(pod, 200, "%d\n" % pod.calls)
            pod.calls += 1
            if pod.fail:
                return self.answer(pod, 500, "pod %s ip %s failing\n" % (pod.name, pod.ip))
            body = "pod %s ip %s path %s\n" % (pod.name, pod.ip, self.path)
            if pod.side and self.path.endswith("/checkout"):
                code, hdrs, up = call("http://127.0.0.1:%d/charge" % pod.side)
                body += "payments %d %s\n" % (code, up.strip())
                return self.answer(pod, code or 502, body, hdrs)
            self.answer(pod, 200, body)

    return H


def call(url, timeout=5):
    """(status, breakwater headers, body) of a GET; status 0 if no answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, bw_headers(r.headers), r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, bw_headers(e.headers), e.read().decode(errors="replace")
    except (OSError, urllib.error.URLError) as e:
        return 0, [], str(e)


def bw_headers(h):
    out = [(k, v) for k, v in h.items()
           if k.lower().startswith("breakwater-") or k.lower() == "retry-after"]
    if h.get("X-Pod"):
        out.append(("X-Upstream-Pod", h["X-Pod"]))
    return out


def serve_pods(ns, kubectl, grace, cidr, ports):
    """Every address of cidr is local (a local route on lo), and one server
    per port on 0.0.0.0 answers as the pod that has the address asked: no
    bind per pod, so no pod the gateway knows is refused for want of one."""
    subprocess.run(["ip", "route", "replace", "local", cidr, "dev", "lo"], check=True)
    pods = Pods(ns, kubectl, float(grace))
    for port in ports.split(","):
        srv = ThreadingHTTPServer(("0.0.0.0", int(port)), handler(pods))
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    pods.resync()
    threading.Thread(target=pods.resync_loop, daemon=True).start()
    pods.watch()


# ---- clients ----

def load(url, stop, out):
    sent = answered = failed = 0
    per_pod, errors = {}, {}
    while not os.path.exists(stop):
        sent += 1
        code, hdrs, body = get(url)
        if code == 200:
            answered += 1
            pod = body.split()[1] if body.startswith("pod ") else "?"
            per_pod[pod] = per_pod.get(pod, 0) + 1
        else:
            failed += 1
            key = "%d %s" % (code, body.strip()[:80])
            errors[key] = errors.get(key, 0) + 1
        time.sleep(0.005)
    with open(out, "w") as f:
        json.dump({"sent": sent, "answered": answered, "failed": failed,
                   "pods": per_pod, "errors": errors}, f)


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode(errors="replace")
    except (OSError, urllib.error.URLError) as e:
        return 0, {}, str(e)


def spread(url, n):
    per_pod = {}
    for _ in range(int(n)):
        code, _, body = get(url)
        key = body.split()[1] if code == 200 and body.startswith("pod ") else "status-%d" % code
        per_pod[key] = per_pod.get(key, 0) + 1
    print(json.dumps(per_pod, sort_keys=True))


if __name__ == "__main__":
    cmds = {"fwd-host": fwd_host, "fwd-ns": fwd_ns, "pods": serve_pods, "load": load,
            "spread": spread}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit("usage: podnet.py fwd-host|fwd-ns|pods|load|spread ARGS...")
    cmds[sys.argv[1]](*sys.argv[2:])
