"""Prometheus metrics, labelled by partner. Module-level so every component shares one registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DELIVERIES = Counter(
    "hub_deliveries_total",
    "Webhook deliveries by outcome (accepted, duplicate, rejected).",
    ["partner", "outcome"],
)
REJECTIONS = Counter(
    "hub_rejections_total", "Rejected deliveries by reason code.", ["partner", "reason"]
)
NORMALIZED = Counter(
    "hub_normalized_total", "Raw events normalized, by resulting status.", ["partner", "status"]
)
DISPATCHED = Counter(
    "hub_handler_dispatch_total", "Handler workflow starts by outcome.", ["handler", "outcome"]
)
HANDLER_OUTCOMES = Counter(
    "hub_handler_outcomes_total", "Handler runs finished, by status.", ["handler", "status"]
)
COMMIT_BATCH = Histogram(
    "hub_commit_batch_size",
    "Deliveries per group commit.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000),
)
CALLS_OUT = Counter(
    "hub_calls_out_total",
    "Calls out to partners by outcome (ok, retryable, failed, refused, rate_limited).",
    ["partner", "operation", "outcome"],
)
CALL_SECONDS = Histogram(
    "hub_call_out_seconds",
    "Latency of calls out to partners.",
    ["partner", "operation"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
MAPS_DAILY_USAGE = Gauge(
    "hub_maps_daily_usage",
    "Google Maps units sent today (UTC) by this process: requests, or elements for distance_matrix.",
    ["api"],
)
MAPS_DAILY_WARNING_THRESHOLD = Gauge(
    "hub_maps_daily_warning_threshold",
    "The configured daily Google Maps usage past which a warning is logged.",
    ["api"],
)
MAPS_DAILY_WARNINGS = Counter(
    "hub_maps_daily_warnings_total",
    "Days on which a Google Maps API crossed its daily warning threshold (per process).",
    ["api"],
)
MAPS_CACHE = Counter(
    "hub_maps_cache_total", "Google Maps cache lookups by outcome (hit, miss).", ["api", "outcome"]
)
SECRET_AGE = Gauge(
    "hub_secret_age_seconds",
    "Age of each stored secret's newest version (set by the daily secret-age check).",
    ["name"],
)
