#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Fake AWS endpoints for the CloudWatch shipper's tests, on one loopback port.

  CloudWatch Logs  POST /  X-Amz-Target: Logs_20140328.{PutLogEvents,CreateLogGroup,CreateLogStream}
  STS              POST /  Action=AssumeRoleWithWebIdentity (form, unsigned)
  Pod Identity     GET  /v1/credentials          (Authorization: <token>)
  IMDSv2           PUT  /latest/api/token, GET /latest/meta-data/iam/security-credentials/[role]
  control          POST /_control?mode=M&count=N&delay=S, GET /_stats

Every CloudWatch request's SigV4 signature is recomputed here, independently
of libcurl, with the secret of the key it names (the static key given on the
command line, or one this server issued through STS / Pod Identity / IMDS);
a mismatch, an unknown or expired key, a session key without its signed
X-Amz-Security-Token, or a stale X-Amz-Date is refused and counted.  Every
PutLogEvents batch is gunzipped and checked against the service limits
(1..10,000 events, sum of UTF-8 message bytes + 26 <= 1,048,576,
chronological, span < 24 h); violations are counted.  Accepted events are
appended to OUT/events.jsonl (one message per line), requests to
OUT/requests.jsonl.

Fault modes (for the next COUNT CloudWatch requests, -1 = until changed):
  ok, throttle (400 ThrottlingException), 5xx (500 ServiceUnavailableException),
  drop (close the connection without an answer), slow (answer after DELAY s),
  tooold (200 with the first COUNT_OLD events rejected as too old),
  badparam (400 InvalidParameterException), expire (the temporary key the
  request is signed with expires now: 400 ExpiredTokenException)
--no-group: the group and stream exist once created; --group-only G: group G
exists, CreateLogGroup is denied, streams must be created.

`fake_cwlogs.py selftest` checks the verifier against the AWS SigV4 test
vectors (aws-c-auth aws-signing-test-suite) in sigv4_vectors.json.
"""
import argparse
import datetime
import gzip
import hashlib
import hmac
import json
import os
import secrets
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_EVENTS = 10000
MAX_BYTES = 1048576
OVERHEAD = 26
SPAN_MS = 24 * 3600 * 1000


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sigv4_signature(secret, method, path, query, headers, signed, body, amzdate, scope):
    """SigV4 signature of a request; HEADERS maps lower-case names to values."""
    canon_headers = "".join(
        "%s:%s\n" % (h, " ".join(headers.get(h, "").strip().split())) for h in signed)
    qs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    canon_query = "&".join(
        "%s=%s" % (urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~"))
        for k, v in sorted(qs))
    creq = "\n".join([method, path or "/", canon_query, canon_headers, ";".join(signed),
                      hashlib.sha256(body).hexdigest()])
    sts = "\n".join(["AWS4-HMAC-SHA256", amzdate, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    date, region, service, _ = scope.split("/")
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    k = _hmac(k, "aws4_request")
    return hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()


def parse_authorization(value):
    if not value or not value.startswith("AWS4-HMAC-SHA256 "):
        return None
    parts = {}
    for item in value[len("AWS4-HMAC-SHA256 "):].split(","):
        k, _, v = item.strip().partition("=")
        parts[k] = v
    if not {"Credential", "SignedHeaders", "Signature"} <= parts.keys():
        return None
    akid, _, scope = parts["Credential"].partition("/")
    return akid, scope, parts["SignedHeaders"].split(";"), parts["Signature"]


def selftest(path):
    vectors = json.load(open(path))
    bad = 0
    for v in vectors:
        got = sigv4_signature(v["secret"], v["method"], v["path"], v.get("query", ""),
                              {k.lower(): x for k, x in v["headers"].items()},
                              v["signed"], v.get("body", "").encode(), v["amzdate"], v["scope"])
        ok = got == v["signature"]
        bad += not ok
        print("sigv4 vector %-32s %s" % (v["name"], "ok" if ok else "MISMATCH " + got))
    return 1 if bad else 0


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.keys = {}  # akid -> {secret, token, expires (0 never), source}
        if args.access_key:
            self.keys[args.access_key] = {"secret": args.secret_key, "token": args.session_token,
                                          "expires": 0, "source": "static"}
        self.mode, self.count, self.delay, self.old = "ok", 0, 0.0, 0
        self.groups = set() if args.no_group else None  # None: everything exists
        if args.group_only:  # this group exists; CreateLogGroup is not allowed
            self.groups = {args.group_only}
        self.streams = set()
        self.imds_tokens = set()
        self.stats = {"requests": 0, "puts": 0, "events": 0, "event_bytes": 0, "gzip_puts": 0,
                      "body_bytes": 0, "sig_ok": 0, "sig_failures": 0, "unknown_keys": 0,
                      "expired_key_uses": 0, "missing_token": 0, "limit_violations": 0,
                      "faults": {}, "creates": 0, "sts_calls": 0, "pod_calls": 0,
                      "imds_calls": 0, "web_tokens": [], "keys_used": [], "rejected_old": 0,
                      "max_batch_events": 0, "max_batch_bytes": 0, "violations": []}
        os.makedirs(args.out, exist_ok=True)
        self.events = open(os.path.join(args.out, "events.jsonl"), "a", buffering=1)
        self.requests = open(os.path.join(args.out, "requests.jsonl"), "a", buffering=1)

    def issue(self, source):
        akid = "ASIA" + secrets.token_hex(8).upper()
        k = {"secret": secrets.token_urlsafe(30), "token": secrets.token_urlsafe(60),
             "expires": int(time.time()) + self.args.cred_ttl, "source": source}
        with self.lock:
            self.keys[akid] = k
        return akid, k

    def take_fault(self):
        with self.lock:
            if self.mode == "ok" or self.count == 0:
                return "ok"
            if self.count > 0:
                self.count -= 1
            self.stats["faults"][self.mode] = self.stats["faults"].get(self.mode, 0) + 1
            return self.mode


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-aws/1"

    def log_message(self, fmt, *a):
        if self.server.state.args.verbose:
            sys.stderr.write("fake-aws: " + fmt % a + "\n")

    def send(self, code, body, ctype="application/x-amz-json-1.1"):
        data = body if isinstance(body, bytes) else (
            body.encode() if isinstance(body, str) else json.dumps(body).encode())
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, code, typ, msg):
        self.send(code, {"__type": "com.amazonaws.logs#" + typ, "message": msg})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    # -- control -------------------------------------------------------
    def do_GET(self):
        st = self.server.state
        u = urllib.parse.urlsplit(self.path)
        if u.path == "/_stats":
            with st.lock:
                return self.send(200, dict(st.stats, mode=st.mode, count=st.count), "application/json")
        if u.path.startswith("/v1/credentials"):
            return self.pod_identity()
        if u.path.startswith("/latest/meta-data/iam/security-credentials"):
            return self.imds(u.path)
        self.send(404, "not found\n", "text/plain")

    def do_PUT(self):
        st = self.server.state
        self.body()
        if self.path != "/latest/api/token" or not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self.send(400, "bad request\n", "text/plain")
        tok = secrets.token_urlsafe(32)
        with st.lock:
            st.imds_tokens.add(tok)
            st.stats["imds_calls"] += 1
        self.send(200, tok, "text/plain")

    def do_POST(self):
        st = self.server.state
        u = urllib.parse.urlsplit(self.path)
        body = self.body()
        if u.path == "/_control":
            q = dict(urllib.parse.parse_qsl(u.query))
            with st.lock:
                st.mode = q.get("mode", "ok")
                st.count = int(q.get("count", "-1"))
                st.delay = float(q.get("delay", "0"))
                st.old = int(q.get("old", "1"))
            return self.send(200, {"mode": st.mode}, "application/json")
        target = self.headers.get("X-Amz-Target")
        if not target and b"Action=AssumeRoleWithWebIdentity" in body:
            return self.sts(body)
        with st.lock:
            st.stats["requests"] += 1
        fault = st.take_fault()
        if fault == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if fault == "slow":
            time.sleep(st.delay)
        if not self.verify(body, fault):
            return
        if fault == "throttle":
            return self.error(400, "ThrottlingException", "Rate exceeded")
        if fault == "5xx":
            return self.error(500, "ServiceUnavailableException", "The service is unavailable")
        if fault == "badparam":
            return self.error(400, "InvalidParameterException", "fake: refused on request")
        if self.headers.get("Content-Encoding") == "gzip":
            try:
                raw = gzip.decompress(body)
            except OSError:
                return self.violation("body is not gzip", 400)
            gz = True
        else:
            raw, gz = body, False
        try:
            doc = json.loads(raw)
        except ValueError:
            return self.violation("body is not JSON", 400)
        if self.headers.get("Content-Type") != "application/x-amz-json-1.1":
            return self.violation("Content-Type is not application/x-amz-json-1.1", 400)
        if target == "Logs_20140328.CreateLogGroup":
            return self.create(doc, False)
        if target == "Logs_20140328.CreateLogStream":
            return self.create(doc, True)
        if target != "Logs_20140328.PutLogEvents":
            return self.error(400, "UnknownOperationException", "unknown target %s" % target)
        self.put(doc, gz, len(body), fault)

    # -- CloudWatch Logs -------------------------------------------------
    def violation(self, what, code=400):
        st = self.server.state
        with st.lock:
            st.stats["limit_violations"] += 1
            st.stats["violations"].append(what)
        sys.stderr.write("fake-aws: VIOLATION: %s\n" % what)
        self.error(code, "InvalidParameterException", what)

    def verify(self, body, fault="ok"):
        st = self.server.state
        a = parse_authorization(self.headers.get("Authorization"))
        if not a:
            with st.lock:
                st.stats["sig_failures"] += 1
            self.error(400, "IncompleteSignatureException", "no SigV4 Authorization header")
            return False
        akid, scope, signed, sig = a
        amzdate = self.headers.get("X-Amz-Date", "")
        with st.lock:
            key = st.keys.get(akid)
            if key and fault == "expire" and key["expires"]:
                key["expires"] = int(time.time()) - 1  # revoked early
        if not key:
            with st.lock:
                st.stats["unknown_keys"] += 1
            self.error(400, "UnrecognizedClientException", "The security token included in the request is invalid.")
            return False
        if key["expires"] and time.time() > key["expires"]:
            with st.lock:
                st.stats["expired_key_uses"] += 1
            self.error(400, "ExpiredTokenException", "The security token included in the request is expired")
            return False
        headers = {k.lower(): v for k, v in self.headers.items()}
        problems = []
        for h in ("host", "x-amz-date", "x-amz-target", "content-type"):
            if h not in signed:
                problems.append("header %s not signed" % h)
        for h in signed:
            if h not in headers:
                problems.append("signed header %s not sent" % h)
        if "content-encoding" in headers and "content-encoding" not in signed:
            problems.append("content-encoding not signed")
        if key["token"]:
            if headers.get("x-amz-security-token") != key["token"] or "x-amz-security-token" not in signed:
                with st.lock:
                    st.stats["missing_token"] += 1
                problems.append("session token missing, wrong or unsigned")
        parts = scope.split("/")
        if len(parts) != 4 or parts[2] != "logs" or parts[1] != st.args.region or parts[3] != "aws4_request":
            problems.append("bad credential scope %s" % scope)
        try:
            t = datetime.datetime.strptime(amzdate, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
            if abs(time.time() - t.timestamp()) > 300 or parts[0] != amzdate[:8]:
                problems.append("X-Amz-Date %s too far from now or not the scope's date" % amzdate)
        except ValueError:
            problems.append("bad X-Amz-Date %r" % amzdate)
        if not problems:
            u = urllib.parse.urlsplit(self.path)
            want = sigv4_signature(key["secret"], self.command, u.path, u.query, headers, signed,
                                   body, amzdate, scope)
            if not hmac.compare_digest(want, sig):
                problems.append("signature mismatch")
        if problems:
            with st.lock:
                st.stats["sig_failures"] += 1
                st.stats["violations"].extend(problems)
            sys.stderr.write("fake-aws: SIGNATURE: %s\n" % "; ".join(problems))
            self.error(403, "InvalidSignatureException",
                       "The request signature we calculated does not match the signature you provided.")
            return False
        with st.lock:
            st.stats["sig_ok"] += 1
            if akid not in st.stats["keys_used"]:
                st.stats["keys_used"].append(akid)
        return True

    def create(self, doc, stream):
        st = self.server.state
        g = doc.get("logGroupName")
        with st.lock:
            st.stats["creates"] += 1
            if st.groups is None:
                return self.error(400, "ResourceAlreadyExistsException", "The specified log group already exists")
            if not stream:
                if st.args.group_only:
                    return self.error(400, "AccessDeniedException",
                                      "not authorized to perform: logs:CreateLogGroup")
                if g in st.groups:
                    return self.error(400, "ResourceAlreadyExistsException", "The specified log group already exists")
                st.groups.add(g)
                return self.send(200, b"")
            if g not in st.groups:
                return self.error(400, "ResourceNotFoundException", "The specified log group does not exist.")
            key = (g, doc.get("logStreamName"))
            if key in st.streams:
                return self.error(400, "ResourceAlreadyExistsException", "The specified log stream already exists")
            st.streams.add(key)
        self.send(200, b"")

    def put(self, doc, gz, body_len, fault):
        st = self.server.state
        g, s, evs = doc.get("logGroupName"), doc.get("logStreamName"), doc.get("logEvents")
        with st.lock:
            missing = st.groups is not None and (g not in st.groups or (g, s) not in st.streams)
        if missing:
            return self.error(400, "ResourceNotFoundException", "The specified log group does not exist.")
        if not isinstance(evs, list) or not (1 <= len(evs) <= MAX_EVENTS):
            return self.violation("batch of %s events" % (len(evs) if isinstance(evs, list) else "no"))
        size = sum(len(e["message"].encode("utf-8")) + OVERHEAD for e in evs)
        ts = [e["timestamp"] for e in evs]
        if size > MAX_BYTES:
            return self.violation("batch of %d bytes" % size)
        if any(b < a for a, b in zip(ts, ts[1:])):
            return self.violation("events not in chronological order")
        if ts[-1] - ts[0] >= SPAN_MS:
            return self.violation("batch spans %d ms" % (ts[-1] - ts[0]))
        if not gz:
            return self.violation("PutLogEvents body not gzipped")
        old = 0
        if fault == "tooold":
            old = min(st.old, len(evs))
        with st.lock:
            st.stats["puts"] += 1
            st.stats["gzip_puts"] += gz
            st.stats["body_bytes"] += body_len
            st.stats["events"] += len(evs) - old
            st.stats["event_bytes"] += size
            st.stats["rejected_old"] += old
            st.stats["max_batch_events"] = max(st.stats["max_batch_events"], len(evs))
            st.stats["max_batch_bytes"] = max(st.stats["max_batch_bytes"], size)
            for e in evs[old:]:
                st.events.write(e["message"] + "\n")
            st.requests.write(json.dumps({"group": g, "stream": s, "events": len(evs), "bytes": size, "body": body_len,
                                          "first": ts[0], "last": ts[-1], "rejected": old}) + "\n")
        ans = {"nextSequenceToken": "0"}
        if old:
            ans["rejectedLogEventsInfo"] = {"tooOldLogEventEndIndex": old}
        self.send(200, ans)

    # -- credential endpoints ----------------------------------------------
    def sts(self, body):
        st = self.server.state
        q = dict(urllib.parse.parse_qsl(body.decode()))
        with st.lock:
            st.stats["sts_calls"] += 1
            st.stats["web_tokens"].append(q.get("WebIdentityToken", ""))
        if self.headers.get("Authorization"):
            return self.send(400, "<ErrorResponse><Error><Code>InvalidRequest</Code><Message>"
                             "AssumeRoleWithWebIdentity is unsigned</Message></Error></ErrorResponse>",
                             "text/xml")
        if not q.get("WebIdentityToken") or q.get("RoleArn") != st.args.role_arn or \
                q.get("Version") != "2011-06-15" or not q.get("RoleSessionName"):
            return self.send(400, "<ErrorResponse><Error><Code>InvalidIdentityToken</Code><Message>"
                             "fake: bad request</Message></Error></ErrorResponse>", "text/xml")
        akid, k = st.issue("sts")
        xml = ("<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
               "<AssumeRoleWithWebIdentityResult><Credentials><SessionToken>%s</SessionToken>"
               "<SecretAccessKey>%s</SecretAccessKey><Expiration>%s</Expiration>"
               "<AccessKeyId>%s</AccessKeyId></Credentials></AssumeRoleWithWebIdentityResult>"
               "</AssumeRoleWithWebIdentityResponse>" % (k["token"], k["secret"], iso(k["expires"]), akid))
        self.send(200, xml, "text/xml")

    def pod_identity(self):
        st = self.server.state
        with st.lock:
            st.stats["pod_calls"] += 1
        if self.headers.get("Authorization") != st.args.pod_token:
            return self.send(401, {"Message": "bad token"}, "application/json")
        akid, k = st.issue("pod")
        self.send(200, {"AccessKeyId": akid, "SecretAccessKey": k["secret"], "Token": k["token"],
                        "AccountId": "123456789012", "Expiration": iso(k["expires"])}, "application/json")

    def imds(self, path):
        st = self.server.state
        with st.lock:
            st.stats["imds_calls"] += 1
            ok = self.headers.get("X-aws-ec2-metadata-token") in st.imds_tokens
        if not ok:
            return self.send(401, "", "text/plain")
        base = "/latest/meta-data/iam/security-credentials"
        if path.rstrip("/") == base:
            return self.send(200, "fake-node-role", "text/plain")
        if path != base + "/fake-node-role":
            return self.send(404, "", "text/plain")
        akid, k = st.issue("imds")
        self.send(200, {"Code": "Success", "LastUpdated": iso(time.time()), "Type": "AWS-HMAC",
                        "AccessKeyId": akid, "SecretAccessKey": k["secret"], "Token": k["token"],
                        "Expiration": iso(k["expires"])}, "application/json")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "selftest":
        sys.exit(selftest(sys.argv[2] if len(sys.argv) > 2 else
                          os.path.join(os.path.dirname(__file__), "sigv4_vectors.json")))
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--access-key")
    p.add_argument("--secret-key")
    p.add_argument("--session-token")
    p.add_argument("--role-arn", default="arn:aws:iam::123456789012:role/netpol-agent")
    p.add_argument("--pod-token", default="pod-identity-token")
    p.add_argument("--cred-ttl", type=int, default=3600)
    p.add_argument("--no-group", action="store_true", help="log group/stream must be created")
    p.add_argument("--group-only", help="this log group exists, streams must be created, "
                   "CreateLogGroup is denied")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.state = State(args)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
