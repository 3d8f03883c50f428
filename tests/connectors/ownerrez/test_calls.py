"""OwnerRez's calls against a local stand-in for its API v2: the exact requests (path, query,
Basic username:token), the fetched booking stored once, 404 and missing credentials, 429 with
Retry-After (the connection paused for every caller), refused credentials, and the bookings and
properties polls following `next_page_url` and moving their cursors. Real SQLite (PostgreSQL
when configured)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine, insert, select
from temporalio.exceptions import ApplicationError

from integration_hub.connectors import pms
from integration_hub.connectors.base import PartnerEvent
from integration_hub.connectors.ownerrez import samples
from integration_hub.connectors.ownerrez.calls import OwnerRezCalls
from integration_hub.connectors.ownerrez.polls import next_since, poll_bookings, poll_properties
from integration_hub.connectors.ownerrez.webhook import OwnerRezConnector
from integration_hub.connectors.partner import CallsContext, PollContext
from integration_hub.errors import CallRefused
from integration_hub.events import build_event, validate_event
from integration_hub.secrets import EnvSecretSource
from integration_hub.settings import Settings
from integration_hub.storage.tables import managers, pms_connections, raw_events, reservations
from tests.partner_server import PartnerServer, Reply

CONNECTION = "casa-brickell"
USERNAME = "ops@brickellstays.example"
TOKEN = "pt_4f9Kq2Lm7Xw1Rz8Tb3Vn6Yc0"
BASIC = "Basic " + base64.b64encode(f"{USERNAME}:{TOKEN}".encode()).decode()


def secrets(connection: str = CONNECTION) -> EnvSecretSource:
    suffix = connection.upper()
    return EnvSecretSource(
        environ={
            f"OWNERREZ_USERNAME__{suffix}": USERNAME,
            f"OWNERREZ_ACCESS_TOKEN__{suffix}": TOKEN,
        }
    )


@pytest.fixture
def server() -> Iterator[PartnerServer]:
    with PartnerServer(Reply(404, {"messages": ["not found"]})) as running:
        yield running


@pytest.fixture
def settings(tmp_path: Path, server: PartnerServer) -> Settings:
    return Settings(_env_file=None, home=tmp_path, ownerrez_api_base_url=server.url)  # type: ignore[call-arg]


@pytest.fixture
def calls(settings: Settings, engine: Engine) -> Iterator[OwnerRezCalls]:
    built = OwnerRezCalls(settings, secrets(), engine)
    yield built
    built.close()


def stored(engine: Engine) -> list[tuple[str, str, bytes]]:
    query = select(raw_events.c.partner_event_id, raw_events.c.event_type, raw_events.c.body)
    with engine.connect() as connection:
        rows = connection.execute(query.where(raw_events.c.partner == "ownerrez")).all()
    return [(row[0], row[1], bytes(row[2])) for row in rows]


def test_a_fetched_booking_is_stored_once(
    calls: OwnerRezCalls, server: PartnerServer, engine: Engine
) -> None:
    booking = samples.booking(51873349)
    server.reply(Reply(200, booking), Reply(200, booking))
    request = pms.FetchReservation(CONNECTION, "51873349")

    assert calls.fetch_booking(request) == pms.FetchOutcome("stored")
    assert calls.fetch_booking(request) == pms.FetchOutcome("duplicate")

    first = server.requests[0]
    assert (first.method, first.path, first.query) == (
        "GET",
        "/v2/bookings/51873349",
        {"include_guest": ["true"]},
    )
    assert first.headers["authorization"] == BASIC
    [(event_id, event_type, body)] = stored(engine)
    assert event_id.startswith(f"{CONNECTION}:fetched:51873349:")
    assert event_type == "booking.fetched"
    assert orjson.loads(body) == booking


def test_a_missing_booking_and_missing_credentials_fail_nothing(
    settings: Settings, calls: OwnerRezCalls, server: PartnerServer, engine: Engine
) -> None:
    assert calls.fetch_booking(pms.FetchReservation(CONNECTION, "404")) == pms.FetchOutcome(
        "not_found"
    )
    stranger = OwnerRezCalls(settings, secrets(), engine)
    outcome = stranger.fetch_booking(pms.FetchReservation("casa-coral", "51873349"))
    stranger.close()
    assert outcome == pms.FetchOutcome("no_credentials")
    assert len(server.requests) == 1  # no call without credentials
    assert stored(engine) == []


def test_a_deleted_booking_the_hub_had_is_cancelled_on_its_dates(
    calls: OwnerRezCalls, server: PartnerServer, engine: Engine
) -> None:
    now = datetime.now(UTC)
    stamps = {"created_at": now, "updated_at": now}
    with engine.begin() as db:
        db.execute(insert(managers).values(id="mgr-brickell", name="Brickell Stays",
                                           billing_mode="per_job", **stamps))  # fmt: skip
        db.execute(insert(pms_connections).values(id=CONNECTION, partner="ownerrez",
                   manager_id="mgr-brickell", status="active", options={}, **stamps))  # fmt: skip
        db.execute(insert(reservations).values(
            id="res_0123456789abcdef01234567", source="ownerrez", connection_id=CONNECTION,
            source_reservation_id="51873349", source_listing_id="418207", status="confirmed",
            raw_status="active", is_block=False, check_in=date(2026, 12, 20),
            check_out=date(2026, 12, 24), complete=True, **stamps))  # fmt: skip
    server.reply(Reply(404, {"messages": ["not found"]}), Reply(404, {"messages": ["nope"]}))

    gone = calls.fetch_booking(pms.FetchReservation(CONNECTION, "51873349"))
    never_seen = calls.fetch_booking(pms.FetchReservation(CONNECTION, "51870000"))

    assert (gone, never_seen) == (pms.FetchOutcome("not_found"), pms.FetchOutcome("not_found"))
    [(event_id, event_type, body)] = stored(engine)  # nothing for the one never observed
    assert (event_id, event_type) == (f"{CONNECTION}:gone:51873349", "booking.gone.fetched")
    [draft] = OwnerRezConnector().normalize(PartnerEvent(event_id, event_type, body))
    event = build_event(partner="ownerrez", partner_event_id=event_id, index=0, draft=draft)
    validate_event(event)
    data = event["data"]
    assert (data["status"], data["raw_status"]) == ("cancelled", "deleted")
    assert (data["check_in"], data["check_out"], data["source_listing_id"]) == (
        "2026-12-20",
        "2026-12-24",
        "418207",
    )
    assert data["source_updated_at"] is not None


def test_a_429_pauses_the_connection_and_retries_after_its_delay(
    calls: OwnerRezCalls, server: PartnerServer
) -> None:
    server.reply(Reply(429, {"messages": ["slow down"]}, headers={"Retry-After": "30"}))
    request = pms.FetchReservation(CONNECTION, "51873349")
    with pytest.raises(ApplicationError) as limited:
        calls.fetch_booking(request)
    assert not limited.value.non_retryable
    assert limited.value.next_retry_delay == timedelta(seconds=30)

    with pytest.raises(ApplicationError) as paused:  # the key is closed for everyone meanwhile
        calls.fetch_booking(request)
    assert paused.value.type == "ownerrez.rate_limited"
    assert paused.value.next_retry_delay is not None
    assert timedelta(seconds=25) < paused.value.next_retry_delay <= timedelta(seconds=30)
    assert len(server.requests) == 1


def test_refused_credentials_fail_for_good_without_the_token(
    calls: OwnerRezCalls, server: PartnerServer
) -> None:
    server.reply(Reply(401, {"messages": ["invalid credentials"]}))
    with pytest.raises(ApplicationError) as refused:
        calls.fetch_booking(pms.FetchReservation(CONNECTION, "51873349"))
    assert refused.value.non_retryable
    assert TOKEN not in str(refused.value) and USERNAME not in str(refused.value)
    with pytest.raises(ApplicationError) as bogus:  # never a path OwnerRez did not give
        calls.fetch_booking(pms.FetchReservation(CONNECTION, "../users/me"))
    assert bogus.value.type == CallRefused.__name__


def poll_context(settings: Settings, engine: Engine) -> PollContext:
    calls = CallsContext(settings=settings, secrets=secrets(), engine=engine)
    return PollContext(calls, instance=CONNECTION, max_events=1000)


def test_the_bookings_poll_follows_pages_then_asks_from_the_newest_change(
    settings: Settings, server: PartnerServer, engine: Engine
) -> None:
    first = samples.booking(1001, updated_utc="2026-12-01T10:00:00Z")
    second = samples.booking(1002, updated_utc="2026-12-01T12:30:00Z")
    page_two = "/v2/bookings?since_utc=2026-11-01T00%3A00%3A00Z&include_guest=true&offset=100"
    server.reply(
        Reply(200, {"items": [second], "next_page_url": server.url + page_two}),
        Reply(200, {"items": [first, {"property_id": 4}], "next_page_url": None}),
        Reply(200, {"items": [], "next_page_url": None}),
    )
    context = poll_context(settings, engine)
    start = '{"since":"2026-11-01T00:00:00Z"}'

    one = poll_bookings(context, start)
    two = poll_bookings(context, one.cursor)
    three = poll_bookings(context, two.cursor)

    asked = [(r.path, r.query) for r in server.requests]
    assert asked[0] == ("/v2/bookings",
                        {"since_utc": ["2026-11-01T00:00:00Z"], "include_guest": ["true"]})  # fmt: skip
    assert asked[1] == ("/v2/bookings", {"since_utc": ["2026-11-01T00:00:00Z"],
                        "include_guest": ["true"], "offset": ["100"]})  # fmt: skip
    assert asked[2][1]["since_utc"] == ["2026-12-01T12:25:00Z"]  # the newest, 5 min back
    assert {r.headers["authorization"] for r in server.requests} == {BASIC}
    assert (one.more, two.more, three.more) == (True, False, False)
    assert {"started", "next"} <= set(orjson.loads(one.cursor or ""))  # kept while paging
    assert two.cursor == '{"since":"2026-12-01T12:25:00Z"}'
    # Nothing changed since: the next query starts where this one started, minus 5 minutes.
    since = datetime.fromisoformat(orjson.loads(three.cursor or "")["since"])
    assert timedelta(minutes=4) < datetime.now(UTC) - since < timedelta(minutes=6)
    [event] = one.events
    assert event.partner_event_id.startswith(f"{CONNECTION}:booking:1002:")
    assert (event.event_type, orjson.loads(event.body)) == ("booking.polled", second)
    good, bad = two.events
    assert good.event_type == "booking.polled" and bad.malformed is not None  # no id: kept apart
    assert bad.partner_event_id.startswith(f"{CONNECTION}:malformed:")


def test_changes_while_paging_and_bookings_without_update_times_are_not_lost(
    settings: Settings, server: PartnerServer, engine: Engine
) -> None:
    """Without `updated_utc` the next query starts where this one started (minus the
    overlap), not at the old since forever nor at a later time; such a booking is keyed with
    the query's since, so one that changes and changes back is stored again."""
    timeless = {k: v for k, v in samples.booking(2001).items() if k != "updated_utc"}
    server.reply(
        Reply(200, {"items": [timeless], "next_page_url": None}),
        Reply(200, {"items": [timeless], "next_page_url": None}),
    )
    context = poll_context(settings, engine)
    before = datetime.now(UTC)
    one = poll_bookings(context, '{"since":"2026-11-01T00:00:00Z"}')
    two = poll_bookings(context, one.cursor)

    since = datetime.fromisoformat(orjson.loads(one.cursor or "")["since"])
    assert before - timedelta(minutes=5, seconds=2) < since <= before - timedelta(minutes=4)
    assert server.requests[1].query["since_utc"] == [orjson.loads(one.cursor or "")["since"]]
    assert one.events[0].partner_event_id != two.events[0].partner_event_id
    # A booking changed during paging (newer than the query's start) does not move the next
    # query past that start.
    assert next_since("2026-12-02T05:00:00Z", "2026-12-02T04:50:00Z",
                      "2026-12-01T00:00:00Z") == "2026-12-02T04:45:00Z"  # fmt: skip
    assert next_since("2026-12-02T04:00:00Z", "2026-12-02T04:50:00Z",
                      "2026-12-01T00:00:00Z") == "2026-12-02T03:55:00Z"  # fmt: skip


def test_a_first_bookings_poll_asks_a_year_back_and_never_follows_another_host(
    settings: Settings, server: PartnerServer, engine: Engine
) -> None:
    server.reply(Reply(200, {"items": [], "next_page_url": "https://elsewhere.example/v2/x"}))
    with pytest.raises(ApplicationError) as refused:
        poll_bookings(poll_context(settings, engine), None)
    assert refused.value.non_retryable
    since = datetime.fromisoformat(server.requests[0].query["since_utc"][0])
    back = datetime.now(UTC) - since  # HUB_OWNERREZ_FIRST_POLL_DAYS (365) back
    assert timedelta(days=364) < back < timedelta(days=366)


def test_the_properties_poll_lists_every_page_then_starts_over(
    settings: Settings, server: PartnerServer, engine: Engine
) -> None:
    brickell, coral = samples.property_(418207), samples.property_(418300)
    server.reply(
        Reply(200, {"items": [brickell], "next_page_url": "/v2/properties?offset=1"}),
        Reply(200, {"items": [coral], "next_page_url": None}),
    )
    context = poll_context(settings, engine)
    one = poll_properties(context, None)
    two = poll_properties(context, one.cursor)
    assert [(r.path, r.query) for r in server.requests] == [
        ("/v2/properties", {}),
        ("/v2/properties", {"offset": ["1"]}),
    ]
    assert (one.more, two.more, two.cursor) == (True, False, "{}")
    assert [e.event_type for e in (*one.events, *two.events)] == ["property.polled"] * 2
    assert two.events[0].partner_event_id.startswith(f"{CONNECTION}:property:418300:")
