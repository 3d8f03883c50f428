"""Guesty through a served hub over real HTTP: a delivery signed with the connection's own
secret at /webhooks/guesty/<connection> is stored once (a retry is a duplicate) and normalized
into an incomplete pms.reservation_observed; another connection's path or secret is refused."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator

import orjson
import pytest
from sqlalchemy import select

from integration_hub.runtime import Hub
from integration_hub.secrets import EnvSecretSource
from integration_hub.settings import Settings
from integration_hub.storage.tables import internal_events
from integration_hub.testing import connector
from tests.helpers import RunningHub, local_secrets, serve_hub, table_counts, wait_until
from tests.pms_rows import make_connection

SECRET = "whsec_" + base64.b64encode(b"guesty-mia-beach-ingest-secret-01").decode()
OTHER = "whsec_" + base64.b64encode(b"guesty-brickell-ingest-secret-012").decode()


@pytest.fixture
async def guesty_hub(hub_settings: Settings) -> AsyncIterator[RunningHub]:
    secrets = EnvSecretSource(environ={**local_secrets(),
                                       "GUESTY_WEBHOOK_SECRET__MIA-BEACH": SECRET,
                                       "GUESTY_WEBHOOK_SECRET__BRICKELL": OTHER})  # fmt: skip
    async with serve_hub(Hub(hub_settings, secrets=secrets)) as running:
        for connection_id in ("mia-beach", "brickell"):
            make_connection(running.hub.engine, connection_id, partner="guesty")
        yield running


async def test_a_signed_v2_reservation_is_stored_once_and_observed(guesty_hub: RunningHub) -> None:
    guesty = connector("guesty")
    body = guesty.sample("reservation.created.v2")
    headers = guesty.sign(body, SECRET, timestamp=int(time.time()), url="")
    url = "/webhooks/guesty/mia-beach"

    answer = await guesty_hub.http.post(url, content=body, headers=headers)
    again = await guesty_hub.http.post(url, content=body, headers=headers)

    assert (answer.status_code, again.status_code) == (200, 200), again.text
    assert (answer.json()["status"], again.json()["status"]) == ("accepted", "duplicate")
    event_id = f"mia-beach:{headers['svix-id']}"
    shown = await wait_until(
        lambda: guesty_hub.admin.get(f"/api/events/guesty/{event_id}"),
        lambda r: r.status_code == 200 and r.json()["status"] in {"processed", "failed"},
    )
    assert shown.json()["status"] == "processed", shown.text
    with guesty_hub.hub.engine.connect() as connection:
        [envelope] = connection.execute(
            select(internal_events.c.envelope).where(
                internal_events.c.type == "pms.reservation_observed"
            )
        ).scalars()
    lean = orjson.loads(body)
    assert envelope["subject"] == f"mia-beach/{lean['reservationId']}"
    assert envelope["data"]["complete"] is False


async def test_another_connections_path_or_secret_is_refused(guesty_hub: RunningHub) -> None:
    guesty = connector("guesty")
    body = guesty.sample("reservation.updated.v2")
    now = int(time.time())
    before = table_counts(guesty_hub.hub)

    foreign = await guesty_hub.http.post("/webhooks/guesty/mia-beach", content=body,
                                         headers=guesty.sign(body, OTHER, timestamp=now, url=""))  # fmt: skip
    unknown = await guesty_hub.http.post("/webhooks/guesty/little-havana", content=body,
                                         headers=guesty.sign(body, SECRET, timestamp=now, url=""))  # fmt: skip

    assert foreign.status_code in (400, 401), foreign.text
    assert unknown.status_code == 404, unknown.text
    assert table_counts(guesty_hub.hub) == before
