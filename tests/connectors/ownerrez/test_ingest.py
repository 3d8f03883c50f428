"""OwnerRez through a served hub: a delivery with the connection's Basic credentials at
/webhooks/ownerrez/<connection> is stored once (a retry is a duplicate) and normalized into
`pms.reservation_hinted`; another connection's credentials, or a connection the hub does not
know, are refused. Real SQLite file, PostgreSQL when configured."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
from sqlalchemy import func, select

from integration_hub.connectors.ownerrez import samples
from integration_hub.connectors.ownerrez.webhook import OwnerRezConnector
from integration_hub.runtime import Hub
from integration_hub.secrets import EnvSecretSource
from integration_hub.settings import Settings
from integration_hub.storage.tables import internal_events, raw_events
from tests.helpers import RunningHub, local_secrets, serve_hub, wait_until

CONNECTION = "casa-brickell"
BASIC_AUTH = "orez-hooks:9Jq2vLx7PzR4tWm8"
OTHER_BASIC_AUTH = "coral-hooks:Tq7Vb1Nn3Ks9"


@pytest.fixture
async def hub(hub_settings: Settings) -> AsyncIterator[RunningHub]:
    values = {
        **local_secrets(),
        f"OWNERREZ_WEBHOOK_BASIC_AUTH__{CONNECTION.upper()}": BASIC_AUTH,
        "OWNERREZ_WEBHOOK_BASIC_AUTH__CASA-CORAL": OTHER_BASIC_AUTH,
    }
    async with serve_hub(Hub(hub_settings, secrets=EnvSecretSource(environ=values))) as running:
        yield running


async def test_a_booking_webhook_is_stored_once_and_becomes_a_hint(hub: RunningHub) -> None:
    connector = OwnerRezConnector()
    body = orjson.dumps(samples.webhook(51873349))
    headers = connector.sign(body, BASIC_AUTH, timestamp=0, url="")
    path = f"/webhooks/ownerrez/{CONNECTION}"

    answer = await hub.http.post(path, content=body, headers=headers)
    again = await hub.http.post(path, content=body, headers=headers)

    assert (answer.status_code, again.status_code) == (200, 200), again.text
    assert (answer.json()["status"], again.json()["status"]) == ("accepted", "duplicate")
    engine = hub.hub.engine

    def hints() -> int:
        with engine.connect() as connection:
            query = select(func.count()).select_from(internal_events)
            return int(
                connection.execute(
                    query.where(internal_events.c.type == "pms.reservation_hinted")
                ).scalar_one()
            )

    async def counted() -> int:
        return hints()

    assert await wait_until(counted, lambda n: n == 1) == 1
    with engine.connect() as connection:
        [event_id] = connection.execute(
            select(raw_events.c.partner_event_id).where(raw_events.c.partner == "ownerrez")
        ).scalars()
        [envelope] = connection.execute(select(internal_events.c.envelope)).scalars()
    assert event_id.startswith(f"{CONNECTION}:booking:51873349:")
    assert envelope["data"]["source_reservation_id"] == "51873349"
    assert envelope["data"]["connection"] == CONNECTION


async def test_other_credentials_and_unknown_connections_are_refused(hub: RunningHub) -> None:
    connector = OwnerRezConnector()
    body = orjson.dumps(samples.webhook())
    coral = connector.sign(body, OTHER_BASIC_AUTH, timestamp=0, url="")

    wrong = await hub.http.post(f"/webhooks/ownerrez/{CONNECTION}", content=body, headers=coral)
    unknown = await hub.http.post("/webhooks/ownerrez/casa-nowhere", content=body, headers=coral)
    bare = await hub.http.post("/webhooks/ownerrez", content=body, headers=coral)

    assert wrong.status_code == 400, wrong.text
    assert (unknown.status_code, bare.status_code) == (404, 404)
    with hub.hub.engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(raw_events)).scalar_one()
    assert count == 0
    assert "Tq7Vb1Nn3Ks9" not in wrong.text + unknown.text
