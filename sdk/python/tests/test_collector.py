"""AnalyticsTracker against the real collector (OTELCOL_ANALYTICS_BIN): every
event stored and counted exactly once, through a collector restart, and the
demo's simulated month end to end."""

import asyncio
import datetime
import json
import os
import random
import shutil
import subprocess
import threading
import time
import unittest
import urllib.request

from support import REPO, Collector

from otelcol_analytics import AnalyticsTracker, BusinessStats, events

UTC = datetime.timezone.utc

# One event of each catalog event, with its required attributes (ids vary).
REQUIRED_VALUES = {
    "session_id": "s", "agent_id": "agent-01", "to_agent_id": "agent-02", "ticket_id": "t", "to_status": "online",
    "response_time_ms": 1200, "wait_duration_seconds": 20.5, "handle_duration_seconds": 300,
    "resolution_duration_hours": 3.5, "sla_met": True,
}


def props(name, i):
    p = {}
    for attr in events.REQUIRED[name]:
        v = REQUIRED_VALUES[attr]
        p[attr] = "%s-%d" % (v, i) if isinstance(v, str) and attr.endswith("_id") and attr != "agent_id" else v
    return p


class CollectorCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.col = Collector()
        try:
            cls.col.start()
        except BaseException:
            cls.col.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.col.close()

    def tracker(self, **kw):
        kw.setdefault("flush_interval", 0.2)
        kw.setdefault("backoff_base", 0.05)
        kw.setdefault("backoff_max", 0.5)
        kw.setdefault("shutdown_timeout", 30)
        return AnalyticsTracker(endpoint=self.col.track_url, **kw)

    def stored_ids(self):
        return {r[0] for r in self.col.sql("SELECT event_id FROM analytics_events")}


class TestExactlyOnce(CollectorCase):
    def test_every_event_once_resends_included(self):
        t = self.tracker(buffer_size=5000)
        rng = random.Random(7)
        base = datetime.datetime(2026, 11, 3, 2, 0, tzinfo=UTC)  # 2026-11-03 10:00 in Asia/Shanghai
        sent = []
        for i in range(1500):
            name = events.EVENT_NAMES[i % len(events.EVENT_NAMES)]
            at = base + datetime.timedelta(seconds=37 * i)
            mid = t.track_nowait(name, props(name, i), timestamp=at, user_id="c-%d" % (i % 50))
            self.assertIsNotNone(mid)
            sent.append((name, mid, at, props(name, i)))
        # 150 resends: same messageId (and content), as a client does after a timeout.
        for name, mid, at, p in rng.sample(sent, 150):
            t.track_nowait(name, p, timestamp=at, message_id=mid, user_id="c-%d" % (sent.index((name, mid, at, p)) % 50))
        self.assertTrue(t.close(30))
        self.assertEqual((t.sent, t.rejected, t.dropped, t.failed, t.invalid), (1650, 0, 0, 0, 0))

        total, distinct = self.col.wait_stored(1500)
        self.assertEqual((total, distinct), (1500, 1500))
        self.assertEqual(self.stored_ids(), {m for _, m, _, _ in sent})
        self.assertEqual(self.col.sql("SELECT count(*) FROM analytics_rejected_events"), [["0"]])
        by_name = dict((n, int(c)) for n, c in self.col.sql("SELECT event_name, count(*) FROM analytics_events GROUP BY 1"))
        self.assertEqual(by_name, {n: sum(1 for s in sent if s[0] == n) for n in events.EVENT_NAMES})
        # The product of each event is the catalog's, and the call's time is the event's.
        rows = self.col.sql("SELECT product, count(*) FROM analytics_events GROUP BY 1 ORDER BY 1")
        want_chatbot = sum(1 for s in sent if events.PRODUCT_OF[s[0]] == "ai_chatbot")
        self.assertEqual(rows, [["agent_workbench", str(1500 - want_chatbot)], ["ai_chatbot", str(want_chatbot)]])
        name, mid, at, _ = sent[100]
        (row,) = self.col.sql("SELECT event_name, to_char(event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM analytics_events WHERE event_id = '%s'" % mid)
        self.assertEqual(row, [name, at.strftime("%Y-%m-%d %H:%M:%S")])

        # Redis counts them once: <prefix>monthly:<month>, field <event>:events.
        counts = self.col.redis_hash("monthly:2026-11")
        self.assertEqual({k[:-len(":events")]: int(v) for k, v in counts.items() if k.endswith(":events")}, by_name)

        # The stats service counts them once too (read with the package's BusinessStats).
        bs = BusinessStats(self.col.stats_url)

        async def read():
            return await bs.get_monthly_summary("2026-11"), await bs.get_ticket_metrics("2026-11")

        summary, tickets = asyncio.run(read())
        starts = by_name["session.start"]
        self.assertEqual(summary["total_customers_served"], starts, summary)
        self.assertEqual(summary["escalations"], by_name["session.escalate"], summary)
        self.assertEqual(summary["messages"], by_name["session.message"], summary)
        self.assertEqual((tickets["tickets_created"], tickets["tickets_resolved"], tickets["sla_met"]),
                         (by_name["ticket.created"], by_name["ticket.closed"], by_name["ticket.closed"]), tickets)


class TestRefused(CollectorCase):
    def test_refused_calls_are_kept_as_rejected(self):
        t = self.tracker()
        ok = t.track_nowait("session.start", {"session_id": "r-1"}, timestamp="2026-10-05T01:00:00Z")
        unknown = t.track_nowait("session.unknown", {"session_id": "r-2"}, timestamp="2026-10-05T01:00:00Z")
        missing = t.track_nowait("ticket.closed", {"ticket_id": "r-3"}, timestamp="2026-10-05T01:00:00Z")
        self.assertTrue(t.close(30))
        self.assertEqual(t.sent, 3)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            rej = dict(self.col.sql("SELECT event_id, reason FROM analytics_rejected_events WHERE event_id IN ('%s', '%s')" % (unknown, missing)))
            if len(rej) == 2:
                break
            time.sleep(0.1)
        self.assertEqual(set(rej), {unknown, missing}, self.col.log_tail())
        self.assertEqual(self.col.sql("SELECT count(*) FROM analytics_events WHERE event_id = '%s'" % ok), [["1"]])


class TestRestart(CollectorCase):
    def test_kill_and_restart_mid_stream(self):
        """SIGKILL the collector while the tracker sends, keep tracking,
        start it again on the same queue directory and ports: every event is
        stored once."""
        t = self.tracker(buffer_size=20000, batch_size=100, flush_interval=0.05)
        ids = []
        stop = threading.Event()
        base = datetime.datetime(2026, 10, 10, 3, 0, tzinfo=UTC)

        def produce():
            i = 0
            while not stop.is_set() or i < 3000:
                name = events.EVENT_NAMES[i % len(events.EVENT_NAMES)]
                ids.append(t.track_nowait(name, props(name, i), timestamp=base + datetime.timedelta(seconds=i)))
                i += 1
                if i % 50 == 0:
                    time.sleep(0.02)  # ~2,500 events/s

        th = threading.Thread(target=produce)
        th.start()
        try:
            deadline = time.monotonic() + 20
            while t.sent < 600 and time.monotonic() < deadline:
                time.sleep(0.01)
            self.assertGreaterEqual(t.sent, 600)
            sent_before = t.sent
            self.col.kill()
            time.sleep(1.0)  # still tracking, nobody listening
            self.assertGreater(len(ids), sent_before)
            self.col.start()
            stop.set()
        finally:
            stop.set()
            th.join(30)
        self.assertTrue(t.close(30))
        n = len(ids)
        self.assertGreaterEqual(n, 3000)
        self.assertEqual(len(set(ids)), n)
        self.assertNotIn(None, ids)
        self.assertEqual((t.sent, t.dropped, t.failed), (n, 0, 0))
        self.assertGreater(t.retries, 0)  # the outage was seen
        total, distinct = self.col.wait_stored(n)
        self.assertEqual((total, distinct), (n, n))
        self.assertEqual(self.stored_ids(), set(ids))
        self.assertEqual(self.col.sql("SELECT count(*) FROM analytics_rejected_events"), [["0"]])


class TestSeedMonth(CollectorCase):
    """The demo's simulated month (internal/simulate, seed 1, 5 % resends)
    replayed through the tracker with the events' own ids and times; the
    case study must equal the demo's expectation field by field."""

    MONTH, SCALE = "2025-12", os.environ.get("ANALYTICS_PY_MONTH_SCALE", "20")

    def monthdump(self, *args):
        go = os.environ.get("GO") or shutil.which("go")
        if not go:
            raise unittest.SkipTest("no go on PATH: the month is generated by sdk/python/internal/monthdump")
        exe = os.path.join(self.col.work, "monthdump")
        if not os.path.exists(exe):
            subprocess.run([go, "build", "-o", exe, "./sdk/python/internal/monthdump"], cwd=REPO, check=True, timeout=300)
        return subprocess.run([exe, "-month", self.MONTH, "-scale", self.SCALE] + list(args),
                              capture_output=True, text=True, timeout=120)

    def test_month_case_study(self):
        path = os.path.join(self.col.work, "month.jsonl")
        r = self.monthdump("-events", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        summary = json.loads(r.stdout)
        t = self.tracker(buffer_size=100000, batch_size=500)  # a bulk replay: room for the whole month
        with open(path) as f:
            for line in f:
                ev = json.loads(line)
                mid = t.track_nowait(ev["event"], ev["properties"], timestamp=ev["timestamp"],
                                     message_id=ev["message_id"], product=ev["product"])
                self.assertEqual(mid, ev["message_id"])
        self.assertTrue(t.close(60))
        self.assertEqual((t.sent, t.rejected, t.dropped, t.failed), (summary["events"], 0, 0, 0))
        total, distinct = self.col.wait_stored(summary["unique_events"])
        self.assertEqual((total, distinct), (summary["unique_events"],) * 2)
        by_name = dict((n, int(c)) for n, c in self.col.sql("SELECT event_name, count(*) FROM analytics_events GROUP BY 1"))
        self.assertEqual(by_name, summary["events_by_name"])

        with urllib.request.urlopen(self.col.stats_url + "/api/analytics/case-study?month=" + self.MONTH, timeout=30) as resp:
            body = resp.read()
        got = os.path.join(self.col.work, "case-study.json")
        with open(got, "wb") as f:
            f.write(body)
        r = self.monthdump("-compare", got)
        self.assertEqual(r.returncode, 0, "%s\n%s\ncase study: %s" % (r.stdout, r.stderr, body.decode()))
        self.assertIn("case-study fields equal the demo's expectation", r.stdout)
        cs = json.loads(body)
        self.assertEqual(cs["raw"]["ai_chatbot"]["total_customers_served"], summary["events_by_name"]["session.start"])
        self.assertEqual(cs["ai_chatbot"]["total_customers_served"], summary["events_by_name"]["session.start"])


if __name__ == "__main__":
    unittest.main()
