"""Daily usage per Maps API, with a warning threshold: logged once a day and exported.

Counted per worker process (Prometheus sums the processes), per UTC day, in the units Google
bills: requests, or elements (origins x destinations) for the Distance Matrix. A warning, not a
cap: the per-minute `CallLimiter` and Google's own quotas are what stop traffic. The Maps
metrics (daily usage, thresholds, warnings, cache hits) are declared here, in the package.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import date, datetime

import structlog
from prometheus_client import Counter, Gauge

log = structlog.get_logger(__name__)

# In the default registry, beside the hub's own (`integration_hub.metrics`): `/metrics` shows them.
DAILY_USAGE = Gauge(
    "hub_maps_daily_usage",
    "Google Maps units sent today (UTC) by this process: requests, or elements for distance_matrix.",
    ["api"],
)
DAILY_WARNING_THRESHOLD = Gauge(
    "hub_maps_daily_warning_threshold",
    "The configured daily Google Maps usage past which a warning is logged.",
    ["api"],
)
DAILY_WARNINGS = Counter(
    "hub_maps_daily_warnings_total",
    "Days on which a Google Maps API crossed its daily warning threshold (per process).",
    ["api"],
)
CACHE = Counter(
    "hub_maps_cache_total", "Google Maps cache lookups by outcome (hit, miss).", ["api", "outcome"]
)


class DailyUsage:
    def __init__(self, thresholds: Mapping[str, int]) -> None:
        self._thresholds = dict(thresholds)
        self._lock = threading.Lock()
        self._day: date | None = None
        self._counts: dict[str, int] = {}
        self._warned: set[str] = set()
        for api, threshold in self._thresholds.items():
            DAILY_WARNING_THRESHOLD.labels(api).set(threshold)

    def record(self, api: str, units: int, *, now: datetime) -> int:
        """Count `units` sent to `api` at `now` (UTC); returns today's total for `api`."""
        with self._lock:
            if now.date() != self._day:
                self._day, self._counts, self._warned = now.date(), {}, set()
                for name in self._thresholds:
                    DAILY_USAGE.labels(name).set(0)
            count = self._counts.get(api, 0) + units
            self._counts[api] = count
            threshold = self._thresholds.get(api)
            crossed = threshold is not None and count >= threshold and api not in self._warned
            if crossed:
                self._warned.add(api)
        DAILY_USAGE.labels(api).set(count)
        if crossed:
            DAILY_WARNINGS.labels(api).inc()
            log.warning(
                "maps_daily_usage_warning",
                api=api,
                count=count,
                threshold=threshold,
                day=now.date().isoformat(),
            )
        return count

    def today(self, api: str) -> int:
        with self._lock:
            return self._counts.get(api, 0)
