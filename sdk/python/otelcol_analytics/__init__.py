"""otelcol-analytics for Python: the seed's ``services.analytics`` on the
collector.

    from otelcol_analytics import tracker          # was: from services.analytics import tracker
    await tracker.track("session.start", {"session_id": "s-1", "channel": "web"})
    await tracker.session_start(session_id="s-1", channel="web")   # typed

``tracker`` is a shared AnalyticsTracker configured from the environment
(ANALYTICS_TRACK_ENDPOINT, default http://localhost:8091; ANALYTICS_PRODUCT;
ANALYTICS_TRACK_WRITE_KEY; ANALYTICS_BUFFER_SIZE; ANALYTICS_FLUSH_INTERVAL),
started by its first event and flushed at interpreter exit; build your own
with AnalyticsTracker(...). ``stats`` is a BusinessStats of the stats service
(ANALYTICS_STATS_URL, default http://localhost:8090).
"""

from . import events_gen as events
from ._tracker import AnalyticsTracker, __version__
from .stats import BusinessStats

__all__ = ["AnalyticsTracker", "BusinessStats", "events", "get_tracker", "stats", "tracker", "__version__"]

tracker = AnalyticsTracker.from_env()
stats = BusinessStats()


def get_tracker() -> AnalyticsTracker:
    """The shared tracker."""
    return tracker
