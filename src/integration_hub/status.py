"""Per-partner health for the status panel and `GET /api/status`, from what the hub stored.

A partner's state, by the first rule that applies:
- `not_configured`: a secret its webhooks or calls out need is not set;
- `failing`: over the last 15 minutes at least `FAILING_RATE` of its deliveries failed
  (dead-lettered), with at least `MIN_SAMPLE` deliveries seen;
- `degraded`: something failed in the last 15 minutes, or events are dead-lettered and not
  yet replayed (any age), or events wait longer than `STUCK_AFTER` to be processed;
- `idle`: nothing received in the last 24 hours;
- `healthy`: otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from integration_hub.doctor import PartnerReport
from integration_hub.storage import observed
from integration_hub.storage.tables import RawStatus

WINDOW = timedelta(minutes=15)
FAILING_RATE = 0.5
MIN_SAMPLE = 4
STUCK_AFTER = timedelta(minutes=5)
LATENCY_SAMPLE = 1000  # the most recent processed events the p95 is taken over
WAITING = (RawStatus.RECEIVED.value, RawStatus.PROCESSING.value)


@dataclass
class PartnerStatus:
    partner: str
    priority: str
    state: str
    reasons: list[str]
    last_received_at: datetime | None
    received_last_hour: int
    received_last_day: int
    failed_last_window: int
    error_rate_last_window: float | None  # None: nothing received in the window
    dead_lettered: int
    waiting: int
    p95_latency_seconds: float | None  # receipt to processed, recent events
    secrets: list[dict[str, object]] = field(default_factory=list)
    checklist_remaining: list[str] = field(default_factory=list)
    hourly: list[int] = field(default_factory=list)  # received per hour, oldest first, 24 values

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _counts(connection: Connection, since: datetime) -> dict[tuple[str, str], int]:
    groups = observed.by_partner_and_status(connection, since=since)
    return {key: group.count for key, group in groups.items()}


def _hourly(connection: Connection, now: datetime) -> dict[str, list[int]]:
    start = (now - timedelta(hours=23)).replace(minute=0, second=0, microsecond=0)
    labels = [(start + timedelta(hours=i)).strftime("%Y-%m-%dT%H") for i in range(24)]
    series: dict[str, list[int]] = {}
    for (partner, label), count in observed.hourly(connection, since=start).items():
        if label in labels:
            series.setdefault(partner, [0] * 24)[labels.index(label)] = count
    return series


def _p95_latency(connection: Connection, partner: str) -> float | None:
    latencies = sorted(observed.recent_latencies(connection, partner=partner, limit=LATENCY_SAMPLE))
    if not latencies:
        return None
    return round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 3)


def _partner_totals(connection: Connection) -> dict[str, dict[str, Any]]:
    """Per partner, over all time: last receipt, dead-lettered, waiting, oldest waiting."""
    totals: dict[str, dict[str, Any]] = {}
    for (partner, status), group in observed.by_partner_and_status(connection).items():
        entry = totals.setdefault(
            partner, {"last": None, "failed": 0, "waiting": 0, "oldest_waiting": None}
        )
        entry["last"] = max(filter(None, [entry["last"], group.newest]))
        if status == RawStatus.FAILED.value:
            entry["failed"] += group.count
        if status in WAITING:
            entry["waiting"] += group.count
            entry["oldest_waiting"] = min(filter(None, [entry["oldest_waiting"], group.oldest]))
    return totals


def partner_statuses(
    connection: Connection, reports: Sequence[PartnerReport], *, now: datetime
) -> list[PartnerStatus]:
    """One status per partner in `reports` (from `doctor.diagnose`), in the same order."""
    window = _counts(connection, now - WINDOW)
    hour = _counts(connection, now - timedelta(hours=1))
    day = _counts(connection, now - timedelta(days=1))
    hourly = _hourly(connection, now)
    totals = _partner_totals(connection)
    statuses = []
    for report in reports:
        name = report.partner
        mine = totals.get(name, {"last": None, "failed": 0, "waiting": 0, "oldest_waiting": None})

        def total(counts: Mapping[tuple[str, str], int], partner: str = name) -> int:
            return sum(n for (p, _), n in counts.items() if p == partner)

        seen = total(window)
        failed = window.get((name, RawStatus.FAILED.value), 0)
        rate = failed / seen if seen else None
        state, reasons = _state(report, seen, failed, rate, mine, now)
        statuses.append(
            PartnerStatus(
                partner=name,
                priority=report.priority,
                state=state,
                reasons=reasons,
                last_received_at=mine["last"],
                received_last_hour=total(hour),
                received_last_day=total(day),
                failed_last_window=failed,
                error_rate_last_window=round(rate, 4) if rate is not None else None,
                dead_lettered=mine["failed"],
                waiting=mine["waiting"],
                p95_latency_seconds=_p95_latency(connection, name)
                if report.receives_webhooks
                else None,
                secrets=[s.as_dict() for s in report.secrets],
                checklist_remaining=[i.step for i in report.checklist if not i.done],
                hourly=hourly.get(name, [0] * 24),
            )
        )
    return statuses


def _state(
    report: PartnerReport,
    seen: int,
    failed: int,
    rate: float | None,
    totals: Mapping[str, Any],
    now: datetime,
) -> tuple[str, list[str]]:
    missing = [s.name for s in report.secrets if s.missing]
    if missing:
        return "not_configured", [f"{', '.join(missing)} not set"]
    if rate is not None and seen >= MIN_SAMPLE and rate >= FAILING_RATE:
        return "failing", [f"{failed} of {seen} deliveries failed in the last 15 minutes"]
    reasons = []
    if failed:
        reasons.append(f"{failed} failed in the last 15 minutes")
    if totals["failed"]:
        reasons.append(f"{totals['failed']} dead-lettered, waiting for a replay")
    oldest = totals["oldest_waiting"]
    if oldest is not None and now - oldest > STUCK_AFTER:
        reasons.append(f"events waiting since {oldest.isoformat(timespec='seconds')}")
    if reasons:
        return "degraded", reasons
    last = totals["last"]
    if report.receives_webhooks and (last is None or now - last > timedelta(days=1)):
        return "idle", ["nothing received in the last 24 hours"]
    return "healthy", []
