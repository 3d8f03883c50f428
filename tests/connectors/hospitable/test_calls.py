"""Hospitable's calls against a local stand-in for its Public API v2: the exact documented
requests (path, include, page/per_page, the connection's Bearer token), a fetched reservation
stored once and normalized like a delivered one, 429 with Retry-After pausing the connection,
a refused token, no credentials, and the properties poll's cursor. Real SQLite file,
PostgreSQL when configured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine, select
from temporalio.exceptions import ApplicationError

from integration_hub.connectors import pms
from integration_hub.connectors.hospitable import samples
from integration_hub.connectors.hospitable.calls import HospitableCalls
from integration_hub.connectors.hospitable.polls import fetch_properties
from integration_hub.connectors.hospitable.webhook import HospitableConnector
from integration_hub.connectors.partner import CallsContext, PollContext
from integration_hub.pipeline.normalizer import Normalizer
from integration_hub.secrets import EnvSecretSource
from integration_hub.settings import Settings
from integration_hub.storage.tables import internal_events, raw_events
from tests.helpers import make_settings
from tests.partner_server import PartnerServer, Reply

CONNECTION = "brickell-homes"
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
def settings(tmp_path: Path, database_url: str, server: PartnerServer) -> Settings:
    return make_settings(
        tmp_path, database_url, "127.0.0.1:7233", hospitable_api_base_url=f"{server.url}/v2"
    )


@pytest.fixture
def calls(settings: Settings, engine: Engine) -> Iterator[HospitableCalls]:
    built = HospitableCalls(settings, SECRETS, engine)
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


def test_a_fetched_reservation_is_stored_once_and_normalized(
    calls: HospitableCalls, server: PartnerServer, engine: Engine
) -> None:
    reservation = samples.reservation_data(category="cancelled")
    server.reply(Reply(200, {"data": reservation}), Reply(200, {"data": reservation}))
    request = pms.FetchReservation(CONNECTION, reservation["id"])

    first = calls.fetch_reservation(request)
    again = calls.fetch_reservation(request)

    assert (first, again) == (pms.FetchOutcome("stored"), pms.FetchOutcome("duplicate"))
    sent = server.requests[0]
    assert (sent.method, sent.path) == ("GET", f"/v2/reservations/{reservation['id']}")
    assert sent.query == {"include": ["guest,properties,financials"]}
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    [(event_id, event_type)] = stored(engine)
    assert event_type == "reservation.fetched"
    assert event_id.startswith(f"{CONNECTION}:fetched:{reservation['id']}:")

    normalizer = Normalizer(
        engine, {"hospitable": HospitableConnector()}, lambda _: [], batch_size=10
    )
    assert normalizer.drain_batch() == 1
    with engine.connect() as connection:
        [envelope] = connection.execute(select(internal_events.c.envelope)).scalars()
    assert envelope["type"] == "pms.reservation_observed"
    assert (envelope["data"]["status"], envelope["data"]["complete"]) == ("cancelled", True)


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


def test_the_poll_walks_the_pages_then_starts_over(
    settings: Settings, engine: Engine, server: PartnerServer
) -> None:
    server.reply(property_page(["p1", "p2"], 1, 2), property_page(["p3"], 2, 2))
    context = PollContext(CallsContext(settings, SECRETS, engine), CONNECTION, max_events=100)

    first = fetch_properties(context, None)
    last = fetch_properties(context, first.cursor)

    assert (first.cursor, first.more, last.cursor, last.more) == ("2", True, "1", False)
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
    assert orjson.loads(first.events[0].body)["id"] == "p1"
    # The same property listed again, unchanged, is the same event (a duplicate in storage).
    server.reply(property_page(["p1"], 1, 1))
    again = fetch_properties(context, "1")
    assert again.events[0].partner_event_id == ids[0]


def test_the_poll_of_a_connection_without_a_token_fails_naming_the_secret(
    settings: Settings, engine: Engine, server: PartnerServer
) -> None:
    context = PollContext(CallsContext(settings, SECRETS, engine), "no-token-yet")
    with pytest.raises(ApplicationError) as refused:
        fetch_properties(context, None)
    assert "HOSPITABLE_ACCESS_TOKEN" in str(refused.value)
    assert server.requests == []
