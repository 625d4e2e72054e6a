#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""A fake Kubernetes API server for netpol-agent's tests (stdlib only).

Serves, over TLS with a bearer token (or, with --client-ca, a client
certificate), list and watch of
  /api/v1/namespaces, /api/v1/pods, /apis/networking.k8s.io/v1/networkpolicies
the way the real one does: paginated lists (limit/continue, expired continue
-> 410), resourceVersion=0 lists from a "watch cache" (not paginated),
chunked watch streams of newline-delimited events, bookmarks, ERROR events
with code 410 (or HTTP 410) for a too-old resourceVersion, timeoutSeconds.

A plain-HTTP control port on loopback drives it from test scripts:
  POST /apply    {object}                      create or update (ADDED/MODIFIED)
  POST /delete   {"kind", "namespace", "name"}  delete (DELETED, last state)
  POST /set      {"token", "watch_timeout_cap", "bookmark_ms", "split_ms",
                  "batch", "gone_mode": "event"|"http", "down": bool,
                  "paused": bool (watches hold back events),
                  "fail_continues": N (the next N continue tokens are expired),
                  "cache_list_status": CODE (resourceVersion=0 lists fail),
                  "cut_mid_event": N (the next N events are cut in half, and
                  their connection with them)}
  POST /compact  forget history: every open watch gets ERROR 410 (or is cut,
                 gone_mode http) and resuming from an old resourceVersion fails
  POST /drop     cut every open watch connection (no terminating chunk)
  POST /inject   {"path", "object"} store OBJECT as is under another resource's
                 path (it is listed and sent as ADDED there: wrong-kind tests);
                 {"path", "remove": true} forgets the injected objects
  POST /generate {"namespaces", "pods", "policies", "node", "ns0_pods"}
                 a synthetic cluster
  GET  /stats    requests, lists, watches, open watches, bytes, events sent,
                 the resourceVersion each kind's last watch asked for
"""
import argparse
import json
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KINDS = {
    "/api/v1/namespaces": ("Namespace", "v1", False),
    "/api/v1/pods": ("Pod", "v1", True),
    "/apis/networking.k8s.io/v1/networkpolicies": ("NetworkPolicy", "networking.k8s.io/v1", True),
}
KIND_PATH = {v[0]: k for k, v in KINDS.items()}


class State:
    def __init__(self, token):
        self.lock = threading.Condition()
        self.rv = 1000
        self.compacted = 0           # resume from rv <= this: 410
        self.objects = {p: {} for p in KINDS}   # path -> key -> obj
        self.history = {p: [] for p in KINDS}   # path -> [(rv, type, obj)]
        self.token = token
        self.opts = {"watch_timeout_cap": 0, "bookmark_ms": 0, "split_ms": 0,
                     "batch": False, "gone_mode": "event", "down": False,
                     "paused": False, "fail_continues": 0, "cache_list_status": 0,
                     "cut_mid_event": 0}
        self.watch_gen = 0           # bumped by /drop and /compact
        self.compact_gen = 0         # bumped by /compact
        self.continues = {}          # continue token -> (list rv, remaining items)
        self.next_continue = 0
        self.stats = {"requests": 0, "lists": 0, "list_pages": 0, "watches": 0,
                      "open_watches": 0, "bytes": 0, "events": 0, "unauthorized": 0,
                      "cert_auth": 0, "last_watch_rv": {}}

    @staticmethod
    def key(obj, namespaced):
        md = obj["metadata"]
        return (md.get("namespace", "default") + "/" if namespaced else "") + md["name"]

    def apply(self, obj):
        kind = obj.get("kind")
        path = KIND_PATH[kind]
        namespaced = KINDS[path][2]
        with self.lock:
            self.rv += 1
            md = obj.setdefault("metadata", {})
            if namespaced:
                md.setdefault("namespace", "default")
            md["resourceVersion"] = str(self.rv)
            k = self.key(obj, namespaced)
            prev = self.objects[path].get(k)
            if prev is not None:
                # an update keeps the object's identity, as the real one does
                for f in ("uid", "creationTimestamp"):
                    md[f] = prev["metadata"][f]
            md.setdefault("uid", "uid-%d" % self.rv)
            md.setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            typ = "MODIFIED" if k in self.objects[path] else "ADDED"
            self.objects[path][k] = obj
            self.history[path].append((self.rv, typ, obj))
            self.lock.notify_all()
            return self.rv

    def delete(self, kind, ns, name):
        path = KIND_PATH[kind]
        k = (ns + "/" if KINDS[path][2] else "") + name
        with self.lock:
            obj = self.objects[path].pop(k, None)
            if obj is None:
                return None
            self.rv += 1
            obj = json.loads(json.dumps(obj))
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self.history[path].append((self.rv, "DELETED", obj))
            self.lock.notify_all()
            return self.rv


STATE = None


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if ARGS.verbose:
            sys.stderr.write("fake-api: " + fmt % args + "\n")

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with STATE.lock:
            STATE.stats["bytes"] += len(body)

    def do_GET(self):
        with STATE.lock:
            STATE.stats["requests"] += 1
            down = STATE.opts["down"]
            token = STATE.token
        if down:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        try:
            cert = self.connection.getpeercert() if ARGS.client_ca else None
        except (ValueError, AttributeError):
            cert = None
        if cert:
            with STATE.lock:
                STATE.stats["cert_auth"] += 1
        elif self.headers.get("Authorization") != "Bearer " + token:
            with STATE.lock:
                STATE.stats["unauthorized"] += 1
            self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
            return
        u = urllib.parse.urlparse(self.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
        if u.path not in KINDS:
            self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))
            return
        if q.get("watch") in ("1", "true"):
            self.watch(u.path, q)
        else:
            self.list(u.path, q)

    def list(self, path, q):
        kind, api, _ = KINDS[path]
        limit = int(q.get("limit") or 0)
        with STATE.lock:
            STATE.stats["list_pages"] += 1
            if q.get("resourceVersion") == "0" and STATE.opts["cache_list_status"]:
                code = STATE.opts["cache_list_status"]
                self.send_json(code, status(code, "InternalError", "the watch cache is not ready"))
                return
            if q.get("continue"):
                tok = STATE.continues.get(q["continue"])
                if STATE.opts["fail_continues"] > 0:
                    STATE.opts["fail_continues"] -= 1
                    tok = None
                if tok is None or tok[0] <= STATE.compacted:
                    self.send_json(410, status(410, "Expired",
                                   "The provided continue parameter is too old to display a consistent list result."))
                    return
                list_rv, items = tok
            else:
                STATE.stats["lists"] += 1
                list_rv = STATE.rv
                items = [STATE.objects[path][k] for k in sorted(STATE.objects[path])]
            if q.get("resourceVersion") == "0":
                limit = 0  # the watch cache ignores limit, like older API servers
            page, rest = (items, []) if not limit else (items[:limit], items[limit:])
            meta = {"resourceVersion": str(list_rv)}
            if rest:
                STATE.next_continue += 1
                tok = "c%d" % STATE.next_continue
                STATE.continues[tok] = (list_rv, rest)
                meta["continue"] = tok
            body = {"kind": kind + "List", "apiVersion": api, "metadata": meta, "items": page}
        self.send_json(200, body)

    def write_chunk(self, data):
        if not data:
            return
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()
        with STATE.lock:
            STATE.stats["bytes"] += len(data)

    def send_event(self, typ, obj, split_ms):
        line = (json.dumps({"type": typ, "object": obj}) + "\n").encode()
        with STATE.lock:
            STATE.stats["events"] += 1
        if split_ms:
            # an event split across chunks, with a pause between them
            cut = len(line) // 2
            self.write_chunk(line[:cut])
            time.sleep(split_ms / 1000.0)
            self.write_chunk(line[cut:])
        else:
            return line
        return b""

    def watch(self, path, q):
        kind, api, _ = KINDS[path]
        try:
            rv = int(q.get("resourceVersion") or 0)
        except ValueError:
            rv = 0
        timeout = int(q.get("timeoutSeconds") or 1800)
        with STATE.lock:
            STATE.stats["watches"] += 1
            STATE.stats["last_watch_rv"][KINDS[path][0]] = rv
            cap = STATE.opts["watch_timeout_cap"]
            if cap:
                timeout = min(timeout, cap)
            gone_mode = STATE.opts["gone_mode"]
            if rv == 0:
                rv = STATE.rv
            too_old = rv <= STATE.compacted
            gen = STATE.watch_gen
            cgen = STATE.compact_gen
        if too_old and gone_mode == "http":
            self.send_json(410, status(410, "Expired", "too old resource version: %d" % rv))
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with STATE.lock:
            STATE.stats["open_watches"] += 1
        try:
            if too_old:
                self.write_chunk((json.dumps({"type": "ERROR", "object": status(
                    410, "Expired", "too old resource version: %d (%d)" % (rv, STATE.compacted))}) + "\n").encode())
                self.wfile.write(b"0\r\n\r\n")
                return
            deadline = time.time() + timeout
            last_bookmark = time.time()
            while True:
                with STATE.lock:
                    pending = [e for e in STATE.history[path] if e[0] > rv]
                    if STATE.opts["paused"]:
                        pending = []
                    if not pending:
                        bm = STATE.opts["bookmark_ms"] / 1000.0
                        wait = deadline - time.time()
                        if bm:
                            wait = min(wait, max(0.0, last_bookmark + bm - time.time()))
                        if wait > 0 and STATE.watch_gen == gen:
                            STATE.lock.wait(timeout=wait)
                        pending = [e for e in STATE.history[path] if e[0] > rv]
                        if STATE.opts["paused"]:
                            pending = []
                    cut = STATE.watch_gen != gen
                    compacted = STATE.compact_gen != cgen
                    split_ms = STATE.opts["split_ms"]
                    batch = STATE.opts["batch"]
                    gone_mode = STATE.opts["gone_mode"]
                    bm = STATE.opts["bookmark_ms"] / 1000.0
                    cur_rv = rv if STATE.opts["paused"] else STATE.rv
                if cut:
                    if compacted and gone_mode == "event":
                        self.write_chunk((json.dumps({"type": "ERROR", "object": status(
                            410, "Expired", "too old resource version")}) + "\n").encode())
                        self.wfile.write(b"0\r\n\r\n")
                        return
                    # dropped connection: no terminating chunk
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                buf = b""
                for (erv, typ, obj) in pending:
                    with STATE.lock:
                        cut_now = STATE.opts["cut_mid_event"] > 0
                        if cut_now:
                            STATE.opts["cut_mid_event"] -= 1
                    if cut_now:
                        # the connection dies in the middle of an event
                        line = (json.dumps({"type": typ, "object": obj}) + "\n").encode()
                        self.write_chunk(buf + line[:len(line) // 2])
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    line = self.send_event(typ, obj, split_ms)
                    if batch:
                        buf += line
                    else:
                        self.write_chunk(line)
                    rv = erv
                self.write_chunk(buf)
                if bm and time.time() - last_bookmark >= bm:
                    self.write_chunk((json.dumps({"type": "BOOKMARK", "object": {
                        "kind": kind, "apiVersion": api,
                        "metadata": {"resourceVersion": str(max(rv, cur_rv))}}}) + "\n").encode())
                    rv = max(rv, cur_rv)
                    last_bookmark = time.time()
                if time.time() >= deadline:
                    self.wfile.write(b"0\r\n\r\n")
                    return
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True
        finally:
            with STATE.lock:
                STATE.stats["open_watches"] -= 1


def generate(spec):
    """A synthetic cluster: namespaces ns-i (label team), pods spread over
    them (labels app/tier, container ports), policies selecting app labels."""
    n_ns, n_pods, n_pols = spec.get("namespaces", 10), spec.get("pods", 100), spec.get("policies", 10)
    node = spec.get("node", "node-a")
    for i in range(n_ns):
        STATE.apply({"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": "ns-%d" % i, "labels": {"team": "t%d" % (i % 10)}}})
    ns0_pods = spec.get("ns0_pods", 0)   # the first ns0_pods pods all go to ns-0
    for i in range(n_pods):
        ns = "ns-0" if i < ns0_pods else "ns-%d" % (i % n_ns)
        ip = "10.%d.%d.%d" % (64 + (i >> 16) % 64, (i >> 8) & 255, i & 255)
        STATE.apply({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": "pod-%d" % i, "namespace": ns,
                                  "labels": {"app": "app-%d" % (i % 100), "tier": "t%d" % (i % 3)}},
                     "spec": {"nodeName": node if i % 50 == 0 else "node-other",
                              "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9",
                                              "ports": [{"name": "http", "containerPort": 8080}]}]},
                     "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}})
    for i in range(n_pols):
        ns = "ns-%d" % (i % n_ns)
        STATE.apply({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                     "metadata": {"name": "pol-%d" % i, "namespace": ns},
                     "spec": {"podSelector": {"matchLabels": {"app": "app-%d" % (i % 100)}},
                              "policyTypes": ["Ingress"],
                              "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "t%d" % (i % 10)}},
                                                     "podSelector": {"matchLabels": {"tier": "t1"}}}],
                                           "ports": [{"port": "http"}, {"port": 9000 + i % 50, "protocol": "TCP"}]}]}})


class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, obj):
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with STATE.lock:
            self.reply(dict(STATE.stats, rv=STATE.rv))

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        p = self.path
        if p == "/apply":
            objs = body["items"] if body.get("kind") == "List" else [body]
            rv = 0
            for o in objs:
                rv = STATE.apply(o)
            self.reply({"resourceVersion": rv})
        elif p == "/delete":
            self.reply({"resourceVersion": STATE.delete(body["kind"], body.get("namespace", "default"), body["name"])})
        elif p == "/set":
            with STATE.lock:
                if "token" in body:
                    STATE.token = body.pop("token")
                STATE.opts.update(body)
                if body.get("down"):
                    STATE.watch_gen += 1
                STATE.lock.notify_all()
            self.reply({"ok": True})
        elif p == "/compact":
            with STATE.lock:
                STATE.compacted = STATE.rv
                STATE.rv += 1
                STATE.watch_gen += 1
                STATE.compact_gen += 1
                STATE.lock.notify_all()
            self.reply({"compacted": STATE.compacted})
        elif p == "/inject":
            path = body["path"]
            with STATE.lock:
                if body.get("remove"):
                    for k in [k for k in STATE.objects[path] if k.startswith("~inject-")]:
                        del STATE.objects[path][k]
                else:
                    STATE.rv += 1
                    obj = body["object"]
                    obj.setdefault("metadata", {})["resourceVersion"] = str(STATE.rv)
                    STATE.objects[path]["~inject-%d" % STATE.rv] = obj
                    STATE.history[path].append((STATE.rv, "ADDED", obj))
                STATE.lock.notify_all()
            self.reply({"resourceVersion": STATE.rv})
        elif p == "/drop":
            with STATE.lock:
                STATE.watch_gen += 1
                STATE.lock.notify_all()
            self.reply({"ok": True})
        elif p == "/generate":
            generate(body)
            self.reply({"resourceVersion": STATE.rv})
        else:
            self.send_error(404)


class TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, ctx):
        super().__init__(addr, handler)
        self.ctx = ctx

    def get_request(self):
        sock, addr = self.socket.accept()
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr


def main():
    global STATE, ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--control-port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--client-ca", help="also accept client certificates signed by this CA")
    ap.add_argument("--verbose", action="store_true")
    ARGS = ap.parse_args()
    STATE = State(ARGS.token)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(ARGS.cert, ARGS.key)
    if ARGS.client_ca:
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(ARGS.client_ca)
    api = TLSServer(("127.0.0.1", ARGS.port), ApiHandler, ctx)
    ctl = ThreadingHTTPServer(("127.0.0.1", ARGS.control_port), ControlHandler)
    ctl.daemon_threads = True
    threading.Thread(target=ctl.serve_forever, daemon=True).start()
    print("fake-api: listening on https://127.0.0.1:%d (control http://127.0.0.1:%d)"
          % (ARGS.port, ARGS.control_port), flush=True)
    api.serve_forever()


if __name__ == "__main__":
    main()
