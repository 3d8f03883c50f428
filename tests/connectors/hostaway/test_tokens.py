"""Hostaway's tokens against the stand-in over real HTTP, in a real file secret store under the
real token lock: a new token is honoured only after a moment (the stand-in refuses it for a
while, by the test's clock, which the client's settle wait advances), so a 403 on a brand-new
token waits instead of issuing another; an old token refused is re-issued once, and a young
one refused is final; a token issued for other credentials is not used."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.hostaway.settings import HostawaySettings
from integration_hub.connectors.tokens import IssuedToken
from integration_hub.secrets.file import FileSecretStore
from tests.connectors.hostaway.conftest import CONNECTION, TOKEN_SECRET, api
from tests.connectors.hostaway.fake import (
    ACCOUNT_ID,
    API_KEY,
    OTHER_ACCOUNT_ID,
    OTHER_API_KEY,
    FakeHostaway,
    credentials,
)
from tests.partner_server import PartnerServer
from tests.secrets.helpers import Clock, file_store

DEFAULT_SETTLE = HostawaySettings.model_fields["token_settle_seconds"].default
PATH = "/v1/reservations/30500001"


def stored(store: FileSecretStore) -> IssuedToken:
    token = IssuedToken.loads(store.versions(TOKEN_SECRET)[0])
    assert token is not None
    return token


def test_a_new_token_is_used_only_once_it_settles_with_the_default_settle_time(
    server: PartnerServer, store: FileSecretStore, engine: Engine, hostaway: FakeHostaway
) -> None:
    clock = Clock()
    hostaway.clock, hostaway.settles_in = clock, 1.2  # Hostaway: "about a second"
    client = api(server, store, engine, clock=clock,
                 token_settle_seconds=DEFAULT_SETTLE)  # fmt: skip

    answer = client.get(CONNECTION, PATH, operation="get_reservation")

    assert answer is not None and answer["result"]["id"] == 30500001
    assert hostaway.issued == [stored(store).access]
    assert [r.path for r in server.requests] == ["/v1/accessTokens", PATH]


def test_a_403_on_a_brand_new_token_waits_for_it_instead_of_issuing_another(
    server: PartnerServer, store: FileSecretStore, engine: Engine, hostaway: FakeHostaway
) -> None:
    clock = Clock()
    hostaway.clock, hostaway.settles_in = clock, 4.0  # slower than the settle wait this time
    client = api(server, store, engine, clock=clock, token_settle_seconds=2.0)

    for _ in range(2):  # the activity's retries, before the token settles
        with pytest.raises(ApplicationError) as not_yet:
            client.get(CONNECTION, PATH, operation="get_reservation")
        assert not not_yet.value.non_retryable
        assert not_yet.value.next_retry_delay is not None
        assert timedelta(seconds=1) <= not_yet.value.next_retry_delay <= timedelta(seconds=5)
        clock.advance(1.0)
    assert stored(store).access == hostaway.issued[0]  # kept, not forgotten
    answer = client.get(CONNECTION, PATH, operation="get_reservation")

    assert answer is not None
    assert len(hostaway.issued) == 1  # never a second token for a token that was not yet good


def test_an_old_token_refused_is_reissued_once_and_a_young_one_refused_is_final(
    server: PartnerServer, store: FileSecretStore, engine: Engine, hostaway: FakeHostaway
) -> None:
    clock = Clock()
    hostaway.clock = clock
    client = api(server, store, engine, clock=clock)
    client.get(CONNECTION, PATH, operation="get_reservation")
    clock.advance(86_400.0)  # a day later Hostaway stops honouring it
    hostaway.revoke_all()

    with pytest.raises(ApplicationError) as refused:
        client.get(CONNECTION, PATH, operation="get_reservation")
    assert not refused.value.non_retryable
    assert hostaway.issued[0] not in str(refused.value)
    assert stored(store).access == ""  # forgotten: the retry issues a new one
    assert client.get(CONNECTION, PATH, operation="get_reservation") is not None
    assert len(hostaway.issued) == 2

    clock.advance(30.0)  # past the settle grace, minutes after the re-issue: refused again
    hostaway.revoke_all()
    with pytest.raises(ApplicationError) as forbidden:
        client.get(CONNECTION, PATH, operation="get_reservation")
    assert forbidden.value.non_retryable
    assert forbidden.value.type == "hostaway.forbidden"
    assert stored(store).access == hostaway.issued[1]  # not forgotten: nothing issues a third
    assert len(hostaway.issued) == 2


def test_a_token_issued_for_other_credentials_is_not_used(
    server: PartnerServer,
    store: FileSecretStore,
    engine: Engine,
    hostaway: FakeHostaway,
    tmp_path: Path,
) -> None:
    api(server, store, engine).get(CONNECTION, PATH, operation="get_reservation")
    first = stored(store)
    assert first.fingerprint == hashlib.sha256(f"{ACCOUNT_ID}:{API_KEY}".encode()).hexdigest()[:16]

    # The manager connects another Hostaway account to the same connection: the same secret
    # store (the stored token), new account id and API key.
    moved = file_store(
        tmp_path / "secrets",
        environ=credentials(CONNECTION, account=OTHER_ACCOUNT_ID, key=OTHER_API_KEY),
    )
    api(server, moved, engine).get(CONNECTION, PATH, operation="get_reservation")

    second = stored(moved)
    assert len(hostaway.issued) == 2
    assert hostaway.issued_to[second.access] == OTHER_ACCOUNT_ID
    assert server.requests[-1].headers["authorization"] == f"Bearer {second.access}"
    assert second.fingerprint != first.fingerprint
