"""Partner states from stored rows: the rules written in `status.py`, one test each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, update

from integration_hub.doctor import diagnose
from integration_hub.secrets import EnvSecretSource
from integration_hub.status import PartnerStatus, partner_statuses
from integration_hub.storage.engine import begin_write
from integration_hub.storage.raw_events import NewRawEvent, record_deliveries
from integration_hub.storage.tables import RawStatus, raw_events
from tests.helpers import CLERK_SECRET

NOW = datetime(2026, 11, 29, 12, 30, tzinfo=UTC)


def _store(engine: Engine, partner: str, status: RawStatus, *, ago: timedelta, n: int = 1) -> None:
    received = NOW - ago
    rows = [
        NewRawEvent(partner, f"{status}-{ago}-{i}", "user.created", received, {}, b"{}")
        for i in range(n)
    ]
    with begin_write(engine) as connection:
        record_deliveries(connection, events=rows)
        ids = [r.partner_event_id for r in rows]
        connection.execute(
            update(raw_events)
            .where(raw_events.c.partner_event_id.in_(ids))
            .values(status=status.value, updated_at=received + timedelta(seconds=2))
        )


def _status(engine: Engine, partner: str, environ: dict[str, str] | None = None) -> PartnerStatus:
    secrets = EnvSecretSource(environ={"CLERK_WEBHOOK_SECRET": CLERK_SECRET, **(environ or {})})
    reports = diagnose(secrets=secrets, engine=engine)  # every partner of PARTNERS
    with engine.connect() as connection:
        statuses = partner_statuses(connection, reports, now=NOW)
    return next(s for s in statuses if s.partner == partner)


def test_partner_without_its_secret_is_not_configured(engine: Engine) -> None:
    assert _status(engine, "stripe").state == "not_configured"


def test_configured_partner_with_nothing_received_is_idle(engine: Engine) -> None:
    assert _status(engine, "clerk").state == "idle"


def test_processed_deliveries_make_a_partner_healthy_with_counts_and_latency(
    engine: Engine,
) -> None:
    _store(engine, "clerk", RawStatus.PROCESSED, ago=timedelta(minutes=5), n=3)
    _store(engine, "clerk", RawStatus.PROCESSED, ago=timedelta(hours=3))

    clerk = _status(engine, "clerk")

    assert clerk.state == "healthy"
    assert (clerk.received_last_hour, clerk.received_last_day) == (3, 4)
    assert clerk.p95_latency_seconds == 2.0
    assert sum(clerk.hourly) == 4 and clerk.hourly[-1] == 3


def test_a_dead_lettered_event_degrades_a_partner_until_replayed(engine: Engine) -> None:
    _store(engine, "clerk", RawStatus.PROCESSED, ago=timedelta(hours=2))
    _store(engine, "clerk", RawStatus.FAILED, ago=timedelta(hours=2))

    clerk = _status(engine, "clerk")

    assert clerk.state == "degraded"
    assert clerk.dead_lettered == 1
    assert "dead-lettered" in clerk.reasons[0]


def test_mostly_failing_deliveries_in_the_window_make_a_partner_failing(engine: Engine) -> None:
    _store(engine, "clerk", RawStatus.FAILED, ago=timedelta(minutes=3), n=3)
    _store(engine, "clerk", RawStatus.PROCESSED, ago=timedelta(minutes=3))

    clerk = _status(engine, "clerk")

    assert clerk.state == "failing"
    assert clerk.error_rate_last_window == 0.75


def test_events_waiting_too_long_degrade_a_partner(engine: Engine) -> None:
    _store(engine, "clerk", RawStatus.RECEIVED, ago=timedelta(minutes=20))

    clerk = _status(engine, "clerk")

    assert clerk.state == "degraded"
    assert clerk.waiting == 1


def test_calls_out_only_partner_is_healthy_once_its_key_is_set(engine: Engine) -> None:
    maps = _status(engine, "google_maps", {"GOOGLE_MAPS_API_KEY": "AIza" + "k" * 35})

    assert maps.state == "healthy"
    assert maps.p95_latency_seconds is None
