"""Prometheus metrics, labelled by partner. Module-level so every component shares one registry.

A partner's own metrics (say, a daily quota) live in its package, in the same default registry."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Counter, Gauge, Histogram

DELIVERIES = Counter(
    "hub_deliveries_total",
    "Webhook deliveries by outcome (accepted, duplicate, rejected).",
    ["partner", "outcome"],
)
REJECTIONS = Counter(
    "hub_rejections_total", "Rejected deliveries by reason code.", ["partner", "reason"]
)
DEAD_LETTERED_AT_EDGE = Counter(
    "hub_malformed_entries_total",
    "Malformed entries of verified batches, stored dead-lettered at the edge (the rest kept).",
    ["partner"],
)
PREPARE_FAILURES = Counter(
    "hub_prepare_failures_total",
    "A connector's pre-split read that failed or ran past its time (the delivery is answered "
    "without it), by the error's type.",
    ["partner", "error"],
)
NORMALIZED = Counter(
    "hub_normalized_total", "Raw events normalized, by resulting status.", ["partner", "status"]
)
DISPATCHED = Counter(
    "hub_handler_dispatch_total", "Handler workflow starts by outcome.", ["handler", "outcome"]
)
OUTBOX_SENT = Counter(
    "hub_workflow_outbox_total",
    "Workflow starts and signals handlers queued, sent by outcome (sent, already_started, "
    "refused, dead_lettered).",
    ["kind", "outcome"],
)
HANDLER_OUTCOMES = Counter(
    "hub_handler_outcomes_total",
    "Handler runs finished, by status (completed, skipped, failed).",
    ["handler", "status"],
)
PANEL_SESSIONS = Counter(
    "hub_panel_sessions_total",
    "Status panel sessions: created, revoked, or refused (session_expired, session_idle, "
    "session_revoked, session_unknown, credential_changed).",
    ["outcome"],
)
OIDC_SIGNINS = Counter(
    "hub_oidc_signins_total",
    "Panel sign-ins through the provider by outcome: started, signed_in, or the refusal "
    "(state_unknown, "
    "state_expired, cookie_mismatch, provider_error, token_exchange_failed, id_token_invalid, "
    "nonce_mismatch, no_role, discovery_unavailable, too_many_pending, ...).",
    ["outcome"],
)
CONNECTIONS_CUT = Counter(
    "hub_connections_cut_total",
    "Connections the edge closed before a whole request arrived (web/server.py): idle_timeout,"
    " head_timeout, body_timeout, headers_too_large, too_many_connections, idle_evicted.",
    ["reason"],
)
ADMIN_REJECTIONS = Counter(
    "hub_admin_rejections_total",
    "Admin API and panel requests refused, by reason code (bad_cursor, not_found, ...).",
    ["reason"],
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
SECRET_AGE = Gauge(
    "hub_secret_age_seconds",
    "Age of each stored secret's newest version (set by the daily secret-age check).",
    ["name"],
)
RECEIPT_TO_PROCESSED = Histogram(
    "hub_receipt_to_processed_seconds",
    "From a raw event's receipt at the edge to its last handler completing (or to normalization"
    " when no handler runs).",
    ["partner"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
EVENTS_WAITING = Gauge(
    "hub_events_waiting",
    "Raw events not yet processed (received or processing), read from the database.",
    ["partner"],
)
EVENTS_DEAD_LETTERED = Gauge(
    "hub_events_dead_lettered",
    "Raw events that failed for good (status failed), read from the database.",
    ["partner"],
)
STORE_REFUSED = Counter(
    "hub_normalization_store_refused_total",
    "Normalized raw events the database refused to store, dead-lettered alone (also counted"
    " in hub_normalized_total as failed), by the driver's error class.",
    ["partner", "error"],
)


def set_backlog(counts: Mapping[tuple[str, str], int]) -> None:
    """Set the waiting and dead-lettered gauges from (partner, status) -> count; a partner
    that had a backlog before and has none now reads 0, not its last value."""
    waiting: dict[str, int] = dict.fromkeys(_labels(EVENTS_WAITING), 0)
    dead: dict[str, int] = dict.fromkeys(_labels(EVENTS_DEAD_LETTERED), 0)
    for (partner, status), count in counts.items():
        if status == "failed":
            dead[partner] = dead.get(partner, 0) + count
        else:
            waiting[partner] = waiting.get(partner, 0) + count
    for partner, count in waiting.items():
        EVENTS_WAITING.labels(partner).set(count)
    for partner, count in dead.items():
        EVENTS_DEAD_LETTERED.labels(partner).set(count)


def _labels(gauge: Gauge) -> list[str]:
    return [sample.labels["partner"] for metric in gauge.collect() for sample in metric.samples]


SUPPORT_ESCALATIONS = Counter(
    "hub_support_escalations_total",
    "Support conversations the hub asked the inbox to open, by outcome (opened, failed).",
    ["provider", "outcome"],
)
SUPPORT_RELAYS = Counter(
    "hub_support_relays_total",
    "Agents' replies in the support inbox queued to go back to the person, by inbox.",
    ["provider"],
)
RESERVATIONS_APPLIED = Counter(
    "hub_reservations_applied_total",
    "Reservations the reservations handler applied, by source and outcome (created, changed, "
    "cancelled, restored, stale, replayed, unchanged).",
    ["source", "outcome"],
)
ICAL_FEEDS_HELD = Counter(
    "hub_ical_feed_held_total",
    "Calendar feeds held because one calendar lost more than HUB_ICAL_HOLD_SHARE of the "
    "connection's future stays at once (nothing cancelled until an admin releases the hold).",
)
