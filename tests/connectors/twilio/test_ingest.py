"""Twilio deliveries through the running hub: TwiML answers, dedup, rejections."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select

from integration_hub.storage.tables import raw_events
from tests.connectors.twilio.support import (
    FORM,
    inbound,
    post,
    settled,
    status_callback,
)
from tests.helpers import RunningHub

SID = "SMa1b2c3d4e5f60718293a4b5c6d7e8f90"
TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _raw_ids(running: RunningHub) -> list[str]:
    with running.hub.engine.connect() as connection:
        return sorted(connection.execute(select(raw_events.c.partner_event_id)).scalars())


async def test_inbound_message_is_answered_with_empty_twiml(twilio_hub: RunningHub) -> None:
    response = await post(twilio_hub, inbound(SID, "Hi"))

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/xml"
    assert response.content == TWIML


async def test_a_refusal_is_answered_in_json_not_twiml(twilio_hub: RunningHub) -> None:
    response = await twilio_hub.http.post(
        "/webhooks/twilio/fax", content=b"MessageSid=SM1", headers={"Content-Type": FORM}
    )

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "unknown_endpoint"
    assert _raw_ids(twilio_hub) == []


async def test_redelivered_inbound_message_is_stored_once(twilio_hub: RunningHub) -> None:
    first = await post(twilio_hub, inbound(SID, "Hi"))
    again = await post(twilio_hub, inbound(SID, "Hi"))

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.content == TWIML
    assert _raw_ids(twilio_hub) == [SID]


async def test_status_callbacks_are_stored_once_per_status(twilio_hub: RunningHub) -> None:
    for status in ("sent", "delivered", "delivered", "sent"):
        response = await post(twilio_hub, status_callback(SID, status))
        assert response.status_code == 200

    assert _raw_ids(twilio_hub) == [f"{SID}:delivered", f"{SID}:sent"]


async def test_status_callback_is_normalized_to_message_status_changed(
    twilio_hub: RunningHub,
) -> None:
    await post(twilio_hub, status_callback(SID, "failed", ErrorCode="30008"))

    event = await settled(twilio_hub, f"{SID}:failed")

    [internal] = event["events"]
    assert internal["event"]["type"] == "message.status_changed"
    assert internal["event"]["data"]["error_code"] == "30008"


async def test_signature_over_the_internal_url_is_rejected(twilio_hub: RunningHub) -> None:
    # Signed for the address the hub listens on, not the public URL Twilio calls.
    response = await post(
        twilio_hub, inbound(SID, "Hi"), url=f"{twilio_hub.base_url}/webhooks/twilio"
    )

    assert response.status_code == 400
    assert response.json()["error"] == "signature_mismatch"
    assert _raw_ids(twilio_hub) == []


async def test_unsigned_request_is_rejected_with_a_reason(twilio_hub: RunningHub) -> None:
    response = await twilio_hub.http.post(
        "/webhooks/twilio",
        content=b"MessageSid=SM1&Body=Hi",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert (response.status_code, response.json()["error"]) == (400, "missing_signature")


async def test_request_without_message_sid_is_rejected(twilio_hub: RunningHub) -> None:
    params = {k: v for k, v in inbound(SID, "Hi").items() if k != "MessageSid"}

    response = await post(twilio_hub, params)

    assert (response.status_code, response.json()["error"]) == (400, "missing_message_sid")
    with twilio_hub.hub.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(raw_events)).scalar_one() == 0


# --- amplification: a count Twilio never sends is refused before anything loops on it ---------


async def test_a_media_count_past_twilios_maximum_is_refused_and_nothing_stored(
    twilio_hub: RunningHub,
) -> None:
    response = await post(twilio_hub, inbound(SID, "Hi", NumMedia="99999999"))

    assert response.status_code == 400
    assert response.json()["error"] == "too_many_media"
    assert "at most 10" in response.json()["detail"]
    assert _raw_ids(twilio_hub) == []


async def test_ten_media_is_a_normal_message(twilio_hub: RunningHub) -> None:
    media = {
        f"MediaUrl{i}": f"https://api.twilio.com/2010-04-01/Media/ME{i:032d}" for i in range(10)
    }
    media |= {f"MediaContentType{i}": "image/jpeg" for i in range(10)}
    # A fresh sid: the handler's workflow id derives from it, and other tests' runs of the
    # same id may still be open on the session's Temporal server.
    sid = f"SM{secrets.token_hex(16)}"
    response = await post(twilio_hub, inbound(sid, "Fotos", NumMedia="10", **media))
    assert response.status_code == 200, response.text

    event = await settled(twilio_hub, sid)

    assert event["status"] == "processed"
    received = event["events"][0]["event"]["data"]
    assert received["media_urls"] == [media[f"MediaUrl{i}"] for i in range(10)]
