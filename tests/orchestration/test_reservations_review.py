"""The reservations model against the orders of arrival that broke it: a new booking on the
dates of a cancelled stay, replays after later changes, an older calendar delivered late, a
feed hold that must clear, an empty calendar, and one booking seen in two orders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import orjson
import pytest
from sqlalchemy import Engine, select

from integration_hub.connectors import pms
from integration_hub.orchestration import reservation_links
from integration_hub.storage import stays as stay_rows
from integration_hub.storage.engine import begin_write
from integration_hub.storage.tables import listings, raw_events, reservations, stays
from tests.orchestration.test_reservations import (
    FEED_CONNECTION,
    NOW,
    PMS_CONNECTION,
    apply,
    booking,
    derived,
    listing,
    make_connection,
    rows_of,
)
from tests.orchestration.test_reservations_sources import (
    FETCHED,
    by_source,
    calendar,
    connection_row,
    entry,
    ten,
)


@pytest.fixture
def feeds(engine: Engine) -> Iterator[Engine]:
    make_connection(engine, PMS_CONNECTION)
    make_connection(engine, FEED_CONNECTION, partner="testfeed")
    yield engine


def link_feed_to_l1(engine: Engine) -> None:
    with begin_write(engine) as connection:
        property_id = connection.execute(
            select(listings.c.property_id).where(listings.c.source_listing_id == "L1")
        ).scalar_one()
        stay_rows.link_listing(
            connection, connection_id=FEED_CONNECTION, source_listing_id="feed-1",
            property_id=property_id,
        )  # fmt: skip


def test_a_new_booking_on_a_cancelled_stays_dates_is_a_stay_of_its_own(feeds: Engine) -> None:
    apply(feeds, listing("L1"))
    apply(feeds, calendar([], fetched=FETCHED))
    link_feed_to_l1(feeds)
    apply(feeds, booking("R1", channel="direct", channel_code=None))
    apply(feeds, booking("R1", channel="direct", channel_code=None, status=pms.Status.CANCELLED,
                         raw_status="cancelled", updated=NOW + timedelta(hours=1)))  # fmt: skip
    apply(feeds, calendar([entry("u9", date(2030, 2, 1))], fetched=FETCHED))

    assert sorted(s["status"] for s in rows_of(feeds, stays)) == ["cancelled", "confirmed"]


@pytest.mark.parametrize("untimed", [True, False])
def test_an_unchanged_event_replayed_after_later_changes_changes_nothing(
    feeds: Engine, untimed: bool
) -> None:
    apply(feeds, listing("L1"))
    apply(feeds, booking("R1", updated=NOW))
    same = booking("R1", updated=None if untimed else NOW)
    apply(feeds, same)
    apply(feeds, booking("R1", updated=NOW + timedelta(hours=0 if not untimed else 1),
                         status=pms.Status.CANCELLED, raw_status="cancelled"))  # fmt: skip

    apply(feeds, same)

    assert [r["status"] for r in rows_of(feeds, reservations)] == ["cancelled"]
    assert [s["status"] for s in rows_of(feeds, stays)] == ["cancelled"]


def test_an_older_calendar_delivered_late_cancels_nothing_a_newer_one_listed(
    feeds: Engine,
) -> None:
    both = [entry("y", date(2030, 2, 1)), entry("z", date(2030, 3, 1))]
    apply(feeds, calendar(both, fetched=FETCHED))
    apply(feeds, calendar(both, fetched=FETCHED + timedelta(hours=2)))
    apply(feeds, calendar([entry("z", date(2030, 3, 1))], fetched=FETCHED + timedelta(hours=1)))

    assert by_source(feeds)["y"]["status"] == "confirmed"
    apply(feeds, calendar([entry("z", date(2030, 3, 1))], fetched=FETCHED + timedelta(hours=3)))
    assert by_source(feeds)["y"]["status"] == "cancelled"


def test_a_held_feed_back_in_full_clears_its_hold_and_then_cancels(feeds: Engine) -> None:
    apply(feeds, calendar(ten()))
    apply(feeds, calendar([], fetched=FETCHED + timedelta(hours=1)))
    assert connection_row(feeds, FEED_CONNECTION)["status"] == "held"
    apply(feeds, calendar(ten()[8:], fetched=FETCHED + timedelta(hours=2)))  # still broken
    assert connection_row(feeds, FEED_CONNECTION)["status"] == "held"

    apply(feeds, calendar(ten(), fetched=FETCHED + timedelta(hours=3)))
    row = connection_row(feeds, FEED_CONNECTION)
    assert (row["status"], row["held_reason"]) == ("active", None)
    apply(feeds, calendar(ten()[1:], fetched=FETCHED + timedelta(hours=4)))
    assert by_source(feeds)["u0@airbnb.com"]["status"] == "cancelled"


def test_an_empty_calendar_does_not_cancel_the_only_future_stay(feeds: Engine) -> None:
    apply(feeds, calendar([entry("u1", date(2030, 2, 1))]))
    apply(feeds, calendar([], fetched=FETCHED + timedelta(hours=1)))

    assert by_source(feeds)["u1"]["status"] == "confirmed"
    assert connection_row(feeds, FEED_CONNECTION)["status"] == "held"


def test_one_booking_is_one_stay_whichever_source_catches_up_first(feeds: Engine) -> None:
    apply(feeds, listing("L1"))
    apply(feeds, calendar([entry("u1", date(2030, 2, 1))]))
    link_feed_to_l1(feeds)
    # The PMS already has the booking moved a day; the feed catches up later.
    apply(feeds, booking("R1", channel_code=None, check_in=date(2030, 2, 2),
                         check_out=date(2030, 2, 5)))  # fmt: skip
    assert len(rows_of(feeds, stays)) == 2
    apply(feeds, calendar([entry("u1", date(2030, 2, 2))], fetched=FETCHED + timedelta(hours=1)))

    [stay] = rows_of(feeds, stays)
    found = by_source(feeds)
    assert found["R1"]["stay_id"] == found["u1"]["stay_id"] == stay["id"]
    assert (stay["check_in"], stay["primary_reservation_id"]) == (
        date(2030, 2, 2),
        found["R1"]["id"],
    )
    [gone] = [e for e in derived(feeds, "reservation.cancelled") if e["data"]["reason"] == "merged"]
    assert gone["subject"] != stay["id"] and gone["data"]["merged_into"] == stay["id"]


def test_a_link_that_merges_stays_tells_it_with_an_admin_cause(feeds: Engine) -> None:
    apply(feeds, listing("L1"))
    apply(feeds, booking("R1"))
    apply(feeds, calendar([entry("u1", date(2030, 2, 1), code="HMAAA")]))
    pms_stay, feed_stay = (by_source(feeds)[key]["stay_id"] for key in ("R1", "u1"))
    assert pms_stay != feed_stay

    with begin_write(feeds) as connection:
        target = connection.execute(
            select(listings.c.property_id).where(listings.c.source_listing_id == "L1")
        ).scalar_one()
        told = reservation_links.link_listing(
            connection, connection_id=FEED_CONNECTION, source_listing_id="feed-1",
            property_id=target,
        )  # fmt: skip

    [stay] = rows_of(feeds, stays)
    assert stay["id"] == pms_stay  # the older stay carries the booking on
    [gone] = [e for e in told if e["type"] == "reservation.cancelled"]
    assert (gone["subject"], gone["data"]["reason"], gone["data"]["merged_into"]) == (
        feed_stay, "merged", pms_stay)  # fmt: skip
    assert {e["id"] for e in told} <= {e["id"] for e in derived(feeds, "reservation.cancelled")}
    [cause] = [r for r in rows_of(feeds, raw_events) if r["partner"] == "hub"]
    assert (cause["event_type"], cause["status"]) == ("admin.link_listing", "processed")
    assert orjson.loads(cause["body"]) == {
        "connection_id": FEED_CONNECTION,
        "source_listing_id": "feed-1",
        "property_id": target,
    }
