"""Intercom notifications through a served hub: the edge verifies the X-Hub-Signature and stores
the notification under its id, the normalizer makes the support.* event; a forged post, a
ping and a malformed notification each get their answer. Real SQLite file, PostgreSQL when
configured."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import quote

import orjson

from integration_hub.connectors.intercom.samples import conversation, envelope, notification
from tests.helpers import RunningHub, wait_until, webhook_secret

NOW = 1_764_600_000
ESCALATION = "sup_" + "e" * 32


def _signed(body: bytes, secret: str) -> dict[str, str]:
    """As Intercom posts: HMAC-SHA1 of the raw body with the client secret, written by hand."""
    digest = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return {
        "X-Hub-Signature": f"sha1={digest}",
        "Content-Type": "application/json",
        "User-Agent": "intercom-parrot-service-client/1.0",
    }


async def _shown(hub: RunningHub, notification_id: str) -> dict[str, Any]:
    answer = await wait_until(
        lambda: hub.admin.get(f"/api/events/intercom/{quote(notification_id, safe='')}"),
        lambda r: r.status_code == 200 and r.json()["status"] not in {"received", "processing"},
    )
    shown: dict[str, Any] = answer.json()
    return shown


async def test_a_signed_notification_becomes_a_support_event(running_hub: RunningHub) -> None:
    item = conversation(
        "conversation.admin.replied",
        conversation_id="64619700005694",
        contact_id="6961d897719c606240178da8",
        escalation_id=ESCALATION,
        now=NOW,
    )
    body = envelope("conversation.admin.replied", item, notification_id="notif_edge-1", now=NOW)
    headers = _signed(body, webhook_secret("intercom"))

    answer = await running_hub.http.post("/webhooks/intercom", content=body, headers=headers)
    again = await running_hub.http.post("/webhooks/intercom", content=body, headers=headers)

    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], again.json()["status"]) == ("accepted", "duplicate")
    shown = await _shown(running_hub, "notif_edge-1")
    (event,) = [e["event"] for e in shown["events"]]
    assert event["type"] == "support.message_sent"
    assert event["data"]["conversation_id"] == "64619700005694"
    assert event["data"]["hub_escalation_id"] == ESCALATION
    assert event["data"]["body"] == "Hola, te envío el código nuevo: 4821"


async def test_a_forged_notification_is_refused_and_stores_nothing(running_hub: RunningHub) -> None:
    body = notification("conversation.user.created")
    notification_id = orjson.loads(body)["id"]

    answer = await running_hub.http.post(
        "/webhooks/intercom", content=body, headers=_signed(body, "not-the-client-secret")
    )

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "signature_mismatch"
    shown = await running_hub.admin.get(f"/api/events/intercom/{quote(notification_id, safe='')}")
    assert shown.status_code == 404


async def test_a_ping_is_answered_200_and_kept_nowhere(running_hub: RunningHub) -> None:
    body = notification("ping")

    answer = await running_hub.http.post(
        "/webhooks/intercom", content=body, headers=_signed(body, webhook_secret("intercom"))
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["events"] == []
    notification_id = quote(orjson.loads(body)["id"], safe="")
    assert (
        await running_hub.admin.get(f"/api/events/intercom/{notification_id}")
    ).status_code == 404


async def test_a_reply_without_its_part_is_dead_lettered_alone(running_hub: RunningHub) -> None:
    item = conversation(
        "conversation.user.replied",
        conversation_id="64619700005695",
        contact_id="6961d897719c606240178da8",
        escalation_id=None,
        now=NOW,
    )
    item["conversation_parts"] = {"type": "conversation_part.list", "conversation_parts": []}
    broken = envelope("conversation.user.replied", item, notification_id="notif_edge-2", now=NOW)
    fine = notification("conversation.user.created")
    secret = webhook_secret("intercom")

    for body in (broken, fine):
        answer = await running_hub.http.post(
            "/webhooks/intercom", content=body, headers=_signed(body, secret)
        )
        assert answer.status_code == 200, answer.text

    assert (await _shown(running_hub, "notif_edge-2"))["status"] == "failed"
    shown = await _shown(running_hub, orjson.loads(fine)["id"])
    assert shown["status"] != "failed"
    assert [e["event"]["type"] for e in shown["events"]] == ["support.conversation_opened"]
