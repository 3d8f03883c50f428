"""Hostaway calls against a local stand-in over real HTTP (tests/partner_server.py), the token
in a real file secret store under the real token lock (SQLite, PostgreSQL when configured):
the documented token request, one token for many calls and workers, a 429 honoured
(Retry-After, else 10 s), the client-side limits, and poll pages (test_tokens.py: 403s and
settling; test_limits.py: limits across connections)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.hostaway import samples
from integration_hub.connectors.hostaway.api import NoCredentials
from integration_hub.connectors.hostaway.polls import fetch_listings, fetch_reservations
from integration_hub.connectors.partner import CallsContext, PollContext
from integration_hub.connectors.tokens import IssuedToken
from integration_hub.secrets.file import FileSecretStore
from tests.connectors.hostaway.conftest import CONNECTION, TOKEN_SECRET, api, settings_for
from tests.connectors.hostaway.fake import (
    ACCOUNT_ID,
    API_KEY,
    TOKEN_LIFETIME,
    FakeHostaway,
    credentials,
)
from tests.partner_server import PartnerServer, Reply
from tests.secrets.helpers import Clock, file_store


def test_one_token_is_issued_with_the_documented_form_and_reused_by_every_worker(
    server: PartnerServer, store: FileSecretStore, engine: Engine, hostaway: FakeHostaway
) -> None:
    first = api(server, store, engine)
    answer = first.get(CONNECTION, "/v1/reservations/30500001", operation="get_reservation")
    first.get(CONNECTION, "/v1/reservations", operation="list", params={"limit": 100, "afterId": 0})
    # Another worker (its own client, the same store): the stored token, no new issue.
    api(server, store, engine).get(CONNECTION, "/v1/listings", operation="list",
                                   params={"limit": 100, "afterId": 0})  # fmt: skip

    assert answer is not None and answer["result"]["id"] == 30500001
    assert len(hostaway.issued) == 1
    issue, *calls = server.requests
    assert (issue.method, issue.path) == ("POST", "/v1/accessTokens")
    assert issue.headers["content-type"] == "application/x-www-form-urlencoded"
    assert issue.form() == {"grant_type": ["client_credentials"], "client_id": [ACCOUNT_ID],
                            "client_secret": [API_KEY], "scope": ["general"]}  # fmt: skip
    assert [(c.method, c.path) for c in calls] == [
        ("GET", "/v1/reservations/30500001"), ("GET", "/v1/reservations"), ("GET", "/v1/listings")
    ]  # fmt: skip
    assert {c.headers["authorization"] for c in calls} == {f"Bearer {hostaway.issued[0]}"}
    assert calls[1].query == {"limit": ["100"], "afterId": ["0"]}
    stored = IssuedToken.loads(store.versions(TOKEN_SECRET)[0])
    assert stored is not None and stored.access == hostaway.issued[0]
    assert stored.expires_at is not None
    assert stored.expires_at - stored.issued_at == pytest.approx(TOKEN_LIFETIME)


@pytest.mark.parametrize(("headers", "delay"), [({"Retry-After": "7"}, 7), ({}, 10)])
def test_a_429_pauses_the_account_and_fails_retryably_after_its_delay(
    server: PartnerServer,
    store: FileSecretStore,
    engine: Engine,
    headers: dict[str, str],
    delay: int,
) -> None:
    clock = Clock()
    client = api(server, store, engine, clock=clock)
    client.get(CONNECTION, "/v1/reservations/30500001", operation="get_reservation")
    server.reply(Reply(429, {"status": "fail"}, headers))

    with pytest.raises(ApplicationError) as limited:
        client.get(CONNECTION, "/v1/reservations/30500001", operation="get_reservation")
    assert not limited.value.non_retryable
    assert limited.value.next_retry_delay == timedelta(seconds=delay)

    sent = len(server.requests)
    clock.advance(delay - 1)  # still paused: refused here, Hostaway never asked
    with pytest.raises(ApplicationError) as paused:
        client.get(CONNECTION, "/v1/reservations/30500001", operation="get_reservation")
    assert paused.value.type == "hostaway.rate_limited"
    assert len(server.requests) == sent
    clock.advance(1.5 + 10)  # the pause and the window are over
    assert client.get(CONNECTION, "/v1/reservations/30500001", operation="get_reservation")


def test_the_account_and_ip_limits_hold_calls_back_before_hostaway_sees_them(
    server: PartnerServer, store: FileSecretStore, engine: Engine
) -> None:
    clock = Clock()
    client = api(server, store, engine, clock=clock, account_calls_per_10s=3,
                 ip_calls_per_10s=50)  # fmt: skip
    # The token request counts: 1 issue + 2 calls fill the account's 3 per 10 s.
    for _ in range(2):
        client.get(CONNECTION, "/v1/reservations/30500001", operation="get_reservation")
    with pytest.raises(ApplicationError) as held:
        client.get(CONNECTION, "/v1/reservations/30500001", operation="get_reservation")
    assert held.value.type == "hostaway.rate_limited"
    assert held.value.next_retry_delay is not None
    assert held.value.next_retry_delay <= timedelta(seconds=10)
    assert len(server.requests) == 3


def test_no_credentials_means_no_call_and_refused_credentials_are_final(
    server: PartnerServer, tmp_path: Path, engine: Engine
) -> None:
    empty = file_store(tmp_path / "none", environ={})
    with pytest.raises(NoCredentials):
        api(server, empty, engine).get(CONNECTION, "/v1/listings", operation="list")
    assert server.requests == []

    wrong = file_store(tmp_path / "wrong", environ=credentials(CONNECTION, account="11111"))
    with pytest.raises(ApplicationError) as refused:
        api(server, wrong, engine).get(CONNECTION, "/v1/listings", operation="list")
    assert refused.value.non_retryable
    assert API_KEY not in str(refused.value) and "11111" not in str(refused.value)
    assert wrong.versions(TOKEN_SECRET) == ()


def test_a_poll_page_needs_a_connection_with_credentials_and_keeps_an_entry_without_id_apart(
    server: PartnerServer,
    store: FileSecretStore,
    engine: Engine,
    hostaway: FakeHostaway,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_for(server, monkeypatch)
    context = CallsContext(settings=settings, secrets=store, engine=engine)
    for instance in ("", "coral-gables"):  # the partner-wide run; a connection without keys
        with pytest.raises(ApplicationError) as refused:
            fetch_listings(PollContext(context, instance=instance), None)
        assert refused.value.non_retryable
    assert server.requests == []

    hostaway.listings = [samples.listing(listing_id=40160), {**samples.listing(), "id": None}]
    page = fetch_listings(PollContext(context, instance=CONNECTION, max_events=100), "0")
    bad, good = page.events
    assert good.partner_event_id.startswith(f"{CONNECTION}:listing:40160:")
    assert bad.malformed is not None and bad.partner_event_id.startswith("malformed:")
    assert (page.cursor, page.more) == ("0", False)  # the last page: the next run starts over
    with pytest.raises(ApplicationError) as bad_cursor:
        fetch_reservations(PollContext(context, instance=CONNECTION), "not-an-id")
    assert bad_cursor.value.non_retryable
