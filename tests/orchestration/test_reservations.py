"""The reservations handler on PMS events (SQLite file, PostgreSQL when configured): a stay
created, changed and cancelled with its unified events and history; an older version arriving
late and a replay changing nothing; lean payloads and hints queueing one fetch; listings making,
keeping and removing properties. Events are built by connectors/pms.py's draft builders and
stored as the normalizer stores them, so the derived events have a cause to hang on.

The helpers here are also used by test_reservations_sources.py."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, select

from integration_hub import events as cloudevents
from integration_hub.connectors import pms
from integration_hub.connectors.base import InternalEventDraft
from integration_hub.errors import HubError
from integration_hub.orchestration.handlers import HandlerContext, registered_handlers
from integration_hub.orchestration.outbox import Outbox
from integration_hub.orchestration.outcomes import HandlerOutcome, Skipped
from integration_hub.settings import Settings
from integration_hub.storage import dialect, migrate
from integration_hub.storage.engine import begin_write, make_engine
from integration_hub.storage.tables import (
    internal_events,
    listings,
    properties,
    raw_events,
    reservation_changes,
    reservations,
    stays,
    workflow_outbox,
)
from integration_hub.testing import scratch_database
from tests import pms_rows

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
PMS_CONNECTION, FEED_CONNECTION = "acme-pms", "acme-feed"
_keys = itertools.count()


def make_connection(engine: Engine, connection_id: str, *, partner: str = "testpms",
                    manager: str = "acme") -> None:  # fmt: skip
    pms_rows.make_connection(engine, connection_id, partner=partner, manager=manager)


def store(draft: InternalEventDraft, *, connection_id: str, partner: str = "testpms",
          key: str | None = None) -> dict[str, Any]:  # fmt: skip
    """A schema-valid CloudEvent of `draft`, as the normalizer would build it."""
    event_key = pms.connection_event_id(connection_id, key or f"ev-{next(_keys)}")
    event = cloudevents.build_event(
        partner=partner, partner_event_id=event_key, index=0, draft=draft
    )
    cloudevents.validate_event(event)
    return event


def apply(engine: Engine, event: dict[str, Any], *, hold_share: float = 0.5) -> HandlerOutcome:
    """Store `event` as the normalizer does (raw + internal row) and run the declared handler
    on it in one transaction."""
    [handler] = [h for h in registered_handlers() if h.name == "reservations"]
    context = HandlerContext(settings=Settings(ical_hold_share=hold_share), outbox=Outbox())
    with begin_write(engine) as connection:
        raw = dialect.insert_or_ignore(
            connection, raw_events, key=["partner", "partner_event_id"]
        ).values(
            partner=event["partner"], partner_event_id=event["partnereventid"],
            event_type="test", received_at=NOW, headers={}, body=b"{}", status="processed",
            attempts=0, updated_at=NOW,
        )  # fmt: skip
        connection.execute(raw)
        raw_id = connection.execute(
            select(raw_events.c.id).where(
                raw_events.c.partner == event["partner"],
                raw_events.c.partner_event_id == event["partnereventid"],
            )
        ).scalar_one()
        connection.execute(
            dialect.insert_or_ignore(connection, internal_events, key=["id"]).values(
                id=event["id"], raw_event_id=raw_id, position=0, type=event["type"],
                subject=event["subject"], envelope=event, created_at=NOW,
            )
        )  # fmt: skip
        return handler.apply(connection, event, context)


def listing(listing_id: str = "L1", *, connection_id: str = PMS_CONNECTION,
            **fields: Any) -> dict[str, Any]:  # fmt: skip
    observed = pms.ObservedListing(source="testpms", connection=connection_id,
                                   source_listing_id=listing_id, **fields)  # fmt: skip
    return store(pms.listing_observed(observed), connection_id=connection_id)


def booking(reservation_id: str = "R1", *, connection_id: str = PMS_CONNECTION,
            listing_id: str = "L1", updated: datetime | None = NOW, key: str | None = None,
            **fields: Any) -> dict[str, Any]:  # fmt: skip
    values: dict[str, Any] = {
        "status": pms.Status.CONFIRMED, "raw_status": "new", "check_in": date(2030, 2, 1),
        "check_out": date(2030, 2, 4), "channel": "airbnb", "channel_code": "HMAAA",
        "check_in_time": "16:00", "check_out_time": "10:00", "adults": 2, "guests_total": 2,
        "guest": pms.Guest(name="Ana Pérez", email="ana@example.com", phone="+13055550123"),
        **fields,
    }  # fmt: skip
    observed = pms.ObservedReservation(
        source="testpms", connection=connection_id, source_reservation_id=reservation_id,
        source_listing_id=listing_id, source_updated_at=updated, **values,
    )  # fmt: skip
    return store(pms.reservation_observed(observed), connection_id=connection_id, key=key)


def rows_of(engine: Engine, table: Any, *order: Any) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        found = connection.execute(select(table).order_by(*order)).all()
    return [dict(row._mapping) for row in found]


def derived(engine: Engine, kind: str) -> list[dict[str, Any]]:
    """The envelopes of the derived events of one type, in the order they were stored."""
    return [
        row["envelope"]
        for row in rows_of(engine, internal_events, internal_events.c.created_at)
        if row["type"] == kind
    ]


_WRITE_TIMES = frozenset({"created_at", "updated_at", "recorded_at"})


def model(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Everything the handler keeps, minus write times (for replay comparisons)."""
    tables = {"properties": properties, "listings": listings, "stays": stays,
              "reservations": reservations, "history": reservation_changes}  # fmt: skip
    out = {}
    for name, table in tables.items():
        out[name] = [
            {k: v for k, v in row.items() if k not in _WRITE_TIMES}
            for row in rows_of(engine, table, *table.primary_key.columns)
        ]
    out["events"] = [{"id": r["id"], "type": r["type"]} for r in rows_of(
        engine, internal_events, internal_events.c.id)]  # fmt: skip
    return out


@pytest.fixture
def pms_engine(engine: Engine) -> Iterator[Engine]:
    make_connection(engine, PMS_CONNECTION)
    yield engine


def test_a_stay_is_created_changed_and_cancelled_with_its_history(pms_engine: Engine) -> None:
    engine = pms_engine
    labels = {"source": "testpms", "outcome": "created"}
    before = REGISTRY.get_sample_value("hub_reservations_applied_total", labels) or 0.0

    created = apply(engine, booking())
    apply(engine, booking(updated=NOW + timedelta(hours=1), check_out=date(2030, 2, 5),
                          guest=pms.Guest(name="Ana Pérez", email="ana@new.example")))  # fmt: skip
    apply(engine, booking(updated=NOW + timedelta(hours=2), status=pms.Status.CANCELLED,
                          raw_status="cancelled", check_out=date(2030, 2, 5)))  # fmt: skip

    [reservation] = rows_of(engine, reservations)
    [stay] = rows_of(engine, stays)
    assert str(created).startswith(f"reservation {reservation['id']} created (stay {stay['id']}")
    assert (stay["status"], stay["check_out"], stay["primary_reservation_id"]) == (
        "cancelled", date(2030, 2, 5), reservation["id"])  # fmt: skip
    [made] = derived(engine, "reservation.created")
    assert made["subject"] == stay["id"]
    assert made["data"]["check_in"] == "2030-02-01" and made["data"]["guests_total"] == 2
    assert made["data"]["manager_id"] == "acme" and made["data"]["channel_code"] == "HMAAA"
    [changed] = derived(engine, "reservation.changed")
    assert changed["data"]["changed"] == ["check_out"]
    assert changed["data"]["previous"]["check_out"] == "2030-02-04"
    [cancelled] = derived(engine, "reservation.cancelled")
    assert cancelled["data"]["reason"] == "cancelled"
    assert cancelled["data"]["previous"]["status"] == "confirmed"
    history = rows_of(engine, reservation_changes, reservation_changes.c.id)
    assert [h["kind"] for h in history] == ["created", "changed", "cancelled"]
    assert history[1]["changes"] == {"check_out": ["2030-02-04", "2030-02-05"],
                                     "guest_fields": ["guest_email", "guest_phone"]}  # fmt: skip
    assert history[2]["changes"]["status"] == ["confirmed", "cancelled"]
    everything = str([history, made, changed, cancelled])
    assert "ana@" not in everything and "5550123" not in everything and "Ana" not in everything
    assert REGISTRY.get_sample_value("hub_reservations_applied_total", labels) == before + 1


def test_an_older_version_arriving_late_changes_nothing(pms_engine: Engine) -> None:
    engine = pms_engine
    apply(engine, booking(updated=NOW + timedelta(hours=1), check_out=date(2030, 2, 6)))
    before = model(engine)

    late = apply(engine, booking(updated=NOW, check_out=date(2030, 2, 4)))

    assert late == Skipped("an older version than the stored one")
    after = model(engine)
    assert after["reservations"] == before["reservations"] and after["stays"] == before["stays"]
    assert [h["kind"] for h in after["history"]] == ["created", "stale"]
    assert derived(engine, "reservation.changed") == []
    # No time against a stored one is stale too; equal times apply in event order.
    assert apply(engine, booking(updated=None, check_out=date(2030, 2, 7))) == late
    apply(engine, booking(updated=NOW + timedelta(hours=1), check_out=date(2030, 2, 7)))
    assert rows_of(engine, stays)[0]["check_out"] == date(2030, 2, 7)


@pytest.fixture
def fresh_engine(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Engine]:
    """A second migrated database of the same kind as `engine`'s, empty."""
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    with scratch_database(kind, tmp_path / "fresh", os.environ.get("HUB_TEST_POSTGRES_URL")) as url:
        engine = make_engine(url)
        if kind == "sqlite":
            request.getfixturevalue("sqlite_template").copy_to(url)
        else:
            template = request.getfixturevalue("postgres_template")
            if template is None or not template.copy_to(url):
                migrate.upgrade(engine)
        make_connection(engine, PMS_CONNECTION)
        yield engine
        engine.dispose()


def test_a_replay_gives_the_same_model(pms_engine: Engine, fresh_engine: Engine) -> None:
    engine = pms_engine
    sequence = [
        listing(latitude=25.7617, longitude=-80.1918, name="Brickell loft"),
        booking("R1"),
        booking("R2", channel_code="HMBBB", check_in=date(2030, 3, 1), check_out=date(2030, 3, 3)),
        booking("R1", updated=NOW + timedelta(hours=1), check_in=date(2030, 2, 2)),
        booking("R1", updated=NOW - timedelta(hours=1)),  # late: stale
        booking("R1", updated=NOW + timedelta(hours=1), check_in=date(2030, 2, 2),
                guests_total=3),  # equal time: applies in order
        booking("R1", updated=NOW + timedelta(hours=1), check_in=date(2030, 2, 2),
                guests_total=3),  # unchanged
        booking("R2", updated=NOW + timedelta(hours=1), status=pms.Status.CANCELLED,
                channel_code="HMBBB", check_in=date(2030, 3, 1), check_out=date(2030, 3, 3)),
    ]  # fmt: skip
    for event in sequence:
        apply(engine, event)
    first = model(engine)

    for event in reversed(sequence):  # a replay, in any order, changes nothing
        apply(engine, event)
    for event in sequence:  # the same events into an empty database: the same model
        apply(fresh_engine, event)

    assert model(engine) == first
    assert model(fresh_engine) == first
    assert len(first["stays"]) == 2
    assert [h["kind"] for h in first["history"]] == [
        "created", "created", "changed", "stale", "changed", "unchanged", "cancelled"]  # fmt: skip


def test_lean_payloads_and_hints_queue_one_fetch_each(pms_engine: Engine) -> None:
    engine = pms_engine
    apply(engine, booking("R9"))  # complete: no fetch
    assert rows_of(engine, workflow_outbox) == []
    lean = booking("R9", updated=NOW + timedelta(minutes=5), complete=False, adults=None,
                   guests_total=None, guest=pms.Guest(), check_out=date(2030, 2, 5))  # fmt: skip

    outcome = apply(engine, lean)
    apply(engine, lean)  # a replayed run queues nothing twice
    hint = store(pms.reservation_hinted(source="testpms", connection=PMS_CONNECTION,
                                        source_reservation_id="R7"),
                 connection_id=PMS_CONNECTION)  # fmt: skip
    assert apply(engine, hint) == "fetch queued"

    assert str(outcome).endswith("; fetch queued")
    queued = rows_of(engine, workflow_outbox, workflow_outbox.c.id)
    assert [(q["workflow_type"], q["workflow_id"], q["dedup"], q["input"]) for q in queued] == [
        ("testpms.fetch_reservation", f"pms.fetch/testpms/{PMS_CONNECTION}/R9/{lean['id']}",
         lean["id"],
         {"connection": PMS_CONNECTION, "source_reservation_id": "R9"}),
        ("testpms.fetch_reservation", f"pms.fetch/testpms/{PMS_CONNECTION}/R7/{hint['id']}",
         hint["id"],
         {"connection": PMS_CONNECTION, "source_reservation_id": "R7"}),
    ]  # fmt: skip
    # The reservation's next lean change is fetched again (its own run).
    apply(engine, booking("R9", updated=NOW + timedelta(minutes=9), complete=False))
    assert len({q["workflow_id"] for q in rows_of(engine, workflow_outbox)}) == 3
    [stored] = rows_of(engine, reservations)  # the hint stored nothing
    # What the lean payload did not say is kept; what it said is applied.
    assert (stored["complete"], stored["check_in"], stored["guests_total"]) == (
        False, date(2030, 2, 1), 2)  # fmt: skip
    assert stored["guest_email"] == "ana@example.com"


def test_an_unknown_connection_is_refused_for_good(pms_engine: Engine) -> None:
    make_connection(pms_engine, "other")  # the event's connection is not this one either
    with pytest.raises(HubError) as refused:
        apply(pms_engine, booking(connection_id="nobody"))
    assert refused.value.reason == "unknown_connection" and not refused.value.retryable
    with pytest.raises(HubError, match="not one of 'otherpms'") as refused:
        apply(pms_engine, store(pms.reservation_hinted(source="otherpms", connection="other",
                                                       source_reservation_id="R1"),
                                connection_id="other", partner="otherpms"))  # fmt: skip
    assert refused.value.reason == "unknown_connection"


def test_listings_make_keep_and_remove_properties(pms_engine: Engine, tmp_path: Path) -> None:
    engine = pms_engine
    apply(engine, listing("L1", latitude=25.7617, longitude=-80.1918, name="Brickell loft",
                          address="1 Brickell Ave, Miami", check_in_time="15:00",
                          source_updated_at=NOW))  # fmt: skip
    [place] = rows_of(engine, properties)
    assert (place["timezone"], place["timezone_source"], place["manager_id"]) == (
        "America/New_York", "coordinates", "acme")  # fmt: skip
    assert place["id"].startswith("prop_") and place["check_in_time"] == "15:00"

    older = apply(engine, listing("L1", name="Old name", source_updated_at=NOW - timedelta(1)))
    same = apply(engine, listing("L1", latitude=25.7617, longitude=-80.1918,
                                 name="Brickell loft", source_updated_at=NOW))  # fmt: skip
    renamed = apply(engine, listing("L1", name="Brickell loft 2", timezone="America/Chicago",
                                    source_updated_at=NOW + timedelta(1)))  # fmt: skip

    assert isinstance(older, Skipped) and "unchanged" in str(same)
    assert renamed == f"property {place['id']} updated"
    [place] = rows_of(engine, properties)
    assert (place["name"], place["timezone"], place["timezone_source"], place["latitude"]) == (
        "Brickell loft 2", "America/Chicago", "pms", 25.7617)  # fmt: skip
    upserts = derived(engine, "property.upserted")
    assert [e["data"]["name"] for e in upserts] == ["Brickell loft", "Brickell loft 2"]

    apply(engine, store(pms.listing_removed(source="testpms", connection=PMS_CONNECTION,
                                            source_listing_id="L1"),
                        connection_id=PMS_CONNECTION))  # fmt: skip
    [place] = rows_of(engine, properties)
    assert place["removed_at"] is not None
    [removed] = derived(engine, "property.removed")
    assert removed["data"] == {"property_id": place["id"], "manager_id": "acme",
                               "reason": "listing_removed"}  # fmt: skip


def test_a_reservation_of_an_unknown_listing_makes_it(pms_engine: Engine) -> None:
    apply(pms_engine, booking(listing_id="L-new"))

    [made] = rows_of(pms_engine, listings)
    [place] = rows_of(pms_engine, properties)
    assert (made["source_listing_id"], made["property_id"], made["linked_by"]) == (
        "L-new", place["id"], "auto")  # fmt: skip
    assert place["name"] == "L-new"
    [stay] = rows_of(pms_engine, stays)
    assert stay["property_id"] == place["id"]


def test_a_reservation_moved_to_another_listing_takes_its_stay(pms_engine: Engine) -> None:
    engine = pms_engine
    apply(engine, booking("R1", listing_id="L1"))
    [stay] = rows_of(engine, stays)

    apply(engine, booking("R1", listing_id="L2", updated=NOW + timedelta(hours=1)))

    [moved] = rows_of(engine, stays)
    [place] = [p for p in rows_of(engine, properties) if p["name"] == "L2"]
    assert (moved["id"], moved["property_id"]) == (stay["id"], place["id"])
    [change] = derived(engine, "reservation.changed")
    assert change["data"]["changed"] == ["property_id"]
    assert change["data"]["property_id"] == place["id"]
