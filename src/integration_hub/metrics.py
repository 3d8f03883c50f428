"""Prometheus metrics, labelled by partner. Module-level so every component shares one registry."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
