"""A fault-injecting HTTP proxy between the operator's AWS SDK clients and moto.

The operator under test is pointed at the proxy (AWS_ENDPOINT_URL=http://127.0.0.1:PORT)
and the proxy forwards to moto's server. For each request it may, at configured rates:
  * answer a throttling error without forwarding (AWS throttles before doing any work),
  * answer HTTP 500, either before forwarding (moto never saw the request) or after
    forwarding (moto did the work but the client sees a 500; this is what exercises
    idempotency and duplicate creation),
  * sleep --delay-seconds before handling the request.
With --buckets FILE it also throttles as AWS does, per account: a token bucket per
group of operations (capacity and refill per second from FILE, the published quotas,
tests/support/aws_buckets.json); a request that finds its bucket empty is answered
ThrottlingException (fault "bucket") without forwarding.
Error bodies are those the AWS SDKs parse for each protocol (JSON: ECS and Application
Auto Scaling; query/XML: ELBv2), so the SDKs classify them as throttling or server
errors and retry. With all rates 0 (the default) it is a pure recording proxy.

A test harness runs:
  python fault_proxy.py --port 0 --upstream http://127.0.0.1:MOTO --seed 42 \\
      --throttle 0.30 --error 0.05 --delay 0.02 --delay-seconds 2 --calls calls.jsonl
waits for the single stdout line `listening on 127.0.0.1:<port>`, runs the operator,
may POST /__proxy/rates {"throttle": 0, "error": 0, "delay": 0} to switch faults off
for a clean final check, reads GET /__proxy/stats and the call log (one JSON line per
request), and stops the proxy with SIGTERM (exit 0).

Determinism: one random.Random(seed) draws a fixed set of numbers for every request
(except /__proxy/ ones) in arrival order, so the decision for the n-th request is a pure
function of the seed, n and the rates in force. Concurrent clients can arrive in a
different order from run to run, so which *operation* gets which fault is reproducible
only when requests are sequential; the decisions per request index are what is fixed.
"""

import argparse
import http.client
import json
import random
import re
import signal
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
              "proxy-connection", "te", "trailer", "trailers", "transfer-encoding", "upgrade"}
JSON_SERVICES = {"AmazonEC2ContainerServiceV20141113": "ecs",
                 "AnyScaleFrontendService": "application-autoscaling"}
ELBV2_VERSION = "2015-12-01"
APP_ID = re.compile(r"(?:^|\s)app/(\S+)")
DEFAULT_RATES = {"throttle": 0.0, "error": 0.0, "delay": 0.0, "delay_seconds": 2.0}


def classify(headers, path, body):
    """(protocol, service, operation) of an AWS request; protocol is json, query or None."""
    target = headers.get("X-Amz-Target")
    if target and "." in target:
        prefix, op = target.rsplit(".", 1)
        return "json", JSON_SERVICES.get(prefix, prefix), op
    text = body.decode("utf-8", "replace")
    for qs in (text, urllib.parse.urlsplit(path).query):
        params = urllib.parse.parse_qs(qs)
        if params.get("Action"):
            version = params.get("Version", [""])[0]
            service = "elasticloadbalancing" if version == ELBV2_VERSION else "query"
            return "query", service, params["Action"][0]
    return None, None, "unknown"


def subject_names(protocol, service, body):
    """The names a request is about, for the benchmark's write-to-first-call latency:
    an ECS request's service names or ARNs, an ELBv2 request's `Names` (target groups
    and load balancers looked up by name); empty for anything else."""
    if protocol == "query" and service == "elasticloadbalancing":
        params = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        return [v for k, vs in sorted(params.items()) if re.fullmatch(r"Names\.member\.\d+", k) for v in vs]
    if protocol != "json" or service != "ecs":
        return []
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        return []
    if not isinstance(doc, dict):
        return []
    names = doc.get("services") if isinstance(doc.get("services"), list) else []
    names += [doc[k] for k in ("service", "serviceName") if isinstance(doc.get(k), str)]
    return [n for n in names if isinstance(n, str)]


def app_id(headers):
    for name in ("x-amz-user-agent", "User-Agent"):
        m = APP_ID.search(headers.get(name) or "")
        if m:
            return m.group(1)
    return None


def error_response(protocol, throttle):
    """(status, headers, body) of an injected AWS error in the request's protocol."""
    rid = str(uuid.uuid4())
    status = 400 if throttle else 500
    if protocol == "json":
        kind = "ThrottlingException" if throttle else "ServerException"
        msg = "Rate exceeded" if throttle else "fault_proxy: injected internal error"
        body = json.dumps({"__type": kind, "message": msg}, separators=(",", ":"))
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", rid),
                   ("x-amzn-ErrorType", kind)]
    else:
        typ, code, msg = (("Sender", "Throttling", "Rate exceeded") if throttle else
                          ("Receiver", "InternalFailure", "fault_proxy: injected internal error"))
        body = (f'<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/'
                f'{ELBV2_VERSION}/"><Error><Type>{typ}</Type><Code>{code}</Code>'
                f"<Message>{msg}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>")
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)]
    return status, headers, body.encode()


class Buckets:
    """AWS's request throttling: token buckets per group of operations. An
    operation may draw from several (ELB: its category's and the account's); a
    request passes only if every one of its buckets has a token."""

    def __init__(self, groups, clock=time.monotonic):
        self.clock = clock
        self.groups_of = {}
        self.state = {}  # group -> [tokens, capacity, refill per second, last refill]
        for g in groups:
            capacity, refill = float(g["capacity"]), float(g["refill"])
            if capacity < 1 or refill <= 0 or g["name"] in self.state:
                raise ValueError(f"bucket {g['name']}: a unique name, capacity >= 1 and refill > 0 needed")
            self.state[g["name"]] = [capacity, capacity, refill, clock()]
            for op in g["operations"]:
                self.groups_of.setdefault(op, []).append(g["name"])

    def take(self, key):
        """Whether a request for `service:operation` finds a token in each of its
        buckets (and takes them)."""
        now = self.clock()
        buckets = [self.state[g] for g in self.groups_of.get(key, [])]
        for b in buckets:
            b[0] = min(b[1], b[0] + (now - b[3]) * b[2])
            b[3] = now
        if any(b[0] < 1 for b in buckets):
            return False
        for b in buckets:
            b[0] -= 1
        return True


class FaultProxy(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port, upstream, seed, rates, calls_path, buckets=None):
        u = urllib.parse.urlsplit(upstream)
        if u.scheme != "http" or not u.hostname:
            raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
        self.upstream = (u.hostname, u.port or 80)
        self.upstream_base = u.path.rstrip("/")
        self.rates = dict(DEFAULT_RATES, **(rates or {}))
        self.rng = random.Random(seed)
        self.lock = threading.Lock()  # guards rng, seq, rates, stats and the call log
        self.seq = 0
        self.stats = {"requests": 0, "by_operation": {}, "forwarded": 0}
        self.calls = open(calls_path, "a", encoding="utf-8") if calls_path else None
        self.buckets = buckets
        super().__init__(("127.0.0.1", port), Handler)

    def decide(self):
        """Sequence number and fault decision of the next request, in arrival order."""
        with self.lock:
            seq = self.seq
            self.seq += 1
            # Always four draws per request, whatever the rates, so index n sees fixed numbers.
            u_throttle, u_error, u_split, u_delay = (self.rng.random() for _ in range(4))
            r = dict(self.rates)
        if u_throttle < r["throttle"]:
            fault = "throttle"
        elif u_error < r["error"]:
            fault = "error-before" if u_split < 0.5 else "error-after"
        else:
            fault = "none"
        return seq, fault, u_delay < r["delay"], r["delay_seconds"]

    def over_quota(self, service, operation):
        """Whether AWS's own throttling (the buckets) refuses this request."""
        if self.buckets is None:
            return False
        with self.lock:
            return not self.buckets.take(f"{service}:{operation}")

    def record(self, entry, forwarded):
        key = (f"{entry['service']}:{entry['operation']}" if entry["service"] else "unknown")
        with self.lock:
            self.stats["requests"] += 1
            self.stats["forwarded"] += forwarded
            op = self.stats["by_operation"].setdefault(
                key, {"calls": 0, "throttle": 0, "bucket": 0, "error_before": 0, "error_after": 0, "delayed": 0})
            op["calls"] += 1
            if entry["fault"] != "none":
                op[entry["fault"].replace("-", "_")] += 1
            op["delayed"] += entry["delayed"]
            if self.calls:
                self.calls.write(json.dumps(entry) + "\n")
                self.calls.flush()

    def set_rates(self, new):
        with self.lock:
            rates = dict(self.rates)
            for k, v in new.items():
                if k not in DEFAULT_RATES or not isinstance(v, (int, float)) or v < 0 or (
                        k != "delay_seconds" and v > 1):
                    raise ValueError(f"bad rate {k}={v!r}")
                rates[k] = float(v)
            self.rates = rates
            return dict(rates)

    def server_close(self):
        super().server_close()
        with self.lock:
            if self.calls:
                self.calls.close()
                self.calls = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    upstream_conn = None  # one keep-alive upstream connection per client connection

    def log_message(self, format, *args):  # stdout carries only the listening line
        pass

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send(self, status, headers, body, reason=None):
        self.send_response_only(status, reason)
        headers = list(headers)
        for k, v in headers:
            self.send_header(k, v)
        if not any(k.lower() == "content-length" for k, _ in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_one(self):
        t = time.time()
        body = self.read_body()
        if self.path.startswith("/__proxy/"):
            return self.control(body)
        protocol, service, operation = classify(self.headers, self.path, body)
        seq, fault, delayed, delay_seconds = self.server.decide()
        if protocol is None:  # not an AWS request we know: never faulted
            fault, delayed = "none", False
        elif fault == "none" and self.server.over_quota(service, operation):
            fault = "bucket"
        if delayed:
            time.sleep(delay_seconds)
        up, reason = None, None
        if fault in ("throttle", "bucket", "error-before"):
            status, headers, out = error_response(protocol, fault != "error-before")
        else:
            up = self.forward(body)
            if fault == "error-after":
                status, headers, out = error_response(protocol, False)
            elif up is None:
                status, headers, out = 502, [("Content-Type", "text/plain")], b"fault_proxy: upstream failed\n"
            else:
                status, reason, headers, out = up
        # Recorded before answering, so the log and stats are complete once a client has its answer.
        self.server.record({"seq": seq, "t": t, "t_end": time.time(), "service": service,
                            "operation": operation, "app": app_id(self.headers), "fault": fault,
                            "names": subject_names(protocol, service, body),
                            "delayed": delayed, "status": status}, up is not None)
        self.send(status, headers, out, reason)

    def forward(self, body):
        """(status, reason, headers, body) from the upstream, or None if it failed."""
        connection_tokens = {t.strip().lower() for t in (self.headers.get("Connection") or "").split(",")}
        drop = HOP_BY_HOP | connection_tokens | {"content-length"}
        for attempt in (0, 1):
            reused = self.upstream_conn is not None
            if not reused:
                self.upstream_conn = http.client.HTTPConnection(*self.server.upstream, timeout=300)
            conn = self.upstream_conn
            try:
                conn.putrequest(self.command, self.server.upstream_base + self.path,
                                skip_host=True, skip_accept_encoding=True)
                for k, v in self.headers.items():
                    if k.lower() not in drop:
                        conn.putheader(k, v)
                conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                resp = conn.getresponse()
                out = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                conn.close()
                self.upstream_conn = None
                if reused and attempt == 0:
                    continue  # stale keep-alive connection: retry once on a fresh one
                print(f"fault_proxy: upstream error: {e!r}", file=sys.stderr)
                return None
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                self.upstream_conn = None
                print(f"fault_proxy: upstream error: {e!r}", file=sys.stderr)
                return None
            if resp.will_close:
                conn.close()
                self.upstream_conn = None
            # Content-Length is recomputed by send(), except for HEAD where there is no body.
            skip = HOP_BY_HOP | ({"content-length"} if self.command != "HEAD" else set())
            headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in skip]
            return resp.status, resp.reason, headers, out
        return None

    def control(self, body):
        path = self.path.split("?")[0]
        try:
            if path == "/__proxy/stats" and self.command == "GET":
                with self.server.lock:
                    result = json.loads(json.dumps(self.server.stats))
            elif path == "/__proxy/rates" and self.command == "POST":
                result = self.server.set_rates(json.loads(body or b"{}"))
            elif path == "/__proxy/rates" and self.command == "GET":
                with self.server.lock:
                    result = dict(self.server.rates)
            else:
                return self.send(404, [("Content-Type", "text/plain")], b"not found\n")
        except (ValueError, AttributeError) as e:
            return self.send(400, [("Content-Type", "text/plain")], f"{e}\n".encode())
        self.send(200, [("Content-Type", "application/json")], json.dumps(result).encode())

    def finish(self):
        super().finish()
        if self.upstream_conn is not None:
            self.upstream_conn.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = handle_one


def make_server(port, upstream, seed=0, rates=None, calls_path=None, buckets=None):
    """A bound, not yet serving, proxy; call serve_forever() and later shutdown()/server_close()."""
    return FaultProxy(port, upstream, seed, rates, calls_path, buckets)


def main(argv=None):
    p = argparse.ArgumentParser(description="Fault-injecting proxy in front of moto.")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:5000")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--throttle", type=float, default=0.0, help="probability of a throttling error")
    p.add_argument("--error", type=float, default=0.0, help="probability of an HTTP 500")
    p.add_argument("--delay", type=float, default=0.0, help="probability of a delay")
    p.add_argument("--delay-seconds", type=float, default=2.0)
    p.add_argument("--calls", help="append one JSON line per request to this file")
    p.add_argument("--buckets", help="JSON list of {name, capacity, refill, operations}: AWS's throttling")
    a = p.parse_args(argv)
    rates = {"throttle": a.throttle, "error": a.error, "delay": a.delay,
             "delay_seconds": a.delay_seconds}
    for k, v in rates.items():
        if v < 0 or (k != "delay_seconds" and v > 1):
            p.error(f"--{k.replace('_', '-')} must be within [0, 1]" if k != "delay_seconds"
                    else "--delay-seconds must be >= 0")
    buckets = None
    if a.buckets:
        with open(a.buckets, encoding="utf-8") as f:
            buckets = Buckets(json.load(f)["buckets"])
    server = make_server(a.port, a.upstream, a.seed, rates, a.calls, buckets)
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)

    def stop(signum, frame):  # shutdown() blocks until serve_forever returns: not on this thread
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
