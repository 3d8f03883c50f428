"""Guesty's calls against a local server that checks the documented requests: the reservation
fetched and stored as a raw event, the token issued once and kept in the secret store, a 401
answered with a new token, a 429's Retry-After honoured by every caller, and a connection
without credentials not called at all. Real SQLite file, PostgreSQL when configured."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from temporalio.exceptions import ApplicationError

from integration_hub.connectors import pms
from integration_hub.connectors.guesty.calls import GuestyCalls
from integration_hub.connectors.guesty.settings import GuestySettings
from integration_hub.secrets.file import FileSecretStore
from integration_hub.settings import Settings
from integration_hub.storage.tables import raw_events
from tests.connectors.guesty.fake import (
    CONNECTION,
    RESERVATION_ID,
    FakeGuesty,
    calls,
    secret_store,
)
from tests.helpers import make_settings
from tests.partner_server import PartnerServer, Reply

TOKEN_SECRET = "GUESTY_ACCESS_TOKEN__MIA-BEACH"
REQUEST = pms.FetchReservation(CONNECTION, RESERVATION_ID)


@pytest.fixture
def fake() -> FakeGuesty:
    fake = FakeGuesty()
    fake.add(status="confirmed")
    return fake


@pytest.fixture
def server(fake: FakeGuesty) -> Iterator[PartnerServer]:
    with PartnerServer(fake) as running:
        yield running


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url, "127.0.0.1:1")


@pytest.fixture
def store(tmp_path: Path) -> FileSecretStore:
    return secret_store(tmp_path / "secrets")


@pytest.fixture
def guesty(
    settings: Settings, store: FileSecretStore, server: PartnerServer, engine: Engine
) -> Iterator[GuestyCalls]:
    made = calls(settings, store, server.url, engine)
    yield made
    made.close()


def fetched_rows(engine: Engine) -> list[tuple[str, str, bytes]]:
    with engine.connect() as connection:
        query = select(raw_events.c.partner_event_id, raw_events.c.event_type, raw_events.c.body)
        rows = connection.execute(query.where(raw_events.c.partner == "guesty")).all()
    return [(row[0], row[1], bytes(row[2])) for row in rows]


def paths(server: PartnerServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.requests]


def test_a_fetch_stores_the_reservation_with_one_token_for_many_calls(
    guesty: GuestyCalls,
    server: PartnerServer,
    store: FileSecretStore,
    engine: Engine,
    settings: Settings,
) -> None:
    first = guesty.fetch_reservation(REQUEST)
    again = guesty.fetch_reservation(REQUEST)
    # Another worker reads the stored token instead of asking Guesty for a sixth of the day.
    other = calls(settings, store, server.url, engine)
    assert other.fetch_reservation(REQUEST) == pms.FetchOutcome("duplicate")
    other.close()

    assert (first, again) == (pms.FetchOutcome("stored"), pms.FetchOutcome("duplicate"))
    token_call, *gets = server.requests
    assert paths(server) == ["POST /oauth2/token"] + [f"GET /v1/reservations/{RESERVATION_ID}"] * 3
    assert token_call.headers["content-type"].startswith("application/x-www-form-urlencoded")
    token = json.loads(store.versions(TOKEN_SECRET)[0])["access"]
    assert {g.headers["authorization"] for g in gets} == {f"Bearer {token}"}
    assert all(g.query == {} and g.body == b"" for g in gets)
    [(event_id, event_type, body)] = fetched_rows(engine)
    assert event_id.startswith(f"{CONNECTION}:fetched:{RESERVATION_ID}:")
    assert event_type == "reservation.fetched"
    assert json.loads(body)["_id"] == RESERVATION_ID


def test_a_refused_token_is_replaced_on_the_retry(
    guesty: GuestyCalls, server: PartnerServer, fake: FakeGuesty
) -> None:
    guesty.fetch_reservation(REQUEST)
    fake.revoke()
    fake.add(status="canceled")  # changed meanwhile: a new version to store

    with pytest.raises(ApplicationError) as refused:
        guesty.fetch_reservation(REQUEST)
    retried = guesty.fetch_reservation(REQUEST)

    assert refused.value.type == "guesty.401" and not refused.value.non_retryable
    assert "eyJ" not in str(refused.value)
    assert retried == pms.FetchOutcome("stored")
    assert paths(server).count("POST /oauth2/token") == 2
    assert server.requests[-1].headers["authorization"] == "Bearer eyJguesty.token2.sig"


def test_a_429_pauses_the_connection_for_its_retry_after(
    guesty: GuestyCalls, server: PartnerServer
) -> None:
    guesty.fetch_reservation(REQUEST)  # the token is stored
    server.reply(Reply(429, {"error": "TOO_MANY_REQUESTS"}, {"Retry-After": "7"}))

    with pytest.raises(ApplicationError) as limited:
        guesty.fetch_reservation(REQUEST)
    with pytest.raises(ApplicationError) as paused:
        guesty.fetch_reservation(REQUEST)

    assert limited.value.type == "guesty.429" and not limited.value.non_retryable
    assert limited.value.next_retry_delay is not None
    assert limited.value.next_retry_delay.total_seconds() == 7
    assert paused.value.type == "guesty.rate_limited"  # not sent: every caller waits
    assert paused.value.next_retry_delay is not None
    assert 6 < paused.value.next_retry_delay.total_seconds() <= 7
    assert len(server.requests) == 3


def test_a_spent_rate_window_holds_the_next_call(
    guesty: GuestyCalls, server: PartnerServer
) -> None:
    guesty.fetch_reservation(REQUEST)
    reservation = server.requests[-1]
    assert reservation.method == "GET"
    server.reply(Reply(200, FakeGuesty().add(), {"X-RateLimit-Remaining-Second": "0"}))
    guesty.fetch_reservation(REQUEST)

    with pytest.raises(ApplicationError) as held:
        guesty.fetch_reservation(REQUEST)

    assert held.value.type == "guesty.rate_limited"
    assert len(server.requests) == 3


def test_without_credentials_nothing_is_called(
    tmp_path: Path, settings: Settings, server: PartnerServer, engine: Engine
) -> None:
    bare = calls(settings, secret_store(tmp_path / "bare", environ={}), server.url, engine)

    assert bare.fetch_reservation(REQUEST) == pms.FetchOutcome("no_credentials")
    assert server.requests == []
    bare.close()


def test_unknown_reservations_and_refused_credentials(
    guesty: GuestyCalls, server: PartnerServer, fake: FakeGuesty, engine: Engine
) -> None:
    missing = pms.FetchReservation(CONNECTION, "6650b1f2e4a0c10013d2ffff")
    assert guesty.fetch_reservation(missing) == pms.FetchOutcome("not_found")

    fake.revoke()
    fake.refused_token = 403
    guesty.api.tokens.refused(TOKEN_SECRET, "eyJguesty.token1.sig")
    with pytest.raises(ApplicationError) as refused:
        guesty.fetch_reservation(REQUEST)
    with pytest.raises(ApplicationError) as path:
        guesty.fetch_reservation(pms.FetchReservation(CONNECTION, "../listings"))

    assert refused.value.non_retryable and refused.value.type == "guesty.403"
    assert "Gu3sty" not in str(refused.value)
    assert path.value.non_retryable and fetched_rows(engine) == []


def test_workers_fetching_at_once_share_one_token(
    settings: Settings, store: FileSecretStore, server: PartnerServer, engine: Engine
) -> None:
    workers = [calls(settings, store, server.url, engine) for _ in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(lambda worker: worker.fetch_reservation(REQUEST), workers))
    for worker in workers:
        worker.close()

    assert sorted(o.outcome for o in outcomes) == ["duplicate"] * 3 + ["stored"]
    assert paths(server).count("POST /oauth2/token") == 1


def test_the_client_side_budget_holds_calls_past_the_per_second_limit(
    settings: Settings, store: FileSecretStore, server: PartnerServer, engine: Engine
) -> None:
    guesty = GuestySettings(_env_file=None, api_base_url=server.url, per_second=2)  # type: ignore[call-arg]
    limited = GuestyCalls(settings, store, engine, guesty, clock=lambda: 1_750_000_000.25)
    limited.fetch_reservation(REQUEST)
    limited.fetch_reservation(REQUEST)

    with pytest.raises(ApplicationError) as held:
        limited.fetch_reservation(REQUEST)

    assert held.value.type == "guesty.rate_limited" and not held.value.non_retryable
    assert held.value.next_retry_delay is not None
    assert held.value.next_retry_delay.total_seconds() == pytest.approx(0.75)
    assert paths(server).count(f"GET /v1/reservations/{RESERVATION_ID}") == 2
    limited.close()
