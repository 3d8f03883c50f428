"""OwnerRez's calls against a local stand-in for its API v2: the exact requests (path, query,
Basic username:token), the fetched booking stored once, 404 and missing credentials, 429 with
Retry-After (the connection paused for every caller), refused credentials, and the bookings and
properties polls following `next_page_url` and moving their cursors. Real SQLite (PostgreSQL
when configured)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine, select
from temporalio.exceptions import ApplicationError

from integration_hub.connectors import pms
from integration_hub.connectors.ownerrez import samples
from integration_hub.connectors.ownerrez.calls import OwnerRezCalls
from integration_hub.connectors.ownerrez.polls import poll_bookings, poll_properties
from integration_hub.connectors.partner import CallsContext, PollContext
from integration_hub.errors import CallRefused
from integration_hub.secrets import EnvSecretSource
from integration_hub.settings import Settings
from integration_hub.storage.tables import raw_events
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
    assert (first.method, first.path, first.query) == ("GET", "/v2/bookings/51873349", {})
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
    assert asked[2][1]["since_utc"] == ["2026-12-01T12:30:00Z"]
    assert {r.headers["authorization"] for r in server.requests} == {BASIC}
    assert (one.more, two.more, three.more) == (True, False, False)
    assert two.cursor == three.cursor == '{"since":"2026-12-01T12:30:00Z"}'
    [event] = one.events
    assert event.partner_event_id.startswith(f"{CONNECTION}:booking:1002:")
    assert (event.event_type, orjson.loads(event.body)) == ("booking.polled", second)
    good, bad = two.events
    assert good.event_type == "booking.polled" and bad.malformed is not None  # no id: kept apart
    assert bad.partner_event_id.startswith(f"{CONNECTION}:malformed:")


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
