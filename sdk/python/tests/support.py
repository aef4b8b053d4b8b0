"""Test support: a tiny scripted HTTP receiver, and the real collector on
free ports with its own PostgreSQL schema and Redis prefix."""

import http.server
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SDK = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(SDK))
sys.path.insert(0, SDK)

PG_HOST = os.environ.get("ANALYTICS_TEST_PGHOST", "127.0.0.1")
PG_USER = os.environ.get("ANALYTICS_TEST_PGUSER", "postgres")
PG_DB = os.environ.get("ANALYTICS_TEST_PGDATABASE", "test")
REDIS_ADDR = os.environ.get("ANALYTICS_TEST_REDIS_ADDR", "127.0.0.1:6379")


class FakeReceiver:
    """A /v1/batch receiver on a free port. ``answer(calls, n)`` decides each
    answer (n = 0, 1, …): (status, headers, body dict); default 200. Every
    request's time, headers and calls are kept in ``requests``."""

    def __init__(self, answer=None):
        self.answer = answer or (lambda calls, n: (200, {}, {"success": True}))
        self.requests = []
        self.lock = threading.Lock()
        self.gate = threading.Event()  # cleared: requests wait (a stalled collector)
        self.gate.set()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.gate.wait(30)
                doc = json.loads(body)
                with outer.lock:
                    n = len(outer.requests)
                    outer.requests.append({"time": time.monotonic(), "path": self.path,
                                           "headers": dict(self.headers), "doc": doc})
                status, headers, resp = outer.answer(doc["batch"], n)
                data = json.dumps(resp).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def calls(self):
        with self.lock:
            return [c for r in self.requests for c in r["doc"]["batch"]]

    def close(self):
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(sql, schema=None):
    """Run sql with psql; returns the rows (tab-separated fields)."""
    env = dict(os.environ)
    if schema:
        env["PGOPTIONS"] = "-c search_path=" + schema
    out = subprocess.run(
        ["psql", "-h", PG_HOST, "-U", PG_USER, "-d", PG_DB, "-X", "-q", "-A", "-t", "-F", "\t",
         "-v", "ON_ERROR_STOP=1", "-c", sql],
        env=env, check=True, capture_output=True, text=True, timeout=60).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def redis_cli(*args):
    host, port = REDIS_ADDR.rsplit(":", 1)
    return subprocess.run(["redis-cli", "-h", host, "-p", port] + list(args),
                           check=True, capture_output=True, text=True, timeout=60).stdout


def delete_redis_prefix(prefix):
    keys = [k for k in redis_cli("--scan", "--pattern", prefix + "*").split() if k]
    for i in range(0, len(keys), 500):
        redis_cli("DEL", *keys[i:i + 500])
    return len(keys)


def _die_with_parent():
    """In the child: SIGKILL it when this test process dies (a killed test
    run leaves no collector behind). Linux only; elsewhere a no-op."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def collector_binary():
    """OTELCOL_ANALYTICS_BIN (as `make test` sets it); the test is skipped,
    saying so, when it is unset."""
    b = os.environ.get("OTELCOL_ANALYTICS_BIN")
    if not b:
        raise unittest.SkipTest("OTELCOL_ANALYTICS_BIN is not set: run `make test` (it builds bin/otelcol-analytics) "
                                "or set it to a built collector to run the tests against the real collector")
    if not os.access(b, os.X_OK):
        raise AssertionError("OTELCOL_ANALYTICS_BIN=%s is not an executable" % b)
    return b


class Collector:
    """The real collector, default configuration, with a schema, a Redis
    prefix, a queue directory and ports of its own. start() / kill() /
    start() again reuses all of them (a restart)."""

    def __init__(self):
        self.binary = collector_binary()
        self.config = os.environ.get("OTELCOL_ANALYTICS_CONFIG", os.path.join(REPO, "otelcol-config.yaml"))
        self.schema = "t_py_" + secrets.token_hex(6)
        self.prefix = "test:py%s:" % secrets.token_hex(6)
        self.work = tempfile.mkdtemp(prefix="otelcol-analytics-py-")
        self.ports = {k: free_port() for k in ("otlp_grpc", "otlp_http", "track", "stats", "health", "pprof", "telemetry")}
        self.track_url = "http://127.0.0.1:%d" % self.ports["track"]
        self.stats_url = "http://127.0.0.1:%d" % self.ports["stats"]
        self.proc = None
        self.log = None
        psql("CREATE SCHEMA " + self.schema)
        dsn = "postgres://%s@%s:5432/%s?sslmode=disable&search_path=%s" % (PG_USER, PG_HOST, PG_DB, self.schema)
        host, port = REDIS_ADDR.rsplit(":", 1)
        a = lambda k: "127.0.0.1:%d" % self.ports[k]
        self.env = dict(os.environ)
        self.env.update({
            "ANALYTICS_POSTGRES_DSN": dsn,
            "ANALYTICS_STATS_POSTGRES_DSN": dsn,
            "ANALYTICS_REDIS_ADDR": "%s:%s" % (host, port),
            "ANALYTICS_REDIS_DB": "0",
            "ANALYTICS_REDIS_PASSWORD": "",
            "ANALYTICS_REDIS_PREFIX": self.prefix,
            "ANALYTICS_TIMEZONE": "Asia/Shanghai",
            "ANALYTICS_CATALOG_FILE": "",
            "ANALYTICS_OTLP_GRPC_ENDPOINT": a("otlp_grpc"),
            "ANALYTICS_OTLP_HTTP_ENDPOINT": a("otlp_http"),
            "ANALYTICS_TRACK_ENDPOINT": a("track"),
            "ANALYTICS_STATS_ENDPOINT": a("stats"),
            "ANALYTICS_STATS_TOKEN": "",
            "ANALYTICS_QUEUE_DIR": os.path.join(self.work, "queue"),
            "ANALYTICS_HEALTH_ENDPOINT": a("health"),
            "ANALYTICS_PPROF_ENDPOINT": a("pprof"),
            "ANALYTICS_TELEMETRY_PORT": str(self.ports["telemetry"]),
        })

    def start(self, timeout=60):
        self.log = open(os.path.join(self.work, "collector.log"), "ab")
        self.proc = subprocess.Popen([self.binary, "--config", self.config], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError("the collector exited with %s:\n%s" % (self.proc.returncode, self.log_tail()))
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/" % self.ports["health"], timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("the collector did not become healthy in %ss:\n%s" % (timeout, self.log_tail()))

    def kill(self):
        """SIGKILL: nothing flushed, the persistent queue as it is on disk."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)
        if self.log:
            self.log.close()
            self.log = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        if self.log:
            self.log.close()
            self.log = None

    def log_tail(self, n=4000):
        try:
            with open(os.path.join(self.work, "collector.log"), "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def close(self):
        self.stop()
        try:
            psql("DROP SCHEMA IF EXISTS %s CASCADE" % self.schema)
        finally:
            delete_redis_prefix(self.prefix)
            shutil.rmtree(self.work, ignore_errors=True)

    def sql(self, q):
        return psql(q, self.schema)

    def wait_stored(self, n, timeout=60):
        """Wait until analytics_events has n rows and the Redis outbox is
        empty; returns (rows, distinct ids)."""
        end = time.monotonic() + timeout
        rows = None
        while time.monotonic() < end:
            rows = self.sql("SELECT (SELECT count(*) FROM analytics_events), (SELECT count(DISTINCT event_id) FROM analytics_events),"
                            " (SELECT count(*) FROM analytics_redis_outbox)")
            total, distinct, outbox = (int(x) for x in rows[0])
            if total >= n and outbox == 0:
                return total, distinct
            time.sleep(0.1)
        raise AssertionError("after %ss: %r of %d events stored (rows, distinct, outbox)\n%s" % (timeout, rows, n, self.log_tail()))

    def redis_hash(self, key):
        """HGETALL of prefix+key as a dict."""
        out = redis_cli("HGETALL", self.prefix + key)
        lines = out.splitlines()
        return dict(zip(lines[0::2], lines[1::2]))
