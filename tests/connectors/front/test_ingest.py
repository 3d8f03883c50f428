"""Front through a served hub: a signed delivery is stored and normalized into its support.*
event; the signed setup challenge is answered as Front expects and stores nothing; a forged
challenge is refused. Real SQLite file, PostgreSQL when configured."""

from __future__ import annotations

import orjson
from sqlalchemy import func, select

from integration_hub.connectors.front.samples import sample_payload
from integration_hub.storage.tables import internal_events, raw_events
from integration_hub.testing import sign_as
from tests.helpers import RunningHub, table_counts, wait_until, webhook_secret


async def test_a_signed_inbound_message_becomes_a_support_message_received(
    running_hub: RunningHub,
) -> None:
    body = sample_payload("inbound_received", event_id="evt_3kq8zt1")
    headers = sign_as("front", body, secret=webhook_secret("front"))

    answer = await running_hub.http.post("/webhooks/front", content=body, headers=headers)
    again = await running_hub.http.post("/webhooks/front", content=body, headers=headers)

    assert answer.status_code == 200, answer.text
    assert (answer.status_code, again.status_code) == (200, 200), again.text
    assert (answer.json()["status"], again.json()["status"]) == ("accepted", "duplicate")
    shown = await wait_until(
        lambda: running_hub.admin.get("/api/events/front/evt_3kq8zt1"),
        lambda r: r.status_code == 200 and r.json()["status"] in {"processed", "failed"},
    )
    assert shown.json()["status"] == "processed"
    with running_hub.hub.engine.connect() as connection:
        (envelope,) = connection.execute(
            select(internal_events.c.envelope).where(
                internal_events.c.type == "support.message_received"
            )
        ).scalars()
    assert envelope["data"]["provider_event_id"] == "evt_3kq8zt1"
    with running_hub.hub.engine.connect() as connection:
        stored = connection.execute(
            select(func.count())
            .select_from(raw_events)
            .where(raw_events.c.partner == "front", raw_events.c.partner_event_id == "evt_3kq8zt1")
        ).scalar_one()
    assert stored == 1  # the second delivery stored nothing
    assert envelope["data"]["contact"]["phone"] == "+13055550123"


async def test_the_signed_challenge_is_echoed_and_stores_nothing(running_hub: RunningHub) -> None:
    body = sample_payload("sync")
    headers = {**sign_as("front", body, secret=webhook_secret("front")),
               "x-front-challenge": "b3Rj8kLq0wZ"}  # fmt: skip
    before = table_counts(running_hub.hub)

    answer = await running_hub.http.post("/webhooks/front", content=body, headers=headers)

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text == "b3Rj8kLq0wZ"
    assert table_counts(running_hub.hub) == before


async def test_a_forged_challenge_is_refused_and_not_echoed(running_hub: RunningHub) -> None:
    body = orjson.dumps({"type": "sync", "authorization": {"id": "cmp_evil"}})
    headers = {**sign_as("front", body, secret="forged-signing-key-0000"),
               "x-front-challenge": "b3Rj8kLq0wZ"}  # fmt: skip

    answer = await running_hub.http.post("/webhooks/front", content=body, headers=headers)

    assert answer.status_code == 400, answer.text
    assert "b3Rj8kLq0wZ" not in answer.text
