"""Unit tests of fault_proxy.py against a tiny echoing upstream, stdlib only.

Run from the repository root: `python3 -m unittest tests/support/test_fault_proxy.py`.
"""

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_proxy  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TEST_SECONDS = 15  # per-test bound (SIGALRM)
ECS = "AmazonEC2ContainerServiceV20141113"
UA = "aws-sdk-rust/1.3.9 os/linux lang/rust/1.95.0 app/op-a"


class Echo(BaseHTTPRequestHandler):
    """Echoes method, path, body and headers as JSON; counts hits; X-Want-Status sets the status."""
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def handle_one(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.hits += 1
        out = json.dumps({"method": self.command, "path": self.path,
                          "body": body.decode(), "headers": dict(self.headers.items())}).encode()
        self.send_response(int(self.headers.get("X-Want-Status") or 200))
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Echo", "yes")
        if self.path == "/chunked":  # the proxy must answer with a Content-Length instead
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(out), 7):
                part = out[i:i + 7]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = handle_one


def json_req(op="CreateService", prefix=ECS, ua=UA):
    return ("POST", "/", json.dumps({"cluster": "c"}).encode(),
            {"X-Amz-Target": f"{prefix}.{op}", "Content-Type": "application/x-amz-json-1.1",
             "User-Agent": ua})


def query_req(action="CreateTargetGroup"):
    return ("POST", "/", f"Action={action}&Version=2015-12-01&Name=tg".encode(),
            {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
             "x-amz-user-agent": "aws-sdk-rust/1.3.9 app/op-b"})


class ProxyTest(unittest.TestCase):
    def setUp(self):
        signal.signal(signal.SIGALRM, self._timeout)
        signal.alarm(TEST_SECONDS)
        self.upstream = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
        self.upstream.daemon_threads = True
        self.upstream.lock, self.upstream.hits = threading.Lock(), 0
        self._serve(self.upstream)
        self.tmp = tempfile.TemporaryDirectory()
        self.proxies = []
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        for s in self.proxies + [self.upstream]:
            s.shutdown()
            s.server_close()
        self.tmp.cleanup()
        signal.alarm(0)

    @staticmethod
    def _timeout(signum, frame):
        raise TimeoutError(f"test took longer than {TEST_SECONDS} s")

    def _serve(self, server):
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def proxy(self, seed=1, name="calls.jsonl", **rates):
        calls = os.path.join(self.tmp.name, name)
        p = fault_proxy.make_server(0, f"http://127.0.0.1:{self.upstream.server_address[1]}",
                                    seed, rates, calls)
        self.proxies.append(p)
        self._serve(p)
        conn = http.client.HTTPConnection("127.0.0.1", p.server_address[1], timeout=5)
        self.conns.append(conn)
        return p, conn, calls

    @staticmethod
    def send(conn, req):
        method, path, body, headers = req
        conn.request(method, path, body, headers)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()

    @staticmethod
    def log(calls):
        with open(calls) as f:
            return sorted((json.loads(line) for line in f), key=lambda e: e["seq"])

    def test_forwarding_preserves_status_headers_body(self):
        _, conn, calls = self.proxy()
        method, path, body, headers = json_req()
        headers = dict(headers, **{"X-Want-Status": "201", "Keep-Alive": "300",
                                   "Proxy-Authorization": "x", "X-Custom": "v"})
        status, h, out = self.send(conn, (method, "/some/path?q=1", body, headers))
        self.assertEqual(status, 201)
        self.assertEqual(h["X-Echo"], "yes")
        self.assertEqual(int(h["Content-Length"]), len(out))
        echo = json.loads(out)
        self.assertEqual((echo["method"], echo["path"], echo["body"]),
                         ("POST", "/some/path?q=1", body.decode()))
        seen = {k.lower(): v for k, v in echo["headers"].items()}
        self.assertEqual(seen["x-custom"], "v")
        self.assertEqual(seen["x-amz-target"], f"{ECS}.CreateService")
        self.assertNotIn("keep-alive", seen)
        self.assertNotIn("proxy-authorization", seen)
        # A chunked upstream answer reaches the client with a correct Content-Length,
        # on the same keep-alive client connection.
        status, h, out = self.send(conn, ("PUT", "/chunked", b"abc", {}))
        self.assertEqual(status, 200)
        self.assertNotIn("Transfer-Encoding", h)
        self.assertEqual(int(h["Content-Length"]), len(out))
        self.assertEqual(json.loads(out)["body"], "abc")
        self.assertEqual(self.upstream.hits, 2)

    def test_zero_rates_fault_nothing(self):
        p, conn, calls = self.proxy()
        for i in range(30):
            status, _, _ = self.send(conn, json_req() if i % 2 else query_req())
            self.assertEqual(status, 200)
        self.assertEqual(self.upstream.hits, 30)
        self.assertEqual({e["fault"] for e in self.log(calls)}, {"none"})
        self.assertEqual(p.stats["forwarded"], 30)

    def test_throttle_json_and_query(self):
        _, conn, calls = self.proxy(throttle=1)
        status, h, out = self.send(conn, json_req())
        self.assertEqual(status, 400)
        self.assertEqual(h["Content-Type"], "application/x-amz-json-1.1")
        self.assertEqual(h["x-amzn-ErrorType"], "ThrottlingException")
        self.assertTrue(h["x-amzn-RequestId"])
        self.assertEqual(json.loads(out), {"__type": "ThrottlingException", "message": "Rate exceeded"})
        status, h, out = self.send(conn, query_req())
        self.assertEqual(status, 400)
        self.assertEqual(h["Content-Type"], "text/xml")
        text = out.decode()
        self.assertIn("<Code>Throttling</Code>", text)
        self.assertIn("<Type>Sender</Type>", text)
        self.assertIn('xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"', text)
        self.assertEqual(self.upstream.hits, 0)
        # A request that is not a known AWS operation is never faulted.
        status, _, _ = self.send(conn, ("GET", "/health", b"", {}))
        self.assertEqual(status, 200)
        self.assertEqual([e["fault"] for e in self.log(calls)], ["throttle", "throttle", "none"])

    def test_error_before_and_after(self):
        _, conn, calls = self.proxy(seed=7, error=1)
        for i in range(40):
            status, h, out = self.send(conn, json_req() if i % 2 else query_req())
            self.assertEqual(status, 500)
            if i % 2:
                self.assertEqual(h["x-amzn-ErrorType"], "ServerException")
                self.assertEqual(json.loads(out)["__type"], "ServerException")
            else:
                self.assertIn("<Code>InternalFailure</Code>", out.decode())
                self.assertIn("<Type>Receiver</Type>", out.decode())
        faults = [e["fault"] for e in self.log(calls)]
        after = faults.count("error-after")
        self.assertEqual(after + faults.count("error-before"), 40)
        self.assertGreater(after, 0)
        self.assertLess(after, 40)
        self.assertEqual(self.upstream.hits, after)

    def _sequence(self, seed, name):
        _, conn, calls = self.proxy(seed=seed, name=name, throttle=0.3, error=0.2)
        for i in range(200):
            self.send(conn, json_req() if i % 3 else query_req())
        return [(e["seq"], e["fault"], e["status"]) for e in self.log(calls)]

    def test_same_seed_same_sequence(self):
        a, b = self._sequence(42, "a.jsonl"), self._sequence(42, "b.jsonl")
        c = self._sequence(43, "c.jsonl")
        self.assertEqual(len(a), 200)
        self.assertEqual(a, b)
        self.assertNotEqual(a, c)
        self.assertEqual(len({f for _, f, _ in a}), 4)  # all fault kinds occur

    def test_concurrent_clients_keep_decisions_per_index(self):
        sequential = [(s, f) for s, f, _ in self._sequence(5, "seq.jsonl")]
        p, _, calls = self.proxy(seed=5, name="conc.jsonl", throttle=0.3, error=0.2)

        def client(n):
            conn = http.client.HTTPConnection("127.0.0.1", p.server_address[1], timeout=5)
            try:
                for i in range(n):
                    self.send(conn, json_req() if i % 2 else query_req())
            finally:
                conn.close()

        threads = [threading.Thread(target=client, args=(25,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
        self.assertEqual([(e["seq"], e["fault"]) for e in self.log(calls)], sequential)

    def test_stats_match_call_log(self):
        p, conn, calls = self.proxy(seed=3, throttle=0.3, error=0.3, delay=0.1, delay_seconds=0.01)
        reqs = [json_req("CreateService"), json_req("RegisterScalableTarget", "AnyScaleFrontendService"),
                query_req("CreateTargetGroup"), ("GET", "/other", b"", {})]
        for i in range(60):
            self.send(conn, reqs[i % 4])
        status, _, out = self.send(conn, ("GET", "/__proxy/stats", b"", {}))
        self.assertEqual(status, 200)
        stats = json.loads(out)
        log = self.log(calls)
        self.assertEqual(stats["requests"], len(log))
        self.assertEqual(len(log), 60)  # control requests are not logged
        self.assertEqual(stats["forwarded"], self.upstream.hits)
        expected = {}
        for e in log:
            key = f"{e['service']}:{e['operation']}" if e["service"] else "unknown"
            op = expected.setdefault(key, {"calls": 0, "throttle": 0, "bucket": 0, "error_before": 0,
                                           "error_after": 0, "delayed": 0})
            op["calls"] += 1
            if e["fault"] != "none":
                op[e["fault"].replace("-", "_")] += 1
            op["delayed"] += e["delayed"]
            self.assertLessEqual(e["t"], e["t_end"])
        self.assertEqual(stats["by_operation"], expected)
        self.assertEqual(set(expected), {"ecs:CreateService", "unknown",
                                         "application-autoscaling:RegisterScalableTarget",
                                         "elasticloadbalancing:CreateTargetGroup"})

    def test_app_id_and_operation_parsed(self):
        _, conn, calls = self.proxy()
        self.send(conn, json_req())
        self.send(conn, query_req("DescribeTargetGroups"))
        self.send(conn, json_req(ua="aws-sdk-rust/1.3.9 os/linux"))
        a, b, c = self.log(calls)
        self.assertEqual((a["service"], a["operation"], a["app"]), ("ecs", "CreateService", "op-a"))
        self.assertEqual((b["service"], b["operation"], b["app"]),
                         ("elasticloadbalancing", "DescribeTargetGroups", "op-b"))
        self.assertIsNone(c["app"])
        self.assertEqual((a["names"], b["names"]), ([], []))

    def test_ecs_service_and_elb_names_logged(self):
        _, conn, calls = self.proxy()
        for doc in ({"cluster": "c", "services": ["a", "arn:aws:ecs:r:1:service/c/b"]},
                    {"cluster": "c", "serviceName": "new"}, {"cluster": "c", "service": "old"}, ["odd"]):
            method, path, _, headers = json_req()
            self.send(conn, (method, path, json.dumps(doc).encode(), headers))
        self.send(conn, ("POST", "/", b"Action=DescribeTargetGroups&Version=2015-12-01&Names.member.1=tg-a"
                                      b"&Names.member.2=tg-b", {"Content-Type": "application/x-www-form-urlencoded"}))
        self.assertEqual([e["names"] for e in self.log(calls)],
                         [["a", "arn:aws:ecs:r:1:service/c/b"], ["new"], ["old"], [], ["tg-a", "tg-b"]])

    def test_rates_endpoint_changes_behaviour(self):
        _, conn, _ = self.proxy(throttle=1)
        self.assertEqual(self.send(conn, json_req())[0], 400)
        status, _, out = self.send(conn, ("POST", "/__proxy/rates",
                                          json.dumps({"throttle": 0, "error": 0, "delay": 0}).encode(),
                                          {"Content-Type": "application/json"}))
        self.assertEqual(status, 200)
        rates = json.loads(out)
        self.assertEqual((rates["throttle"], rates["error"], rates["delay"]), (0, 0, 0))
        self.assertEqual(self.send(conn, json_req())[0], 200)
        self.assertEqual(self.upstream.hits, 1)
        status, _, _ = self.send(conn, ("POST", "/__proxy/rates", b'{"throttle": 2}', {}))
        self.assertEqual(status, 400)

    def test_delay_honoured(self):
        _, conn, calls = self.proxy(delay=1, delay_seconds=0.2)
        start = time.monotonic()
        self.assertEqual(self.send(conn, json_req())[0], 200)
        self.assertGreaterEqual(time.monotonic() - start, 0.15)
        (e,) = self.log(calls)
        self.assertTrue(e["delayed"])
        self.assertGreaterEqual(e["t_end"] - e["t"], 0.15)

    def test_command_line_protocol_and_sigterm(self):
        up = f"http://127.0.0.1:{self.upstream.server_address[1]}"
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fault_proxy.py"), "--port", "0",
                                 "--upstream", up, "--seed", "42", "--throttle", "0"],
                                stdout=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            self.assertRegex(line, r"^listening on 127\.0\.0\.1:\d+\n$")
            port = int(line.rsplit(":", 1)[1])
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            self.conns.append(conn)
            self.assertEqual(self.send(conn, json_req())[0], 200)
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=5), 0)
            self.assertEqual(proc.stdout.read(), "")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()


class BucketsTest(unittest.TestCase):
    """AWS's own throttling: a token bucket per group, refilled over time."""

    def test_a_bucket_empties_after_its_capacity_and_refills_at_its_rate(self):
        now = [100.0]
        b = fault_proxy.Buckets([{"name": "service-write", "capacity": 3, "refill": 2,
                                  "operations": ["ecs:CreateService", "ecs:UpdateService"]}],
                                clock=lambda: now[0])
        self.assertEqual([b.take("ecs:CreateService") for _ in range(4)], [True, True, True, False])
        self.assertFalse(b.take("ecs:UpdateService"), "one bucket for the whole group")
        self.assertTrue(b.take("ecs:DescribeServices"), "an operation in no bucket is never throttled")
        now[0] += 0.5  # one token at 2 a second
        self.assertEqual([b.take("ecs:UpdateService") for _ in range(2)], [True, False])
        now[0] += 60  # never more than the capacity
        self.assertEqual(sum(b.take("ecs:CreateService") for _ in range(10)), 3)

    def test_an_operation_in_two_buckets_needs_a_token_of_each(self):
        now = [0.0]
        b = fault_proxy.Buckets([{"name": "account", "capacity": 3, "refill": 1, "operations": ["elb:A", "elb:B"]},
                                 {"name": "mutating", "capacity": 1, "refill": 1, "operations": ["elb:B"]}],
                                clock=lambda: now[0])
        self.assertEqual([b.take("elb:B"), b.take("elb:B")], [True, False])
        self.assertEqual([b.take("elb:A"), b.take("elb:A"), b.take("elb:A")], [True, True, False],
                         "a refused request takes no token from its other buckets")

    def test_a_bucket_without_tokens_or_named_twice_is_refused(self):
        with self.assertRaises(ValueError):
            fault_proxy.Buckets([{"name": "a", "capacity": 0, "refill": 1, "operations": []}])
        with self.assertRaises(ValueError):
            fault_proxy.Buckets([{"name": "a", "capacity": 1, "refill": 1, "operations": []}] * 2)

    def test_the_published_buckets_file_loads(self):
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "aws_buckets.json")
        with open(path, encoding="utf-8") as f:
            b = fault_proxy.Buckets(json.load(f)["buckets"])
        self.assertEqual(b.groups_of["ecs:DescribeServices"], b.groups_of["ecs:ListServices"])
        self.assertEqual(len(b.groups_of["elasticloadbalancing:DescribeRules"]), 2)


if __name__ == "__main__":
    unittest.main()
