"""Hospitable through a served hub over real HTTP: a signed delivery to
`/webhooks/hospitable/<connection>` is stored under the connection's id and normalized into a
`pms.reservation_observed`; the same delivery again changes nothing; another connection's
secret, or a connection the hub does not know, is refused. Real SQLite file, PostgreSQL when
configured."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
from sqlalchemy import select

from integration_hub.runtime import Hub
from integration_hub.secrets import EnvSecretSource
from integration_hub.settings import Settings
from integration_hub.storage.tables import internal_events
from integration_hub.testing import connector, sign_as
from tests.helpers import RunningHub, local_secrets, serve_hub, table_counts, wait_until
from tests.pms_rows import make_connection

CONNECTION = "key-biscayne-villas"
SECRET = "aG9zdC5rZXliaXNjYXluZUBleGFtcGxlLmNvbQ=="
OTHER_SECRET = "vendor-portal-secret-for-another-connection"


@pytest.fixture
async def hub(hub_settings: Settings) -> AsyncIterator[RunningHub]:
    secrets = EnvSecretSource(
        environ={
            **local_secrets(),
            "HOSPITABLE_WEBHOOK_SECRET__KEY-BISCAYNE-VILLAS": SECRET,
            "HOSPITABLE_WEBHOOK_SECRET__CORAL-WAY-FLATS": OTHER_SECRET,
        }
    )
    async with serve_hub(Hub(hub_settings, secrets=secrets)) as running:
        make_connection(running.hub.engine, CONNECTION, partner="hospitable")
        yield running


async def test_a_signed_reservation_is_stored_per_connection_and_forgeries_are_refused(
    hub: RunningHub,
) -> None:
    body = connector("hospitable").sample("reservation.created")
    delivery_id = orjson.loads(body)["id"]
    headers = sign_as("hospitable", body, secret=SECRET)
    path = f"/webhooks/hospitable/{CONNECTION}"

    answer = await hub.http.post(path, content=body, headers=headers)
    shown = await wait_until(
        lambda: hub.admin.get(f"/api/events/hospitable/{CONNECTION}:{delivery_id}"),
        lambda r: r.status_code == 200 and r.json()["status"] in {"processed", "failed"},
    )
    before = table_counts(hub.hub)
    again = await hub.http.post(path, content=body, headers=headers)

    assert answer.status_code == 200, answer.text
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert shown.json()["status"] == "processed"
    assert table_counts(hub.hub) == before
    with hub.hub.engine.connect() as connection:
        envelopes = list(connection.execute(select(internal_events.c.envelope)).scalars())
    # The reservations handler derives its own events from it: the observed one is the source.
    [envelope] = [e for e in envelopes if e["type"] == "pms.reservation_observed"]
    assert envelope["data"]["connection"] == CONNECTION

    # Another connection's secret, or a connection the hub does not know: refused, nothing kept.
    other = connector("hospitable").sample("property.changed")
    forged = sign_as("hospitable", other, secret=OTHER_SECRET)
    wrong = await hub.http.post(path, content=other, headers=forged)
    signed = sign_as("hospitable", other, secret=SECRET)
    unknown = await hub.http.post("/webhooks/hospitable/nobody-here", content=other, headers=signed)

    assert (wrong.status_code, unknown.status_code) == (400, 404), (wrong.text, unknown.text)
    assert table_counts(hub.hub) == before
