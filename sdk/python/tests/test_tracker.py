"""AnalyticsTracker against a tiny local receiver: wire format, batching,
retries, overflow, shutdown, never raising."""

import asyncio
import base64
import datetime
import logging
import os
import py_compile
import random
import subprocess
import sys
import tempfile
import time
import unittest
import uuid
from unittest import mock

from support import SDK, FakeReceiver

import otelcol_analytics
from otelcol_analytics import AnalyticsTracker, events
from otelcol_analytics import _transport


def tracker(url, **kw):
    kw.setdefault("flush_interval", 60.0)  # only full batches, flush() and stop() send
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("backoff_max", 0.05)
    kw.setdefault("shutdown_timeout", 5.0)
    return AnalyticsTracker(endpoint=url, **kw)


class TestWire(unittest.TestCase):
    def setUp(self):
        self.rx = FakeReceiver()
        self.addCleanup(self.rx.close)

    def test_batches_and_call_format(self):
        t = tracker(self.rx.url, write_key="wk_test", buffer_size=5000)
        before = datetime.datetime.now(datetime.timezone.utc)
        ids = [t.track_nowait("session.start" if i % 2 else "agent.login", {"session_id": "s-%d" % i, "agent_id": "a"})
               for i in range(1203)]
        self.assertTrue(t.close(10))
        after = datetime.datetime.now(datetime.timezone.utc)
        sizes = [len(r["doc"]["batch"]) for r in self.rx.requests]
        self.assertEqual(sorted(sizes, reverse=True), [500, 500, 203])
        calls = self.rx.calls()
        self.assertEqual([c["messageId"] for c in calls], ids)
        self.assertEqual(len(set(ids)), 1203)
        for i, c in enumerate(calls):
            self.assertEqual(uuid.UUID(c["messageId"]).version, 4)
            self.assertEqual(c["type"], "track")
            ts = datetime.datetime.fromisoformat(c["timestamp"].replace("Z", "+00:00"))
            self.assertTrue(before <= ts <= after, c["timestamp"])
            self.assertEqual(c["properties"], {"session_id": "s-%d" % i, "agent_id": "a"})
            want = "ai_chatbot" if i % 2 else "agent_workbench"  # the catalog's product of the event
            self.assertEqual(c["context"]["service"], {"name": want})
            self.assertEqual(c["context"]["library"]["name"], "otelcol-analytics-python")
        for r in self.rx.requests:
            self.assertEqual(r["path"], "/v1/batch")
            self.assertEqual(r["headers"]["Authorization"], "Basic " + base64.b64encode(b"wk_test:").decode())
            self.assertIn("sentAt", r["doc"])
        self.assertEqual(t.stats(), {"queued": 1203, "sent": 1203, "rejected": 0, "dropped": 0, "failed": 0,
                                     "invalid": 0, "retries": 0, "pending": 0})

    def test_options(self):
        t = tracker(self.rx.url, product="agent_workbench", context={"app": {"name": "desk"}})
        ts = datetime.datetime(2025, 12, 15, 8, 0, 0, 123456)  # naive: UTC
        t.track_nowait("session.start", {"session_id": "s"}, timestamp=ts, message_id="m-1", user_id="c-1")
        t.track_nowait("session.start", {"session_id": "s"}, timestamp="2025-12-15T16:00:00+08:00",
                       product="ai_chatbot", anonymous_id="anon")
        self.assertTrue(t.close())
        a, b = self.rx.calls()
        self.assertEqual((a["timestamp"], a["messageId"], a["userId"]), ("2025-12-15T08:00:00.123456Z", "m-1", "c-1"))
        self.assertEqual(a["context"]["service"]["name"], "agent_workbench")  # the tracker's product wins over the catalog
        self.assertEqual(a["context"]["app"], {"name": "desk"})
        self.assertEqual((b["timestamp"], b["anonymousId"]), ("2025-12-15T16:00:00+08:00", "anon"))
        self.assertEqual(b["context"]["service"]["name"], "ai_chatbot")

    def test_batch_bytes_stay_under_the_body_limit(self):
        t = tracker(self.rx.url, buffer_size=5000)
        big = "x" * 20000
        for i in range(60):
            t.track_nowait("session.start", {"session_id": str(i), "note": big})
        self.assertTrue(t.close())
        self.assertEqual(len(self.rx.calls()), 60)
        self.assertGreater(len(self.rx.requests), 2)
        for r in self.rx.requests:
            self.assertLessEqual(int(r["headers"]["Content-Length"]), 512000)

    def test_partial_batch_sent_after_flush_interval(self):
        t = tracker(self.rx.url, flush_interval=0.2)
        t.track_nowait("session.start", {"session_id": "s"})
        deadline = time.monotonic() + 5
        while t.sent == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(len(self.rx.calls()), 1)
        self.assertEqual(t.sent, 1)
        t.close()

    def test_endpoint_forms(self):
        for given, want in [("localhost:8091", "http://localhost:8091/v1/batch"),
                            ("http://h:1", "http://h:1/v1/batch"),
                            ("https://h/track/v1", "https://h/track/v1/batch"),
                            ("http://h:1/v1/batch", "http://h:1/v1/batch")]:
            self.assertEqual(_transport.batch_url(given), want)


class TestRetries(unittest.TestCase):
    def test_retry_after_and_same_ids(self):
        script = [(503, {"Retry-After": "1"}, {"success": False, "reason": "back_pressure"}),
                  (429, {}, {"success": False}),
                  (500, {}, {"success": False}),
                  (200, {}, {"success": True})]
        rx = FakeReceiver(lambda calls, n: script[min(n, 3)])
        self.addCleanup(rx.close)
        t = tracker(rx.url)
        ids = [t.track_nowait("session.start", {"session_id": str(i)}) for i in range(7)]
        with self.assertLogs("otelcol_analytics", "WARNING") as logs:
            self.assertTrue(t.close(10))
        self.assertEqual(len(rx.requests), 4)
        for r in rx.requests:
            self.assertEqual([c["messageId"] for c in r["doc"]["batch"]], ids)
        # The 503's Retry-After (1 s) is honoured although the backoff is 10 ms.
        self.assertGreaterEqual(rx.requests[1]["time"] - rx.requests[0]["time"], 0.95)
        self.assertLess(rx.requests[2]["time"] - rx.requests[1]["time"], 0.9)
        self.assertEqual((t.sent, t.retries, t.failed), (7, 3, 0))
        self.assertIn("retrying with the same ids", logs.output[0])

    def test_backoff_doubles_up_to_the_cap(self):
        rx = FakeReceiver(lambda calls, n: (502, {}, {}) if n < 6 else (200, {}, {"success": True}))
        self.addCleanup(rx.close)
        t = tracker(rx.url, backoff_base=0.05, backoff_max=0.2)
        with mock.patch.object(random, "random", return_value=1.0):  # no jitter: delay = the bound
            t.track_nowait("session.start", {"session_id": "s"})
            with self.assertLogs("otelcol_analytics", "WARNING"):
                self.assertTrue(t.close(10))
        gaps = [b["time"] - a["time"] for a, b in zip(rx.requests, rx.requests[1:])]
        want = [0.05, 0.1, 0.2, 0.2, 0.2, 0.2]
        self.assertEqual(len(gaps), len(want))
        for g, w in zip(gaps, want):
            self.assertGreaterEqual(g, w * 0.95)
        self.assertLess(gaps[0], gaps[2])
        self.assertEqual((t.sent, t.retries), (1, 6))

    def test_connection_refused_then_collector_appears(self):
        rx = FakeReceiver()
        url = rx.url
        rx.close()  # the port is free: connection refused
        t = tracker(url, backoff_base=0.05, backoff_max=0.1)
        t.track_nowait("session.start", {"session_id": "s"})
        with self.assertLogs("otelcol_analytics", "WARNING"):
            self.assertFalse(t.flush_blocking(0.5))
        self.assertGreater(t.retries, 1)
        self.assertEqual(t.sent, 0)
        t.close(0.2)  # gives up: nobody listens
        self.assertEqual(t.failed, 1)

    def test_400_is_not_resent(self):
        rx = FakeReceiver(lambda calls, n: (400, {}, {"success": False, "reason": "malformed_json", "message": "bad"}))
        self.addCleanup(rx.close)
        t = tracker(rx.url)
        for i in range(3):
            t.track_nowait("session.start", {"session_id": str(i)})
        with self.assertLogs("otelcol_analytics", "ERROR") as logs:
            t.close()
        self.assertEqual(len(rx.requests), 1)
        self.assertEqual((t.sent, t.failed, t.retries), (0, 3, 0))
        self.assertIn("HTTP 400 (malformed_json: bad)", logs.output[0])

    def test_413_splits_the_batch(self):
        rx = FakeReceiver(lambda calls, n: (413, {}, {"success": False}) if len(calls) > 2 else (200, {}, {"success": True}))
        self.addCleanup(rx.close)
        t = tracker(rx.url)
        ids = [t.track_nowait("session.start", {"session_id": str(i)}) for i in range(9)]
        self.assertTrue(t.close())
        delivered = [c["messageId"] for r in rx.requests if len(r["doc"]["batch"]) <= 2 for c in r["doc"]["batch"]]
        self.assertEqual(sorted(delivered), sorted(ids))
        self.assertEqual((t.sent, t.failed), (9, 0))

    def test_rejected_calls_are_counted(self):
        rx = FakeReceiver(lambda calls, n: (200, {}, {"success": True, "rejected": [
            {"index": 1, "reason": "event_too_large", "message": "batch[1]: too large"}]}))
        self.addCleanup(rx.close)
        t = tracker(rx.url)
        for i in range(3):
            t.track_nowait("session.start", {"session_id": str(i)})
        with self.assertLogs("otelcol_analytics", "WARNING") as logs:
            t.close()
        self.assertEqual((t.sent, t.rejected), (3, 1))
        self.assertIn("event_too_large", logs.output[0])


class TestOverflow(unittest.TestCase):
    def test_drops_are_counted_and_logged_once_per_episode(self):
        rx = FakeReceiver()
        self.addCleanup(rx.close)
        t = tracker(rx.url, buffer_size=10)
        with self.assertLogs("otelcol_analytics", "WARNING") as logs:
            got = [t.track_nowait("session.start", {"session_id": str(i)}) for i in range(25)]
        self.assertEqual(sum(g is not None for g in got), 10)
        self.assertTrue(all(g is None for g in got[10:]))
        self.assertEqual((t.queued, t.dropped), (10, 15))
        self.assertEqual(len(logs.output), 1)
        self.assertIn("buffer full (10 events", logs.output[0])
        self.assertTrue(t.flush_blocking(5))
        with self.assertLogs("otelcol_analytics", "WARNING") as logs:
            for i in range(12):  # room again (the end of episode 1 is logged), then episode 2
                t.track_nowait("session.start", {"session_id": "b%d" % i})
        self.assertEqual(len(logs.output), 2)
        self.assertIn("15 events were dropped", logs.output[0])
        self.assertIn("buffer full", logs.output[1])
        self.assertEqual(t.dropped, 17)
        t.close()
        self.assertEqual(len(rx.calls()), 20)
        self.assertEqual(t.sent, 20)

    def test_track_does_not_wait_for_a_stalled_collector(self):
        rx = FakeReceiver()
        self.addCleanup(rx.close)
        rx.gate.clear()  # every request hangs until the gate opens
        t = tracker(rx.url, buffer_size=100, batch_size=10, timeout=30)
        start = time.monotonic()
        with self.assertLogs("otelcol_analytics", "WARNING") as logs:
            for i in range(500):
                t.track_nowait("session.start", {"session_id": str(i)})
        elapsed = time.monotonic() - start
        self.assertEqual(len(logs.output), 1, logs.output)  # one episode, however the worker takes batches
        self.assertLess(elapsed, 2.0)  # not one request's wait (30 s)
        self.assertGreater(t.dropped, 0)
        self.assertLessEqual(t.queued, 100 + 10)  # the buffer, and the one batch in flight
        self.assertEqual(t.queued + t.dropped, 500)
        rx.gate.set()
        self.assertTrue(t.close(10))
        self.assertEqual(t.sent, t.queued)
        self.assertEqual(len(rx.calls()), t.queued)


class TestNeverRaises(unittest.TestCase):
    def setUp(self):
        self.rx = FakeReceiver()
        self.addCleanup(self.rx.close)

    def test_bad_calls_are_counted_not_raised(self):
        t = tracker(self.rx.url)
        with self.assertLogs("otelcol_analytics", "ERROR") as logs:
            self.assertIsNone(t.track_nowait("", {}))
            self.assertIsNone(t.track_nowait(None, {}))
            self.assertIsNone(t.track_nowait("session.start", ["not", "a", "dict"]))
            self.assertIsNone(t.track_nowait("session.start", ["again"]))  # same error: not logged again
            self.assertIsNone(t.track_nowait("session.start", {}, timestamp=12345))
        self.assertEqual(t.invalid, 5)
        self.assertEqual(len(logs.output), 4)
        # Values JSON cannot hold become something it can; NaN a string, so
        # the collector rejects (and keeps) that one event, not the batch.
        when = datetime.datetime(2025, 12, 1, tzinfo=datetime.timezone.utc)
        self.assertIsNotNone(t.track_nowait("session.message", {"session_id": "s", "response_time_ms": float("nan"),
                                                                  "at": when, "obj": object(), "tags": {"b"}}))
        self.assertTrue(t.close())
        (c,) = self.rx.calls()
        self.assertEqual(c["properties"]["response_time_ms"], "NaN")
        self.assertEqual(c["properties"]["at"], "2025-12-01T00:00:00.000000Z")
        self.assertEqual(c["properties"]["tags"], ["b"])
        self.assertTrue(c["properties"]["obj"].startswith("<object object"))

    def test_async_track_and_typed_helpers(self):
        t = tracker(self.rx.url)

        async def main():
            await t.start()
            a = await t.track("session.start", {"session_id": "s-1"})
            b = await t.session_start(session_id="s-2", channel="web")
            c = await t.ticket_closed(ticket_id="t-1", resolution_duration_hours=2.5, sla_met=False,
                                      timestamp="2025-12-02T00:00:00Z", message_id="fixed")
            d = await t.agent_session_transfer(agent_id="a1", to_agent_id="a2", session_id="s-3")
            self.assertTrue(await t.flush(5))
            ok = await t.stop()
            return [a, b, c, d], ok

        ids, ok = asyncio.run(main())
        self.assertTrue(ok)
        calls = self.rx.calls()
        self.assertEqual([x["messageId"] for x in calls], ids)
        self.assertEqual(calls[1]["properties"], {"session_id": "s-2", "channel": "web"})  # None options not sent
        self.assertEqual(calls[2]["properties"], {"ticket_id": "t-1", "resolution_duration_hours": 2.5, "sla_met": False})
        self.assertEqual((calls[2]["timestamp"], calls[2]["messageId"]), ("2025-12-02T00:00:00Z", "fixed"))
        self.assertEqual(calls[2]["context"]["service"]["name"], "agent_workbench")
        self.assertEqual(calls[3]["event"], "agent.session_transfer")
        with self.assertRaises(TypeError):  # a required attribute missing is a call error, like any Python function's
            asyncio.run(t.session_start(channel="web"))

    def test_generated_helpers_cover_the_catalog(self):
        self.assertEqual(len(events.EVENT_NAMES), 17)
        for name in events.EVENT_NAMES:
            method = getattr(AnalyticsTracker, name.replace(".", "_"))
            self.assertTrue(asyncio.iscoroutinefunction(method), name)
        self.assertEqual(events.REQUIRED[events.EVENT_TICKET_CLOSED], ("ticket_id", "resolution_duration_hours", "sla_met"))
        self.assertEqual(events.PRODUCT_OF["query.order"], events.PRODUCT_AI_CHATBOT)


class TestLifecycle(unittest.TestCase):
    def test_stop_flushes_and_track_restarts(self):
        rx = FakeReceiver()
        self.addCleanup(rx.close)
        t = tracker(rx.url)
        for i in range(5):
            t.track_nowait("session.start", {"session_id": str(i)})
        self.assertEqual(rx.calls(), [])  # flush_interval 60 s: nothing sent yet
        self.assertTrue(asyncio.run(t.stop()))
        self.assertEqual(len(rx.calls()), 5)
        t.track_nowait("session.start", {"session_id": "after"})  # starts a new worker
        self.assertTrue(t.close())
        self.assertEqual(len(rx.calls()), 6)

    def test_stop_gives_up_after_its_timeout(self):
        rx = FakeReceiver(lambda calls, n: (503, {"Retry-After": "1"}, {}))
        self.addCleanup(rx.close)
        t = tracker(rx.url)
        for i in range(4):
            t.track_nowait("session.start", {"session_id": str(i)})
        with self.assertLogs("otelcol_analytics", "ERROR") as logs:
            self.assertFalse(t.close(0.5))
        self.assertEqual((t.sent, t.failed), (0, 4))
        self.assertIn("4 events not delivered", logs.output[-1])

    def test_seed_module_usage_and_exit_flush(self):
        """The seed's code with one import changed: the shared module-level
        tracker, configured from the environment, no start() or stop(); the
        buffered events are sent at interpreter exit."""
        rx = FakeReceiver()
        self.addCleanup(rx.close)
        script = (
            "import asyncio\n"
            "from otelcol_analytics import tracker\n"
            "async def chat():\n"
            "    await tracker.track('session.start', {'session_id': 's-1001', 'channel': 'web'})\n"
            "    await tracker.track('agent.login', {'agent_id': 'agent-01'})\n"
            "asyncio.run(chat())\n"
        )
        env = dict(os.environ, PYTHONPATH=SDK, ANALYTICS_TRACK_ENDPOINT=rx.url, ANALYTICS_FLUSH_INTERVAL="60")
        subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=30)
        calls = rx.calls()
        self.assertEqual([(c["event"], c["context"]["service"]["name"]) for c in calls],
                         [("session.start", "ai_chatbot"), ("agent.login", "agent_workbench")])
        self.assertIs(otelcol_analytics.get_tracker(), otelcol_analytics.tracker)
        self.assertIsInstance(otelcol_analytics.tracker, AnalyticsTracker)

    def test_fastapi_example_compiles(self):
        with tempfile.TemporaryDirectory() as d:
            py_compile.compile(os.path.join(SDK, "examples", "fastapi_app.py"), cfile=os.path.join(d, "x.pyc"), doraise=True)


if __name__ == "__main__":
    logging.basicConfig()
    unittest.main()
