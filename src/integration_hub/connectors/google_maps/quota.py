"""Daily usage per Maps API, with a warning threshold: logged once a day and exported.

Counted per worker process (Prometheus sums the processes), per UTC day, in the units Google
bills: requests, or elements (origins x destinations) for the Distance Matrix. A warning, not a
cap: the per-minute `CallLimiter` and Google's own quotas are what stop traffic.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import date, datetime

import structlog

from integration_hub import metrics

log = structlog.get_logger(__name__)


class DailyUsage:
    def __init__(self, thresholds: Mapping[str, int]) -> None:
        self._thresholds = dict(thresholds)
        self._lock = threading.Lock()
        self._day: date | None = None
        self._counts: dict[str, int] = {}
        self._warned: set[str] = set()
        for api, threshold in self._thresholds.items():
            metrics.MAPS_DAILY_WARNING_THRESHOLD.labels(api).set(threshold)

    def record(self, api: str, units: int, *, now: datetime) -> int:
        """Count `units` sent to `api` at `now` (UTC); returns today's total for `api`."""
        with self._lock:
            if now.date() != self._day:
                self._day, self._counts, self._warned = now.date(), {}, set()
                for name in self._thresholds:
                    metrics.MAPS_DAILY_USAGE.labels(name).set(0)
            count = self._counts.get(api, 0) + units
            self._counts[api] = count
            threshold = self._thresholds.get(api)
            crossed = threshold is not None and count >= threshold and api not in self._warned
            if crossed:
                self._warned.add(api)
        metrics.MAPS_DAILY_USAGE.labels(api).set(count)
        if crossed:
            metrics.MAPS_DAILY_WARNINGS.labels(api).inc()
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
