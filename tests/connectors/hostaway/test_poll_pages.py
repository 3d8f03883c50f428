"""Hostaway's poll pages, one fetch at a time against the stand-in over real HTTP (the whole
runs through Temporal are in test_polls.py): the id cursor never skips an entry the page held
and never stalls silently, the listings walk tells which kept listings vanished page by page,
and the changes poll pages through one filter and then moves its cursor to the newest change."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.hostaway import samples
from integration_hub.connectors.hostaway.changes import fetch_changes
from integration_hub.connectors.hostaway.polls import fetch_listings, fetch_reservations
from integration_hub.connectors.partner import CallsContext, PollContext
from integration_hub.secrets.file import FileSecretStore
from tests.connectors.hostaway.conftest import CONNECTION, keep_listings, settings_for
from tests.connectors.hostaway.fake import FakeHostaway, listings
from tests.partner_server import PartnerServer, Reply


@pytest.fixture
def context(
    server: PartnerServer, store: FileSecretStore, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> CallsContext:
    settings = settings_for(server, monkeypatch)
    return CallsContext(settings=settings, secrets=store, engine=engine)


def page_of(*entries: object) -> Reply:
    return Reply(200, {"status": "success", "result": list(entries), "count": len(entries)})


def test_the_cursor_is_the_greatest_id_of_the_whole_page_and_digit_strings_count(
    server: PartnerServer, context: CallsContext, hostaway: FakeHostaway
) -> None:
    poll = PollContext(context, instance=CONNECTION, max_events=2)
    fetch_reservations(poll, None)  # the token, issued before the pages below are answered
    # Hostaway answering more than asked, ids as strings: every entry kept, none skipped.
    server.reply(page_of({"id": "30500010"}, {"id": 30500012}, {"id": "30500011"}))
    page = fetch_reservations(poll, "30500000")
    assert (page.cursor, page.more) == ("30500012", True)
    assert len(page.events) == 3
    assert all(e.malformed is None for e in page.events)

    server.reply(page_of({"id": None}, {"id": "3e5"}))  # a full page that cannot move on
    with pytest.raises(ApplicationError) as stalled:
        fetch_reservations(poll, "30500012")
    assert stalled.value.non_retryable


def test_kept_listings_missing_from_their_page_range_vanish_once_per_version(
    server: PartnerServer, context: CallsContext, engine: Engine, hostaway: FakeHostaway
) -> None:
    hostaway.listings = listings(40160, 40161)
    keep_listings(engine, CONNECTION, 40150, 40160, 40161, 40999, removed=(40170,))
    poll = PollContext(context, instance=CONNECTION, max_events=1)

    def vanished(cursor: str) -> tuple[list[str], str | None]:
        page = fetch_listings(poll, cursor)
        gone = [e.body.decode() for e in page.events if e.event_type == "listing.vanished"]
        return gone, page.cursor

    assert vanished("0") == (['{"id":40150}'], "40160")  # (0, 40160]: 40150 is gone
    assert vanished("40160") == ([], "40161")
    assert vanished("40161") == (['{"id":40999}'], "0")  # the last page: every id past 40161
    again = fetch_listings(poll, "40161")  # the same listing again: the same id (a duplicate)
    first = fetch_listings(poll, "40161")
    assert [e.partner_event_id for e in again.events] == [e.partner_event_id for e in first.events]
    assert again.events[0].partner_event_id.startswith(f"{CONNECTION}:vanished:40999:")


def test_an_account_answering_no_listings_at_all_removes_nothing(
    context: CallsContext, engine: Engine, hostaway: FakeHostaway
) -> None:
    hostaway.listings = []
    keep_listings(engine, CONNECTION, 40160)
    page = fetch_listings(PollContext(context, instance=CONNECTION), "0")
    assert (page.events, page.cursor) == ([], "0")


def test_changes_page_through_one_filter_then_move_to_the_newest_change(
    server: PartnerServer, context: CallsContext, hostaway: FakeHostaway
) -> None:
    stamps = ["2026-11-20 10:30:00", "2026-11-20 11:30:00", "2026-11-21 09:00:00",
              "2026-11-21 09:10:00"]  # fmt: skip
    hostaway.reservations = [
        {**samples.reservation(reservation_id=30600000 + number), "updatedOn": stamp}
        for number, stamp in enumerate(stamps)
    ]
    poll = PollContext(context, instance=CONNECTION, max_events=2)

    first = fetch_changes(poll, "2026-11-20T12:00:00")
    second = fetch_changes(poll, first.cursor)
    last = fetch_changes(poll, second.cursor)

    queries = [r.query for r in server.requests if r.path == "/v1/reservations"]
    assert queries[0] == {"sortOrder": ["updatedOn"], "latestActivityStart": ["2026-11-20"],
                          "limit": ["2"], "offset": ["0"]}  # fmt: skip
    assert [q["offset"] for q in queries] == [["0"], ["2"], ["4"]]
    # 10:30 is before the start (12:00 minus the hour of overlap): seen by an earlier run.
    assert [len(p.events) for p in (first, second, last)] == [1, 2, 0]
    assert (first.more, second.more, last.more) == (True, True, False)
    assert last.cursor == "2026-11-21T09:10:00"
    assert all(e.partner_event_id.startswith(f"{CONNECTION}:reservation:30600") for e in
               [*first.events, *second.events])  # fmt: skip
