"""Twilio deliveries for the tests: signed by the official SDK, posted to a running hub."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from integration_hub.runtime import Hub
from integration_hub.storage.tables import contacts
from tests.helpers import (
    TWILIO_AUTH_TOKEN,
    RunningHub,
    make_settings,
    partner_secrets,
    serve_hub,
    wait_until,
)

PUBLIC_BASE_URL = "https://hooks.example.com"
PUBLIC_URL = f"{PUBLIC_BASE_URL}/webhooks/twilio"
FORM = "application/x-www-form-urlencoded"
ACCOUNT_SID = "AC5ef8732a3c49700934481addd5ce1659"
HUB_NUMBER = "+13055550100"


def inbound(sid: str, body: str, sender: str = "+13055550199", **extra: str) -> dict[str, str]:
    """An inbound SMS as Twilio posts it (twilio.com/docs/messaging/guides/webhook-request)."""
    return {
        "ToCountry": "US", "ToState": "FL", "SmsMessageSid": sid, "NumMedia": "0",
        "SmsSid": sid, "SmsStatus": "received", "Body": body, "FromCountry": "US",
        "To": HUB_NUMBER, "NumSegments": "1", "MessageSid": sid, "AccountSid": ACCOUNT_SID,
        "From": sender, "ApiVersion": "2010-04-01", **extra,
    }  # fmt: skip


def inbound_whatsapp(sid: str, body: str, sender: str = "+34612345678") -> dict[str, str]:
    return {
        "SmsMessageSid": sid, "NumMedia": "0", "ProfileName": "Lucía", "MessageType": "text",
        "SmsSid": sid, "WaId": sender[1:], "SmsStatus": "received", "Body": body,
        "To": f"whatsapp:{HUB_NUMBER}", "NumSegments": "1", "ReferralNumMedia": "0",
        "MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": f"whatsapp:{sender}",
        "ApiVersion": "2010-04-01",
    }  # fmt: skip


def status_callback(sid: str, status: str, **extra: str) -> dict[str, str]:
    return {
        "SmsSid": sid, "SmsStatus": status, "MessageStatus": status, "To": "+34612345678",
        "MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": HUB_NUMBER,
        "ApiVersion": "2010-04-01", **extra,
    }  # fmt: skip


def sdk_signature(
    params: dict[str, str], *, url: str = PUBLIC_URL, token: str = TWILIO_AUTH_TOKEN
) -> str:
    return str(RequestValidator(token).compute_signature(url, params))


async def post(running: RunningHub, params: dict[str, str], **sign: Any) -> httpx.Response:
    headers = {"X-Twilio-Signature": sdk_signature(params, **sign), "Content-Type": FORM}
    return await running.http.post(
        "/webhooks/twilio", content=urlencode(params).encode(), headers=headers
    )


async def settled(running: RunningHub, partner_event_id: str) -> dict[str, Any]:
    """The stored event once its handlers are done."""
    response = await wait_until(
        lambda: running.admin.get(f"/api/events/twilio/{partner_event_id}"),
        lambda r: r.status_code == 200 and r.json()["status"] in {"processed", "failed", "ignored"},
    )
    result: dict[str, Any] = response.json()
    return result


async def deliver(running: RunningHub, params: dict[str, str]) -> dict[str, Any]:
    response = await post(running, params)
    assert response.status_code == 200, response.text
    return await settled(running, params["MessageSid"])


def contact(running: RunningHub, phone: str) -> dict[str, Any]:
    with running.hub.engine.connect() as connection:
        row = connection.execute(select(contacts).where(contacts.c.phone == phone)).one()
    return dict(row._mapping)


async def twilio_hub(
    tmp_path: Path, database_url: str, temporal_address: str
) -> AsyncIterator[RunningHub]:
    """A hub that knows its public URL (HUB_PUBLIC_BASE_URL), as Twilio deployments must."""
    settings = make_settings(
        tmp_path, database_url, temporal_address, public_base_url=PUBLIC_BASE_URL
    )
    async with serve_hub(Hub(settings, secrets=partner_secrets())) as running:
        yield running
