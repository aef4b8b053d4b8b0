"""BusinessStats: the seed's statistics API, read from the collector's stats
service (``GET /api/analytics/...``, stats/README.md) instead of computed in
process. Stdlib only; every method has a sync twin ending in ``_sync``."""

import asyncio
import json
import os
import urllib.parse
import urllib.request
from typing import Any, Dict, Optional

__all__ = ["BusinessStats"]


class BusinessStats:
    """A client of the stats service.

    endpoint: its base URL (default ``$ANALYTICS_STATS_URL`` or
        ``http://localhost:8090``); token: its bearer token, if configured.
    Errors (HTTP, connection) raise: this is the reading side, called where
    a failure should show."""

    def __init__(self, endpoint: Optional[str] = None, token: Optional[str] = None, timeout: float = 10.0) -> None:
        e = endpoint or os.environ.get("ANALYTICS_STATS_URL") or "http://localhost:8090"
        if "://" not in e:
            e = "http://" + e
        self.endpoint = e.rstrip("/")
        self.token = token if token is not None else (os.environ.get("ANALYTICS_STATS_TOKEN") or None)
        self.timeout = timeout

    def get_sync(self, path: str, **query: Any) -> Dict[str, Any]:
        """GET path with the query parameters that are not None, as JSON."""
        q = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        req = urllib.request.Request(self.endpoint + path + ("?" + q if q else ""))
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            return json.loads(resp.read().decode("utf-8"))

    async def _get(self, path: str, **query: Any) -> Dict[str, Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: self.get_sync(path, **query))

    def get_case_study_data_sync(self, month: Optional[str] = None, lang: Optional[str] = None) -> Dict[str, Any]:
        return self.get_sync("/api/analytics/case-study", month=month, lang=lang)

    async def get_case_study_data(self, month: Optional[str] = None, lang: Optional[str] = None) -> Dict[str, Any]:
        """The whole business case of a month (YYYY-MM; default: the current one)."""
        return await self._get("/api/analytics/case-study", month=month, lang=lang)

    async def get_monthly_summary(self, month: Optional[str] = None, lang: Optional[str] = None) -> Dict[str, Any]:
        """The AI chatbot's figures of a month."""
        return await self._get("/api/analytics/summary", month=month, lang=lang)

    async def get_agent_performance(self, month: Optional[str] = None, lang: Optional[str] = None) -> Dict[str, Any]:
        """The agents' figures of a month."""
        return await self._get("/api/analytics/agents", month=month, lang=lang)

    async def get_ticket_metrics(self, month: Optional[str] = None, lang: Optional[str] = None) -> Dict[str, Any]:
        """The tickets' figures of a month."""
        return await self._get("/api/analytics/tickets", month=month, lang=lang)
