"""Hostaway through a served hub over real HTTP: a delivery with the connection's Basic
credentials at /webhooks/hostaway/<connection> is stored once (a retry is a duplicate) and
normalized into pms.reservation_observed; an unknown event is answered 200 and ignored;
another connection's credentials and an unknown connection store nothing. Real SQLite file, PostgreSQL
when configured."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from integration_hub.connectors.hostaway import samples
from integration_hub.runtime import Hub
from integration_hub.secrets import EnvSecretSource
from integration_hub.settings import Settings
from integration_hub.storage.tables import internal_events, raw_events
from integration_hub.testing import sign_as
from tests.helpers import RunningHub, local_secrets, serve_hub, table_counts, wait_until
from tests.pms_rows import make_connection

MIAMI, BRICKELL = "miami-homes", "brickell-stays"
MIAMI_SECRET = "hub-miami:s3cret-Passw0rd"
BRICKELL_SECRET = "hub-brickell:an0ther-Passw0rd"


@pytest.fixture
async def hub(hub_settings: Settings) -> AsyncIterator[RunningHub]:
    secrets = EnvSecretSource(environ={
        **local_secrets(),
        "HOSTAWAY_WEBHOOK_BASIC_AUTH__MIAMI-HOMES": MIAMI_SECRET,
        "HOSTAWAY_WEBHOOK_BASIC_AUTH__BRICKELL-STAYS": BRICKELL_SECRET,
    })  # fmt: skip
    async with serve_hub(Hub(hub_settings, secrets=secrets)) as running:
        for connection_id in (MIAMI, BRICKELL):
            make_connection(running.hub.engine, connection_id, partner="hostaway")
        yield running


async def test_a_delivery_is_stored_once_and_becomes_a_reservation_observed(
    hub: RunningHub,
) -> None:
    data = samples.reservation(reservation_id=30512345, status="cancelled")
    body = samples.envelope("reservation.updated", data)
    headers = sign_as("hostaway", body, secret=MIAMI_SECRET)

    answer = await hub.http.post(f"/webhooks/hostaway/{MIAMI}", content=body, headers=headers)
    again = await hub.http.post(f"/webhooks/hostaway/{MIAMI}", content=body, headers=headers)

    assert (answer.status_code, again.status_code) == (200, 200), again.text
    assert (answer.json()["status"], again.json()["status"]) == ("accepted", "duplicate")

    def envelopes() -> list[dict[str, object]]:
        with hub.hub.engine.connect() as connection:
            query = select(internal_events.c.envelope)
            return list(connection.execute(query).scalars())

    async def probe() -> list[dict[str, object]]:
        return envelopes()

    [envelope] = await wait_until(probe, lambda found: len(found) == 1)
    assert envelope["type"] == "pms.reservation_observed"
    assert envelope["subject"] == f"{MIAMI}/30512345"
    data_out = envelope["data"]
    assert isinstance(data_out, dict)
    assert (data_out["status"], data_out["connection"]) == ("cancelled", MIAMI)
    with hub.hub.engine.connect() as connection:
        [stored] = connection.execute(
            select(raw_events.c.partner_event_id, raw_events.c.headers).where(
                raw_events.c.partner == "hostaway"
            )
        ).all()
    assert stored.partner_event_id.startswith(f"{MIAMI}:wh:reservation.updated:30512345:")
    assert "authorization" not in stored.headers

    # An event the hub does not map (a guest's message): 200, as Hostaway asks, kept ignored.
    message = samples.envelope("message.received", samples.message(), kind="conversationMessage")
    ignored = await hub.http.post(f"/webhooks/hostaway/{BRICKELL}", content=message,
                                  headers=sign_as("hostaway", message, secret=BRICKELL_SECRET))  # fmt: skip
    assert ignored.status_code == 200, ignored.text

    async def statuses() -> list[str]:
        with hub.hub.engine.connect() as connection:
            query = select(raw_events.c.event_type, raw_events.c.status).where(
                raw_events.c.partner == "hostaway"
            )
            return sorted(f"{kind}:{status}" for kind, status in connection.execute(query))

    expected = ["message.received:ignored", "reservation.updated:processed"]
    assert await wait_until(statuses, lambda found: found == expected)


async def test_credentials_of_another_connection_or_an_unknown_one_store_nothing(
    hub: RunningHub,
) -> None:
    body = samples.envelope("reservation.created", samples.reservation())
    before = table_counts(hub.hub)

    crossed = await hub.http.post(f"/webhooks/hostaway/{MIAMI}", content=body,
                                  headers=sign_as("hostaway", body, secret=BRICKELL_SECRET))  # fmt: skip
    unknown = await hub.http.post("/webhooks/hostaway/coral-gables", content=body,
                                  headers=sign_as("hostaway", body, secret=MIAMI_SECRET))  # fmt: skip
    bare = await hub.http.post("/webhooks/hostaway", content=body,
                               headers=sign_as("hostaway", body, secret=MIAMI_SECRET))  # fmt: skip

    assert crossed.status_code == 400, crossed.text
    assert crossed.json()["error"] == "signature_mismatch"
    assert (unknown.status_code, bare.status_code) == (404, 404)
    assert MIAMI_SECRET not in crossed.text + unknown.text + bare.text
    assert table_counts(hub.hub) == before
