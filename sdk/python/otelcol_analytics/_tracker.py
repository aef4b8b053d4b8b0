"""AnalyticsTracker: the seed's tracker, sending to the collector's track API.

Business code calls ``await tracker.track(name, properties)`` (or the sync
``track_nowait``, or a typed helper such as ``await tracker.session_start(
session_id=...)``). The call gives the event its id (messageId, a uuid4) and
its time, turns it into JSON and appends it to an in-memory buffer: it never
blocks on the network and never raises. A worker thread takes batches off
the buffer, every ``flush_interval`` seconds or as soon as a full batch is
waiting, and POSTs them to the receiver's ``/v1/batch``; a batch the collector
did not take (429, 5xx, connection error) is resent with the same messageIds
after an exponential backoff (at least its Retry-After), so the collector,
which deduplicates by event id, stores and counts it once.
"""

import asyncio
import atexit
import collections
import datetime
import decimal
import enum
import json
import logging
import math
import os
import random
import threading
import time
import uuid
import weakref
from typing import Any, Dict, List, Mapping, Optional, Union

from . import _transport
from .events_gen import PRODUCT_OF, CatalogEvents

__all__ = ["AnalyticsTracker", "__version__"]

__version__ = "0.1.0"

logger = logging.getLogger("otelcol_analytics")

# The track receiver's limits (receiver/trackreceiver/README.md): calls per
# batch (max_batch_events) and bytes per body (max_request_body_size, 512000;
# we stay under it with room for the envelope).
MAX_BATCH_EVENTS = 500
MAX_BATCH_BYTES = 500_000

Timestamp = Union[datetime.datetime, str, None]

_UTC = datetime.timezone.utc


def _iso(t: datetime.datetime) -> str:
    """t as the receiver reads it; a naive datetime is UTC (the receiver's
    rule for a time without zone)."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=_UTC)
    return t.astimezone(_UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _json_default(v: Any) -> Any:
    if isinstance(v, datetime.datetime):
        return _iso(v)
    if isinstance(v, (datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, decimal.Decimal):
        return int(v) if v == v.to_integral_value() and v.is_finite() else float(v)
    if isinstance(v, (set, frozenset)):
        return sorted(v, key=repr)
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def _finite(v: Any) -> Any:
    """v with every non-finite float written as a string ("NaN"): JSON has no
    NaN, and a string makes the collector reject (and keep) the event instead
    of the whole batch failing to parse."""
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v).replace("inf", "Infinity").replace("nan", "NaN")
    if isinstance(v, Mapping):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def _dumps(doc: Dict[str, Any]) -> bytes:
    try:
        s = json.dumps(doc, default=_json_default, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        s = json.dumps(_finite(doc), default=_json_default, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    return s.encode("utf-8", "surrogatepass")


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


_live: "weakref.WeakSet[AnalyticsTracker]" = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for t in list(_live):
        t.close()


class AnalyticsTracker(CatalogEvents):
    """A buffered, non-blocking sender of business events to the collector's
    track receiver (Segment-compatible ``/v1/batch``).

    endpoint: host:port or URL of the receiver (default
        ``$ANALYTICS_TRACK_ENDPOINT`` or ``http://localhost:8091``).
    product: the product (service.name) of every event; left unset, each
        event goes out as the product the catalog gives it (session.* →
        ai_chatbot, agent.* and ticket.* → agent_workbench), so one tracker
        serves both products as in the seed. A write key mapped to a product
        wins over both at the collector.
    buffer_size: events waiting to be sent at most; more are dropped and
        counted in ``dropped``, and logged once per overflow episode (it ends
        when the buffer has drained to half).
    flush_interval: seconds between sends of a partial batch (a full batch
        of ``batch_size`` goes at once).
    write_key: sent as HTTP Basic user name (receiver ``write_keys``).
    batch_size: calls per request, at most the receiver's 500.
    timeout: seconds per HTTP request.
    backoff_base, backoff_max: the retry delay starts at backoff_base and
        doubles per failed attempt up to backoff_max (with jitter); a
        Retry-After longer than that is honoured.
    shutdown_timeout: how long stop()/close() keep delivering what is left.
    context: merged into every call's Segment ``context``.

    Counters (ints, read any time): ``queued`` (accepted into the buffer),
    ``sent`` (acknowledged by the collector), ``rejected`` (acknowledged but
    refused by the receiver, listed in its answer; stored as rejected events),
    ``dropped`` (buffer full), ``failed`` (given up: a permanent HTTP error,
    or still unsent at the end of shutdown_timeout), ``invalid`` (calls that
    could not be turned into an event), ``retries`` (resend attempts).
    """

    def __init__(
        self,
        endpoint: Optional[str] = None,
        product: Optional[str] = None,
        buffer_size: int = 1000,
        flush_interval: float = 5.0,
        write_key: Optional[str] = None,
        *,
        batch_size: int = MAX_BATCH_EVENTS,
        timeout: float = 10.0,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        shutdown_timeout: float = 10.0,
        context: Optional[Mapping[str, Any]] = None,
    ) -> None:
        if endpoint is None:
            endpoint = os.environ.get("ANALYTICS_TRACK_ENDPOINT") or "http://localhost:8091"
        self.url = _transport.batch_url(endpoint)
        self.product = product
        self.buffer_size = max(1, int(buffer_size))
        self.flush_interval = float(flush_interval)
        self.write_key = write_key
        self.batch_size = max(1, min(int(batch_size), MAX_BATCH_EVENTS))
        self.timeout = float(timeout)
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.shutdown_timeout = float(shutdown_timeout)
        self._context = dict(context or {})
        self._context.setdefault("library", {"name": "otelcol-analytics-python", "version": __version__})

        self.queued = 0
        self.sent = 0
        self.rejected = 0
        self.dropped = 0
        self.failed = 0
        self.invalid = 0
        self.retries = 0

        self._cond = threading.Condition(threading.Lock())
        self._buf: "collections.deque[bytes]" = collections.deque()
        self._inflight = 0
        self._thread: Optional[threading.Thread] = None
        self._stopping = False
        self._flush_now = False
        self._deadline: Optional[float] = None
        self._overflow = 0  # events dropped in the current overflow episode
        self._failed_at_stop = 0
        self._warned: set = set()

    @classmethod
    def from_env(cls, **overrides: Any) -> "AnalyticsTracker":
        """A tracker configured from ANALYTICS_TRACK_ENDPOINT, ANALYTICS_PRODUCT,
        ANALYTICS_TRACK_WRITE_KEY, ANALYTICS_BUFFER_SIZE and
        ANALYTICS_FLUSH_INTERVAL (the module-level ``tracker``)."""
        kw: Dict[str, Any] = {
            "endpoint": os.environ.get("ANALYTICS_TRACK_ENDPOINT") or None,
            "product": os.environ.get("ANALYTICS_PRODUCT") or None,
            "write_key": os.environ.get("ANALYTICS_TRACK_WRITE_KEY") or None,
            "buffer_size": int(_env_float("ANALYTICS_BUFFER_SIZE", 1000)),
            "flush_interval": _env_float("ANALYTICS_FLUSH_INTERVAL", 5.0),
        }
        kw.update(overrides)
        return cls(**kw)

    # ---- the business side: never blocks, never raises -------------------

    async def track(self, event_name: str, properties: Optional[Mapping[str, Any]] = None, **options: Any) -> Optional[str]:
        """The seed's ``await tracker.track(name, {...})``; see track_nowait."""
        return self.track_nowait(event_name, properties, **options)

    def track_nowait(
        self,
        event_name: str,
        properties: Optional[Mapping[str, Any]] = None,
        *,
        timestamp: Timestamp = None,
        message_id: Optional[str] = None,
        user_id: Optional[str] = None,
        anonymous_id: Optional[str] = None,
        product: Optional[str] = None,
        context: Optional[Mapping[str, Any]] = None,
    ) -> Optional[str]:
        """Buffer one event; returns its messageId, or None when it was not
        buffered (buffer full: counted in ``dropped``; not an event:
        ``invalid``). Safe from any thread and from sync code.

        timestamp: the event time (default: now); a datetime (naive = UTC) or
            an ISO-8601 string. message_id: the event id (default: a new
            uuid4); give the same id to make a resend harmless.
        user_id / anonymous_id: Segment's, stored as customer_id unless a
            property customer_id is set."""
        try:
            call = self._call(event_name, properties, timestamp, message_id, user_id, anonymous_id, product, context)
        except Exception as e:  # never into business code
            self._count_invalid(event_name, e)
            return None
        if call is None:
            return None
        body, mid = call
        ended = 0
        with self._cond:
            dropped = len(self._buf) >= self.buffer_size
            if dropped:
                self.dropped += 1
                self._overflow += 1
                first = self._overflow == 1
            else:
                first = False
                # An episode ends when the buffer has drained to half: a
                # buffer hovering at full is one episode, not one per batch.
                if self._overflow and len(self._buf) <= self.buffer_size // 2:
                    ended, self._overflow = self._overflow, 0
                self._buf.append(body)
                self.queued += 1
                if self._thread is None:
                    self._start_locked()
                elif len(self._buf) >= self.batch_size:
                    self._cond.notify_all()
        if first:
            logger.warning(
                "otelcol_analytics: buffer full (%d events waiting for %s): dropping events until it drains; see tracker.dropped",
                self.buffer_size, self.url)
            return None
        if ended:
            logger.warning("otelcol_analytics: buffer has room again; %d events were dropped while it was full", ended)
        return None if dropped else mid

    def _call(self, event_name, properties, timestamp, message_id, user_id, anonymous_id, product, context):
        if not isinstance(event_name, str) or event_name == "":
            raise ValueError("event name must be a non-empty string, got %r" % (event_name,))
        if properties is None:
            properties = {}
        elif not isinstance(properties, Mapping):
            raise TypeError("properties must be a mapping, got %s" % type(properties).__name__)
        if timestamp is None:
            ts = _iso(datetime.datetime.now(_UTC))
        elif isinstance(timestamp, datetime.datetime):
            ts = _iso(timestamp)
        elif isinstance(timestamp, str):
            ts = timestamp
        else:
            raise TypeError("timestamp must be a datetime or an ISO-8601 string, got %s" % type(timestamp).__name__)
        mid = str(message_id) if message_id is not None else str(uuid.uuid4())
        ctx = dict(self._context)
        if context:
            ctx.update(context)
        prod = product or self.product or PRODUCT_OF.get(event_name)
        if prod:
            ctx["service"] = {"name": prod}
        call: Dict[str, Any] = {
            "type": "track",
            "event": event_name,
            "messageId": mid,
            "timestamp": ts,
            "properties": {str(k): v for k, v in properties.items()},
            "context": ctx,
        }
        if user_id is not None:
            call["userId"] = user_id
        if anonymous_id is not None:
            call["anonymousId"] = anonymous_id
        return _dumps(call), mid

    def _count_invalid(self, event_name: Any, err: Exception) -> None:
        with self._cond:
            self.invalid += 1
            key = (str(event_name)[:100], str(err)[:200])
            first = key not in self._warned
            if first and len(self._warned) < 1000:
                self._warned.add(key)
        if first:
            logger.error("otelcol_analytics: event %r not tracked: %s (counted in tracker.invalid; logged once per event name and error)",
                         event_name, err)

    # ---- lifecycle --------------------------------------------------------

    async def start(self) -> None:
        """Start the worker now (the first event starts it too)."""
        self.start_nowait()

    def start_nowait(self) -> None:
        """start() for sync code."""
        with self._cond:
            if self._thread is None:
                self._start_locked()
            self._stopping = False

    def _start_locked(self) -> None:
        self._stopping = False
        self._deadline = None
        t = threading.Thread(target=self._run, name="otelcol-analytics-tracker", daemon=True)
        self._thread = t
        _live.add(self)
        t.start()

    async def stop(self, timeout: Optional[float] = None) -> bool:
        """Send what is buffered and stop the worker, within timeout seconds
        (default shutdown_timeout), without blocking the event loop; True when
        everything was delivered. What is still unsent then is counted in
        ``failed`` and logged. A later event starts the worker again."""
        t = self._begin_stop(timeout)
        if t is None:
            return True
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._join, t)

    def close(self, timeout: Optional[float] = None) -> bool:
        """stop() for sync code: blocks until delivered (True) or timed out."""
        t = self._begin_stop(timeout)
        return True if t is None else self._join(t)

    def _begin_stop(self, timeout: Optional[float]) -> Optional[threading.Thread]:
        with self._cond:
            t = self._thread
            if t is None:
                return None
            self._stopping = True
            self._deadline = time.monotonic() + (self.shutdown_timeout if timeout is None else float(timeout))
            self._failed_at_stop = self.failed
            self._cond.notify_all()
            return t

    def _join(self, t: threading.Thread) -> bool:
        deadline = self._deadline
        wait = None if deadline is None else max(0.0, deadline - time.monotonic()) + self.timeout + 1.0
        t.join(wait)
        with self._cond:
            return not t.is_alive() and not self._buf and self._inflight == 0 and self.failed == self._failed_at_stop

    def flush_blocking(self, timeout: Optional[float] = None) -> bool:
        """Send what is buffered now and wait until the collector has it all
        (True) or timeout seconds have passed (False)."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if self._thread is None and self._buf:
                self._start_locked()
            self._flush_now = True
            self._cond.notify_all()
            while self._buf or self._inflight:
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
            return True

    async def flush(self, timeout: Optional[float] = None) -> bool:
        """flush_blocking without blocking the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.flush_blocking, timeout)

    def stats(self) -> Dict[str, int]:
        """The counters, and how many events are waiting."""
        with self._cond:
            return {
                "queued": self.queued, "sent": self.sent, "rejected": self.rejected, "dropped": self.dropped,
                "failed": self.failed, "invalid": self.invalid, "retries": self.retries,
                "pending": len(self._buf) + self._inflight,
            }

    # ---- the worker -------------------------------------------------------

    def _run(self) -> None:
        last = time.monotonic()
        while True:
            with self._cond:
                while True:
                    if self._stopping and not self._buf:
                        self._thread = None
                        self._cond.notify_all()
                        return
                    due = last + self.flush_interval
                    if self._buf and (len(self._buf) >= self.batch_size or self._stopping or self._flush_now
                                      or time.monotonic() >= due):
                        break
                    self._cond.wait(max(0.0, due - time.monotonic()) if self._buf else self.flush_interval)
                    if not self._buf:
                        last = time.monotonic()
                batch = self._take_locked()
                if not self._buf:
                    self._flush_now = False
            last = time.monotonic()
            try:
                self._deliver(batch)
            except Exception:  # a bug here must not kill the worker
                logger.exception("otelcol_analytics: unexpected error delivering %d events", len(batch))
                with self._cond:
                    self.failed += len(batch)
            finally:
                with self._cond:
                    self._inflight -= len(batch)
                    self._cond.notify_all()

    def _take_locked(self) -> List[bytes]:
        batch: List[bytes] = []
        size = 0
        while self._buf and len(batch) < self.batch_size:
            n = len(self._buf[0]) + 1
            if batch and size + n > MAX_BATCH_BYTES:
                break
            batch.append(self._buf.popleft())
            size += n
        self._inflight += len(batch)
        return batch

    def _deliver(self, batch: List[bytes]) -> None:
        """Send batch until the collector has it or giving up is right."""
        attempt = 0
        while True:
            ans = _transport.post_batch(self.url, batch, _iso(datetime.datetime.now(_UTC)), self.write_key, self.timeout)
            if ans.kind == _transport.OK:
                with self._cond:
                    self.sent += len(batch)
                    self.rejected += len(ans.rejected)
                if ans.rejected:
                    r = ans.rejected[0] if isinstance(ans.rejected[0], dict) else {}
                    logger.warning("otelcol_analytics: the collector refused %d of %d events (stored as rejected events), e.g. %s: %s",
                                   len(ans.rejected), len(batch), r.get("reason"), r.get("message"))
                return
            if ans.kind == _transport.TOO_LARGE and len(batch) > 1:
                half = len(batch) // 2
                self._deliver(batch[:half])
                self._deliver(batch[half:])
                return
            if ans.kind != _transport.RETRY:
                with self._cond:
                    self.failed += len(batch)
                logger.error("otelcol_analytics: the collector refused a batch of %d events with HTTP %d (%s); they are lost, see tracker.failed",
                             len(batch), ans.status, ans.message)
                return
            delay = min(self.backoff_max, self.backoff_base * (2 ** min(attempt, 30)))
            delay *= 0.5 + random.random() / 2
            if ans.retry_after is not None:
                delay = max(delay, ans.retry_after)
            attempt += 1
            with self._cond:
                deadline = self._deadline if self._stopping else None
                if deadline is not None and time.monotonic() + delay > deadline:
                    lost = len(batch) + len(self._buf)
                    self.failed += lost
                    self._buf.clear()
                    self._cond.notify_all()
                    give_up = True
                else:
                    self.retries += 1
                    give_up = False
            if give_up:
                logger.error("otelcol_analytics: stopping with the collector unreachable (%s): %d events not delivered, see tracker.failed",
                             ans.message or ans.status, lost)
                return
            if attempt == 1 or attempt % 10 == 0:
                logger.warning("otelcol_analytics: sending %d events to %s failed (%s); retrying with the same ids in %.1fs (attempt %d)",
                               len(batch), self.url, ans.message or ans.status, delay, attempt)
            with self._cond:
                # Woken early only by stop(): then one last prompt attempt.
                was_stopping = self._stopping
                self._cond.wait_for(lambda: self._stopping and not was_stopping, delay)
