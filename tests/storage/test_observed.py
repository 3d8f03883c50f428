"""Read-only counts over raw events: grouped by partner and status, by hour, and latencies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, update

from integration_hub.storage import observed
from integration_hub.storage.engine import begin_write
from integration_hub.storage.raw_events import NewRawEvent, record_deliveries
from integration_hub.storage.tables import RawStatus, raw_events

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


def _store(engine: Engine, partner: str, status: RawStatus, *, ago: timedelta, n: int = 1) -> None:
    received = NOW - ago
    events = [
        NewRawEvent(partner, f"{partner}-{status}-{ago}-{i}", "t", received, {}, b"{}")
        for i in range(n)
    ]
    with begin_write(engine) as connection:
        record_deliveries(connection, events=events)
        connection.execute(
            update(raw_events)
            .where(raw_events.c.partner_event_id.in_([e.partner_event_id for e in events]))
            .values(status=status.value, updated_at=received + timedelta(seconds=3))
        )


def test_groups_count_and_span_each_partner_and_status(engine: Engine) -> None:
    _store(engine, "p1", RawStatus.PROCESSED, ago=timedelta(hours=2), n=2)
    _store(engine, "p1", RawStatus.PROCESSED, ago=timedelta(minutes=5))
    _store(engine, "p1", RawStatus.FAILED, ago=timedelta(minutes=1))
    _store(engine, "p2", RawStatus.RECEIVED, ago=timedelta(minutes=1), n=3)
    with engine.connect() as connection:
        groups = observed.by_partner_and_status(connection)
        recent = observed.by_partner_and_status(connection, since=NOW - timedelta(hours=1))
        backlog = observed.backlog(connection)
    processed = groups[("p1", RawStatus.PROCESSED.value)]
    assert (processed.count, processed.oldest, processed.newest) == (
        3,
        NOW - timedelta(hours=2),
        NOW - timedelta(minutes=5),
    )
    assert {k: g.count for k, g in recent.items()} == {
        ("p1", "processed"): 1,
        ("p1", "failed"): 1,
        ("p2", "received"): 3,
    }
    assert backlog == {("p1", "failed"): 1, ("p2", "received"): 3}  # processed is done


def test_hourly_buckets_are_utc_hours_and_latencies_are_per_partner(engine: Engine) -> None:
    _store(engine, "p1", RawStatus.PROCESSED, ago=timedelta(minutes=20), n=2)  # 12:10
    _store(engine, "p1", RawStatus.PROCESSED, ago=timedelta(minutes=45))  # 11:45
    _store(engine, "p2", RawStatus.FAILED, ago=timedelta(minutes=45))
    with engine.connect() as connection:
        hourly = observed.hourly(connection, since=NOW - timedelta(hours=3))
        latencies = observed.recent_latencies(connection, partner="p1", limit=2)
        none = observed.recent_latencies(connection, partner="p2", limit=10)
    assert hourly == {
        ("p1", "2026-03-10T12"): 2,
        ("p1", "2026-03-10T11"): 1,
        ("p2", "2026-03-10T11"): 1,
    }
    assert latencies == [3.0, 3.0]  # the two most recent processed only
    assert none == []  # failed events have no processing latency


def test_progress_says_how_far_a_partner_got(engine: Engine) -> None:
    _store(engine, "p1", RawStatus.RECEIVED, ago=timedelta(minutes=1))
    _store(engine, "p2", RawStatus.IGNORED, ago=timedelta(minutes=1))
    _store(engine, "p3", RawStatus.PROCESSED, ago=timedelta(minutes=1))
    with engine.connect() as connection:
        found = {p: observed.progress(connection, partner=p) for p in ("p0", "p1", "p2", "p3")}
    assert found == {
        "p0": {"stored": False, "normalized": False, "handled": False},
        "p1": {"stored": True, "normalized": False, "handled": False},
        "p2": {"stored": True, "normalized": True, "handled": False},
        "p3": {"stored": True, "normalized": True, "handled": True},
    }
