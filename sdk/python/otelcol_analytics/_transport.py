"""HTTP delivery of track batches to the collector's track receiver.

One function, post_batch, and the classification of its answer: the rest of
the package never sees urllib. It runs on the tracker's worker thread, never
on an event loop.
"""

import base64
import json
import socket
import http.client
import urllib.error
import urllib.parse
import urllib.request
from typing import List, Optional

__all__ = ["Answer", "batch_url", "post_batch"]

# Answer kinds.
OK = "ok"  # 200: the collector has the calls (rejected ones listed)
RETRY = "retry"  # 429, 5xx, connection errors: resend the same calls later
TOO_LARGE = "too_large"  # 413: split the batch
FAILED = "failed"  # any other answer: resending the same body cannot help


class Answer:
    """What the collector said to one batch."""

    __slots__ = ("kind", "status", "retry_after", "rejected", "message")

    def __init__(self, kind, status=0, retry_after=None, rejected=None, message=""):
        self.kind = kind
        self.status = status
        self.retry_after = retry_after  # seconds, from Retry-After
        self.rejected = rejected or []  # [{"index", "reason", "message"}] of a 200
        self.message = message

    def __repr__(self):
        return "Answer(%s, %d, %r)" % (self.kind, self.status, self.message)


def batch_url(endpoint: str) -> str:
    """The /v1/batch URL of an endpoint given as host:port, a base URL, or
    the batch URL itself."""
    e = endpoint.strip()
    if "://" not in e:
        e = "http://" + e
    u = urllib.parse.urlsplit(e)
    path = u.path.rstrip("/")
    if path == "":
        path = "/v1/batch"
    elif path.endswith("/v1"):
        path += "/batch"
    return urllib.parse.urlunsplit((u.scheme, u.netloc, path, u.query, ""))


def _retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    try:
        s = float(value.strip())
    except ValueError:
        return None  # an HTTP date: not sent by the receiver; use the backoff
    return max(0.0, s)


def _json(body: bytes):
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None


def post_batch(
    url: str,
    calls: List[bytes],
    sent_at: str,
    write_key: Optional[str] = None,
    timeout: float = 10.0,
) -> Answer:
    """POST calls (each one track call's JSON text) as one batch; never raises."""
    body = b'{"batch":[' + b",".join(calls) + b'],"sentAt":"' + sent_at.encode("ascii") + b'"}'
    headers = {"Content-Type": "application/json", "User-Agent": "otelcol-analytics-python"}
    if write_key:
        token = base64.b64encode((write_key + ":").encode("utf-8")).decode("ascii")
        headers["Authorization"] = "Basic " + token
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            doc = _json(resp.read())
            rejected = doc.get("rejected", []) if isinstance(doc, dict) else []
            return Answer(OK, resp.status, rejected=rejected if isinstance(rejected, list) else [])
    except urllib.error.HTTPError as e:
        try:
            doc = _json(e.read())
        except Exception:  # a connection dropped while reading the error body
            doc = None
        msg = ""
        if isinstance(doc, dict):
            msg = "%s: %s" % (doc.get("reason", ""), doc.get("message", ""))
        code = e.code
        if code == 429 or code >= 500:
            return Answer(RETRY, code, _retry_after(e.headers.get("Retry-After")), message=msg)
        if code == 413:
            return Answer(TOO_LARGE, code, message=msg)
        return Answer(FAILED, code, message=msg)
    except (urllib.error.URLError, http.client.HTTPException, socket.timeout, OSError) as e:
        reason = getattr(e, "reason", e)
        return Answer(RETRY, 0, message="%s: %s" % (type(e).__name__, reason))
