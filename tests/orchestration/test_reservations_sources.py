"""The reservations handler across sources (SQLite file, PostgreSQL when configured): a feed's
calendar cancelling what vanished, holding a feed that lost most of its stays at once until an
admin releases it, and the same booking seen through a channel's iCal feed and a PMS made one
stay (the PMS primary) by its channel code, by its dates, or by an admin's link."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine

from integration_hub.connectors import pms
from integration_hub.storage import stays as stay_rows
from integration_hub.storage.engine import begin_write
from integration_hub.storage.tables import pms_connections, reservations, stays
from tests.orchestration.test_reservations import (
    FEED_CONNECTION,
    PMS_CONNECTION,
    apply,
    booking,
    derived,
    listing,
    make_connection,
    rows_of,
    store,
)

FETCHED = datetime(2030, 1, 10, 6, tzinfo=UTC)


def entry(uid: str, start: date, nights: int = 3, *, code: str | None = None,
          block: bool = False) -> pms.CalendarEntry:  # fmt: skip
    return pms.CalendarEntry(uid=uid, check_in=start, check_out=start + timedelta(nights),
                             is_block=block, channel_code=code)  # fmt: skip


def calendar(entries: list[pms.CalendarEntry], *, fetched: datetime = FETCHED,
             listing_id: str = "feed-1") -> dict[str, Any]:  # fmt: skip
    draft = pms.calendar_observed(
        source="testfeed", connection=FEED_CONNECTION, source_listing_id=listing_id,
        entries=entries, channel="airbnb", fetched_at=fetched,
    )  # fmt: skip
    return store(draft, connection_id=FEED_CONNECTION, partner="testfeed")


def ten(start: date = date(2030, 2, 1)) -> list[pms.CalendarEntry]:
    return [entry(f"u{i}@airbnb.com", start + timedelta(days=4 * i)) for i in range(10)]


def by_source(engine: Engine) -> dict[str, dict[str, Any]]:
    return {r["source_reservation_id"]: r for r in rows_of(engine, reservations)}


def connection_row(engine: Engine, connection_id: str) -> dict[str, Any]:
    [row] = [r for r in rows_of(engine, pms_connections) if r["id"] == connection_id]
    return row


@pytest.fixture
def feeds(engine: Engine) -> Iterator[Engine]:
    make_connection(engine, PMS_CONNECTION)
    make_connection(engine, FEED_CONNECTION, partner="testfeed")
    yield engine


def test_an_entry_that_vanished_is_cancelled(feeds: Engine) -> None:
    past = entry("past@airbnb.com", date(2030, 1, 2))  # checked out before the fetch
    first = [entry("a@airbnb.com", date(2030, 2, 1), code="HMA"),
             entry("b@airbnb.com", date(2030, 2, 10)),
             entry("c@airbnb.com", date(2030, 2, 20), block=True), past]  # fmt: skip
    apply(feeds, calendar(first))

    outcome = apply(feeds, calendar(first[:2], fetched=FETCHED + timedelta(hours=1)))

    found = by_source(feeds)
    assert [found[u]["status"] for u in ("a@airbnb.com", "b@airbnb.com")] == ["confirmed"] * 2
    assert found["c@airbnb.com"]["status"] == "cancelled"
    assert found["past@airbnb.com"]["status"] == "confirmed"  # the past is not the feed's
    assert (
        found["a@airbnb.com"]["channel"] == "airbnb" and found["a@airbnb.com"]["source"] == "ical"
    )
    [cancelled] = derived(feeds, "reservation.cancelled")
    assert cancelled["data"]["reason"] == "vanished_from_calendar"
    assert cancelled["data"]["is_block"] is True
    assert "1 vanished, cancelled" in str(outcome)
    assert len(derived(feeds, "reservation.created")) == 4
    # It comes back: restored, and told as a change of status.
    apply(feeds, calendar(first, fetched=FETCHED + timedelta(hours=2)))
    assert by_source(feeds)["c@airbnb.com"]["status"] == "blocked"
    [restored] = derived(feeds, "reservation.changed")
    assert restored["data"]["changed"] == ["status"]


def test_a_feed_that_lost_most_stays_is_held_until_released(feeds: Engine) -> None:
    held_before = REGISTRY.get_sample_value("hub_ical_feed_held_total") or 0.0
    apply(feeds, calendar(ten()))

    outcome = apply(feeds, calendar(ten()[:1], fetched=FETCHED + timedelta(hours=1)))

    assert "feed held (9 of 10 future stays vanished at once)" in str(outcome)
    assert {r["status"] for r in rows_of(feeds, reservations)} == {"confirmed"}
    held = connection_row(feeds, FEED_CONNECTION)
    assert (held["status"], held["held_reason"]) == (
        "held",
        "9 of 10 future stays vanished at once",
    )
    assert REGISTRY.get_sample_value("hub_ical_feed_held_total") == held_before + 1
    # While held, new entries still arrive and nothing is cancelled.
    later = [*ten()[:1], entry("new@airbnb.com", date(2030, 6, 1))]
    apply(feeds, calendar(later, fetched=FETCHED + timedelta(hours=2)))
    assert by_source(feeds)["new@airbnb.com"]["status"] == "confirmed"
    assert derived(feeds, "reservation.cancelled") == []

    with begin_write(feeds) as connection:
        assert stay_rows.release_hold(connection, FEED_CONNECTION) is True
    apply(feeds, calendar(later, fetched=FETCHED + timedelta(hours=3)))

    statuses = {u: r["status"] for u, r in by_source(feeds).items()}
    assert sorted(u for u, s in statuses.items() if s == "cancelled") == [
        f"u{i}@airbnb.com" for i in range(1, 10)]  # fmt: skip
    assert len(derived(feeds, "reservation.cancelled")) == 9
    released = connection_row(feeds, FEED_CONNECTION)
    assert (released["status"], released["held_reason"]) == ("active", None)


def test_a_feed_and_a_pms_with_one_channel_code_make_one_stay(feeds: Engine) -> None:
    apply(feeds, listing("L1", latitude=25.7617, longitude=-80.1918, name="Loft"))
    apply(feeds, calendar([entry("x@airbnb.com", date(2030, 2, 1), code="HMAAA")]))
    [feed_stay] = rows_of(feeds, stays)  # at the feed listing's own property
    # The admin links the feed's listing onto the PMS listing's property.
    with begin_write(feeds) as connection:
        target = _property_of(connection, PMS_CONNECTION, "L1")
        stay_rows.link_listing(connection, connection_id=FEED_CONNECTION,
                               source_listing_id="feed-1", property_id=target)  # fmt: skip
    assert feed_stay["property_id"] != target

    apply(feeds, booking("R1", channel_code="HMAAA", check_in=date(2030, 2, 1),
                         check_out=date(2030, 2, 4), check_in_time="16:00"))  # fmt: skip

    [stay] = rows_of(feeds, stays)
    found = by_source(feeds)
    assert found["R1"]["stay_id"] == found["x@airbnb.com"]["stay_id"] == stay["id"]
    assert stay["primary_reservation_id"] == found["R1"]["id"]
    assert (stay["property_id"], stay["check_in_time"], stay["guests_total"]) == (
        target, "16:00", 2)  # fmt: skip
    [change] = derived(feeds, "reservation.changed")
    assert change["subject"] == stay["id"] and "check_in_time" in change["data"]["changed"]
    # The feed's entry vanishing later cancels its reservation, not the PMS's stay.
    apply(feeds, calendar([entry("later@airbnb.com", date(2030, 4, 1))],
                          fetched=FETCHED + timedelta(hours=1)))  # fmt: skip
    assert by_source(feeds)["x@airbnb.com"]["status"] == "cancelled"
    assert rows_of(feeds, stays)[0]["status"] == "confirmed"


def test_a_feed_entry_joins_a_pms_stay_of_the_same_dates(feeds: Engine) -> None:
    apply(feeds, booking("R1", listing_id="L1", channel_code=None))
    with begin_write(feeds) as connection:
        target = _property_of(connection, PMS_CONNECTION, "L1")
    apply(feeds, calendar([]))  # makes the feed's listing
    with begin_write(feeds) as connection:
        stay_rows.link_listing(connection, connection_id=FEED_CONNECTION,
                               source_listing_id="feed-1", property_id=target)  # fmt: skip

    apply(feeds, calendar([entry("y@airbnb.com", date(2030, 2, 1), code="HMZZZ")],
                          fetched=FETCHED + timedelta(hours=1)))  # fmt: skip

    [stay] = rows_of(feeds, stays)
    assert stay["primary_reservation_id"] == by_source(feeds)["R1"]["id"]
    assert stay["channel_code"] == "HMZZZ"  # what the PMS lacks, the feed gives


def test_linking_a_listing_merges_the_stays_of_one_booking(feeds: Engine) -> None:
    apply(feeds, calendar([entry("x@airbnb.com", date(2030, 2, 1), code="HMAAA"),
                           entry("z@airbnb.com", date(2030, 3, 1))]))  # fmt: skip
    apply(feeds, booking("R1", channel_code="HMAAA"))  # at the PMS's own property: apart
    apply(feeds, booking("R2", channel_code=None, check_in=date(2030, 3, 1),
                         check_out=date(2030, 3, 4)))  # fmt: skip
    assert len(rows_of(feeds, stays)) == 4
    found = by_source(feeds)
    feed_stay = found["x@airbnb.com"]["stay_id"]
    feed_property = rows_of(feeds, stays)[0]["property_id"]

    with begin_write(feeds) as connection:
        target = _property_of(connection, PMS_CONNECTION, "L1")
        stay_rows.link_listing(connection, connection_id=FEED_CONNECTION,
                               source_listing_id="feed-1", property_id=target)  # fmt: skip

    merged = {r["id"]: r for r in rows_of(feeds, stays)}
    found = by_source(feeds)
    assert len(merged) == 2 and {s["property_id"] for s in merged.values()} == {target}
    assert found["R1"]["stay_id"] == found["x@airbnb.com"]["stay_id"] == feed_stay  # older id
    assert merged[feed_stay]["primary_reservation_id"] == found["R1"]["id"]
    assert found["R2"]["stay_id"] == found["z@airbnb.com"]["stay_id"]
    with begin_write(feeds) as connection:
        left = connection.execute(
            stay_rows.properties.select().where(stay_rows.properties.c.id == feed_property)
        ).one()
    assert left.removed_at is not None


def _property_of(connection: Any, connection_id: str, listing_id: str) -> str:
    from integration_hub.storage.properties import get_listing

    found = get_listing(connection, connection_id=connection_id, source_listing_id=listing_id)
    assert found is not None
    return str(found["property_id"])


def test_a_booking_a_pms_re_made_under_a_new_id_follows_the_live_one(feeds: Engine) -> None:
    apply(feeds, booking("R1", channel_code="HMRE"))
    apply(feeds, booking("R1", updated=FETCHED, channel_code="HMRE", status=pms.Status.CANCELLED))
    apply(feeds, booking("R2", updated=FETCHED, channel_code="HMRE", check_out=date(2030, 2, 6)))

    [stay] = rows_of(feeds, stays)
    assert stay["primary_reservation_id"] == by_source(feeds)["R2"]["id"]
    assert (stay["status"], stay["check_out"]) == ("confirmed", date(2030, 2, 6))
    [restored] = derived(feeds, "reservation.changed")
    assert restored["data"]["changed"] == ["check_out", "status"]


def test_one_booking_from_two_sources_at_once_makes_one_stay(feeds: Engine) -> None:
    apply(feeds, listing("L1"))
    apply(feeds, calendar([]))
    with begin_write(feeds) as connection:
        target = _property_of(connection, PMS_CONNECTION, "L1")
        stay_rows.link_listing(connection, connection_id=FEED_CONNECTION,
                               source_listing_id="feed-1", property_id=target)  # fmt: skip
    events = [
        calendar([entry("w@airbnb.com", date(2030, 2, 1), code="HMWWW")],
                 fetched=FETCHED + timedelta(hours=1)),
        booking("R1", channel_code="HMWWW"),
    ]  # fmt: skip

    # Each source's run holds its connection's lock, not the other's: the property's lock is
    # what keeps them from making a stay each.
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda event: apply(feeds, event), events))

    [stay] = rows_of(feeds, stays)
    assert stay["primary_reservation_id"] == by_source(feeds)["R1"]["id"]
    assert len(derived(feeds, "reservation.created")) == 1


def test_relinking_a_listing_leaves_shared_stays_to_the_other_listing(feeds: Engine) -> None:
    apply(feeds, listing("L1"))
    apply(feeds, listing("L2"))
    apply(feeds, calendar([entry("x@airbnb.com", date(2030, 2, 1), code="HMAAA")]))
    with begin_write(feeds) as connection:
        first, second = (_property_of(connection, PMS_CONNECTION, n) for n in ("L1", "L2"))
        stay_rows.link_listing(connection, connection_id=FEED_CONNECTION,
                               source_listing_id="feed-1", property_id=first)  # fmt: skip
    apply(feeds, booking("R1", channel_code="HMAAA"))
    [joined] = rows_of(feeds, stays)

    with begin_write(feeds) as connection:  # the admin got it wrong: the feed is L2's
        stay_rows.link_listing(connection, connection_id=FEED_CONNECTION,
                               source_listing_id="feed-1", property_id=second)  # fmt: skip

    found = by_source(feeds)
    after = {s["id"]: s for s in rows_of(feeds, stays)}
    assert found["R1"]["stay_id"] == joined["id"] and after[joined["id"]]["property_id"] == first
    assert after[joined["id"]]["primary_reservation_id"] == found["R1"]["id"]
    feed_stay = after[found["x@airbnb.com"]["stay_id"]]
    assert feed_stay["property_id"] == second and feed_stay["id"] != joined["id"]
    assert feed_stay["primary_reservation_id"] == found["x@airbnb.com"]["id"]
