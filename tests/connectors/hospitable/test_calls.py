"""Hospitable's calls against a local stand-in for its Public API v2: the exact documented
requests (path, include, page/per_page, the connection's Bearer token), a fetched reservation
stored once and normalized like a delivered one, 429 with Retry-After pausing the connection,
a refused token, no credentials, and the properties poll's cursor. Real SQLite file,
PostgreSQL when configured."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine, select
from temporalio.exceptions import ApplicationError

from integration_hub.connectors import pms
from integration_hub.connectors.hospitable import samples
from integration_hub.connectors.hospitable.api import api_for, close_apis
from integration_hub.connectors.hospitable.calls import HospitableCalls
from integration_hub.connectors.hospitable.polls import fetch_properties
from integration_hub.connectors.hospitable.settings import HospitableSettings
from integration_hub.connectors.hospitable.webhook import HospitableConnector
from integration_hub.connectors.partner import CallsContext, PollContext
from integration_hub.pipeline.normalizer import Normalizer
from integration_hub.secrets import EnvSecretSource
from integration_hub.settings import Settings
from integration_hub.storage.tables import internal_events, raw_events
from tests.helpers import make_settings
from tests.partner_server import PartnerServer, Reply

CONNECTION = "brickell-homes"
NOW = 1_796_119_200.0  # 2026-12-01T10:00:00Z
TOKEN = "hsp_pat_3f9a1c7e5b2d4f6a8c0e"
OTHER_TOKEN = "hsp_pat_other_connection_77aa"
SECRETS = EnvSecretSource(
    environ={
        "HOSPITABLE_ACCESS_TOKEN__BRICKELL-HOMES": TOKEN,
        "HOSPITABLE_ACCESS_TOKEN__CORAL-GABLES": OTHER_TOKEN,
    }
)


@pytest.fixture(scope="module")
def _server() -> Iterator[PartnerServer]:
    """One server for the module (stopping one takes its 0.5 s poll), reset for each test."""
    with PartnerServer() as running:
        yield running


@pytest.fixture
def server(_server: PartnerServer) -> PartnerServer:
    _server.requests.clear()
    _server._script.clear()
    return _server


@pytest.fixture
def settings(
    tmp_path: Path, database_url: str, server: PartnerServer, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    # A poll builds its client from HUB_HOSPITABLE_*, as a worker does.
    monkeypatch.setenv("HUB_HOSPITABLE_API_BASE_URL", f"{server.url}/v2")
    return make_settings(tmp_path, database_url, "127.0.0.1:7233")


@pytest.fixture(autouse=True)
def _close_apis() -> Iterator[None]:
    yield
    close_apis()


@pytest.fixture
def calls(settings: Settings, engine: Engine) -> Iterator[HospitableCalls]:
    built = HospitableCalls(settings, SECRETS, engine, HospitableSettings())
    yield built
    built.close()


def stored(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(raw_events.c.partner_event_id, raw_events.c.event_type).where(
                raw_events.c.partner == "hospitable"
            )
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_each_fetch_is_stored_with_its_fetch_time_and_normalized(
    calls: HospitableCalls, server: PartnerServer, engine: Engine
) -> None:
    """A, then B, then A again: three events, each ordered by when it was fetched."""
    a = samples.reservation_data(category="accepted")
    b = {**a, "reservation_status": {"current": {"category": "cancelled"}}}
    server.reply(*(Reply(200, {"data": data}) for data in (a, b, a)))
    request = pms.FetchReservation(CONNECTION, a["id"])
    before = datetime.now(UTC)

    outcomes = [calls.fetch_reservation(request) for _ in range(3)]

    assert outcomes == [pms.FetchOutcome("stored")] * 3
    sent = server.requests[0]
    assert (sent.method, sent.path) == ("GET", f"/v2/reservations/{a['id']}")
    assert sent.query == {"include": ["guest,properties,financials"]}
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    rows = stored(engine)
    assert [event_type for _, event_type in rows] == ["reservation.fetched"] * 3
    assert all(i.startswith(f"{CONNECTION}:fetched:{a['id']}:") for i, _ in rows)
    assert len({i for i, _ in rows}) == 3

    normalizer = Normalizer(
        engine, {"hospitable": HospitableConnector()}, lambda _: [], batch_size=10
    )
    assert normalizer.drain_batch() == 3
    with engine.connect() as connection:
        envelopes = connection.execute(select(internal_events.c.envelope)).scalars().all()
    data = sorted(
        (envelope["data"] for envelope in envelopes), key=lambda d: d["source_updated_at"]
    )
    assert [d["status"] for d in data] == ["confirmed", "cancelled", "confirmed"]  # by fetch time
    assert all(d["complete"] for d in data)
    assert datetime.fromisoformat(data[0]["source_updated_at"]) >= before


def test_each_connection_calls_with_its_own_token_and_one_without_has_no_credentials(
    calls: HospitableCalls, server: PartnerServer, engine: Engine
) -> None:
    server.reply(Reply(404, {"message": "Not found"}))

    missing = calls.fetch_reservation(pms.FetchReservation("coral-gables", "6f58fd0a-a9cb"))
    unknown = calls.fetch_reservation(pms.FetchReservation("no-token-yet", "6f58fd0a-a9cb"))

    assert missing == pms.FetchOutcome("not_found")
    assert unknown == pms.FetchOutcome("no_credentials")
    assert [r.headers["authorization"] for r in server.requests] == [f"Bearer {OTHER_TOKEN}"]
    assert stored(engine) == []


def test_a_429_pauses_the_connection_for_its_retry_after(
    calls: HospitableCalls, server: PartnerServer
) -> None:
    server.reply(Reply(429, {"message": "Too Many Attempts."}, {"Retry-After": "30"}))
    request = pms.FetchReservation(CONNECTION, "6f58fd0a-a9cb-3746-9219-384a156ff7bb")

    with pytest.raises(ApplicationError) as limited:
        calls.fetch_reservation(request)
    with pytest.raises(ApplicationError) as paused:
        calls.fetch_reservation(request)  # no call goes out while paused

    assert not limited.value.non_retryable
    assert limited.value.next_retry_delay is not None
    assert limited.value.next_retry_delay.total_seconds() == 30
    assert paused.value.type == "hospitable.rate_limited"
    assert paused.value.next_retry_delay is not None
    assert 25 < paused.value.next_retry_delay.total_seconds() <= 30
    assert len(server.requests) == 1


def test_a_retry_after_of_zero_pauses_for_no_time(
    calls: HospitableCalls, server: PartnerServer
) -> None:
    reservation = samples.reservation_data()
    server.reply(Reply(429, {"message": "Too Many Attempts."}, {"Retry-After": "0"}),
                 Reply(200, {"data": reservation}))  # fmt: skip
    request = pms.FetchReservation(CONNECTION, reservation["id"])

    with pytest.raises(ApplicationError) as limited:
        calls.fetch_reservation(request)

    assert limited.value.next_retry_delay is not None
    assert limited.value.next_retry_delay.total_seconds() == 0
    assert calls.fetch_reservation(request) == pms.FetchOutcome("stored")  # not held back
    assert len(server.requests) == 2


def test_a_refused_token_fails_for_good_without_the_token_in_the_error(
    calls: HospitableCalls, server: PartnerServer
) -> None:
    server.reply(Reply(401, {"message": "Unauthenticated."}))

    with pytest.raises(ApplicationError) as refused:
        calls.fetch_reservation(pms.FetchReservation(CONNECTION, "6f58fd0a"))

    assert refused.value.non_retryable
    assert refused.value.type == "hospitable.token_refused"
    assert TOKEN not in str(refused.value)


def test_a_reservation_id_that_is_not_one_never_reaches_the_url(
    calls: HospitableCalls, server: PartnerServer
) -> None:
    with pytest.raises(ApplicationError):
        calls.fetch_reservation(pms.FetchReservation(CONNECTION, "../properties"))
    assert server.requests == []


def property_page(ids: list[str], current: int, last: int) -> Reply:
    data = [samples.property_data(i) for i in ids]
    return Reply(200, {"data": data, "meta": {"current_page": current, "last_page": last}})


def test_the_poll_walks_the_pages_then_starts_a_new_pass(
    settings: Settings, engine: Engine, server: PartnerServer
) -> None:
    # The second page's meta claims page 1: the page asked for is the page answered.
    server.reply(property_page(["p1", "p2"], 1, 2), property_page(["p3"], 1, 2))
    calls_context = CallsContext(settings, SECRETS, engine)
    context = PollContext(calls_context, CONNECTION, max_events=100)

    first = fetch_properties(context, None, clock=lambda: NOW)
    last = fetch_properties(context, first.cursor, clock=lambda: NOW + 5)

    assert (first.cursor, first.more) == (f"{int(NOW)}:2", True)
    assert (last.cursor, last.more) == (f"{int(NOW) + 5}:1", False)
    assert [r.query for r in server.requests] == [
        {"page": ["1"], "per_page": ["100"]},
        {"page": ["2"], "per_page": ["100"]},
    ]
    assert {r.path for r in server.requests} == {"/v2/properties"}
    assert server.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    ids = [e.partner_event_id for e in [*first.events, *last.events]]
    assert [i.split(":")[:3] for i in ids] == [
        [CONNECTION, "property", "p1"],
        [CONNECTION, "property", "p2"],
        [CONNECTION, "property", "p3"],
    ]
    assert {e.event_type for e in first.events} == {"property.polled"}
    polled = orjson.loads(first.events[0].body)
    assert (polled["data"]["id"], polled["fetched_at"]) == ("p1", "2026-12-01T10:00:00Z")
    # The same page retried within its pass is the same event (a duplicate in storage) ...
    server.reply(property_page(["p1", "p2"], 1, 2))
    retried = fetch_properties(
        PollContext(calls_context, CONNECTION, max_events=100), None, clock=lambda: NOW
    )
    assert retried.events[0].partner_event_id == ids[0]
    # ... and the next pass stores it again: A, B, then A again are three events.
    server.reply(property_page(["p1"], 1, 1))
    again = fetch_properties(context, last.cursor, clock=lambda: NOW + 3600)
    assert again.events[0].partner_event_id not in ids
    # One API (client and limiter) per worker context, whatever the pages.
    assert api_for(calls_context) is api_for(calls_context)


def test_the_poll_of_a_connection_without_a_token_fails_naming_the_secret(
    settings: Settings, engine: Engine, server: PartnerServer
) -> None:
    context = PollContext(CallsContext(settings, SECRETS, engine), "no-token-yet")
    with pytest.raises(ApplicationError) as refused:
        fetch_properties(context, None)
    assert "HOSPITABLE_ACCESS_TOKEN" in str(refused.value)
    assert server.requests == []
