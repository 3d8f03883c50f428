"""Hostaway's limits across connections, against the stand-in over real HTTP with the shared
limiter in the real database: the IP limit binds every connection, a call its account refuses
spends none of the IP budget, a 429 on one connection holds another account's calls (Hostaway
does not say which limit it was), and the defaults keep to about half of Hostaway's limits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.hostaway.api import HostawayApi
from integration_hub.connectors.hostaway.settings import HostawaySettings
from integration_hub.secrets.file import FileSecretStore
from tests.connectors.hostaway.conftest import CONNECTION, OTHER_CONNECTION, api
from tests.connectors.hostaway.fake import OTHER_ACCOUNT_ID, FakeHostaway
from tests.partner_server import PartnerServer, Reply
from tests.secrets.helpers import Clock

PATH = "/v1/reservations/30500001"


def get(client: HostawayApi, connection: str) -> None:
    client.get(connection, PATH, operation="get_reservation")


def test_the_ip_limit_binds_every_connection_and_an_account_refusal_spends_none_of_it(
    server: PartnerServer, store: FileSecretStore, engine: Engine, hostaway: FakeHostaway
) -> None:
    clock = Clock()
    client = api(server, store, engine, clock=clock, account_calls_per_10s=2,
                 ip_calls_per_10s=3)  # fmt: skip
    get(client, CONNECTION)  # the token and one call: the account's 2 per 10 s are spent
    with pytest.raises(ApplicationError) as account_full:
        get(client, CONNECTION)
    assert account_full.value.type == "hostaway.rate_limited"

    # Another account: its token request is the IP's third call (the refused call spent none);
    # its call is then held by the IP limit, before Hostaway sees it.
    with pytest.raises(ApplicationError) as ip_full:
        get(client, OTHER_CONNECTION)
    assert ip_full.value.type == "hostaway.rate_limited"
    assert [r.path for r in server.requests] == ["/v1/accessTokens", PATH, "/v1/accessTokens"]
    assert hostaway.issued_to[hostaway.issued[1]] == OTHER_ACCOUNT_ID
    clock.advance(10)  # the next window
    get(client, OTHER_CONNECTION)
    assert server.requests[-1].path == PATH


def test_a_429_on_one_connection_holds_the_calls_of_another_account(
    server: PartnerServer, store: FileSecretStore, engine: Engine
) -> None:
    clock = Clock()
    client = api(server, store, engine, clock=clock)
    get(client, CONNECTION)
    get(client, OTHER_CONNECTION)
    server.reply(Reply(429, {"status": "fail"}, {"Retry-After": "6"}))
    with pytest.raises(ApplicationError) as limited:
        get(client, CONNECTION)
    assert limited.value.next_retry_delay == timedelta(seconds=6)

    sent = len(server.requests)
    with pytest.raises(ApplicationError) as held:
        get(client, OTHER_CONNECTION)
    assert held.value.type == "hostaway.rate_limited"
    assert held.value.next_retry_delay is not None
    assert held.value.next_retry_delay <= timedelta(seconds=6)
    assert len(server.requests) == sent  # Hostaway never asked
    clock.advance(6.5)
    get(client, OTHER_CONNECTION)
    assert len(server.requests) == sent + 1


def test_the_defaults_keep_to_about_half_of_hostaways_limits() -> None:
    fields = HostawaySettings.model_fields
    assert fields["ip_calls_per_10s"].default <= 15 // 2
    assert fields["account_calls_per_10s"].default <= 20 // 2
