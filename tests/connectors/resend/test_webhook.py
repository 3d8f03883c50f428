"""Resend's Svix signatures cross-checked both ways with the official svix SDK, the dedup key,
and every mapped type's fields."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from svix.webhooks import Webhook, WebhookVerificationError

from integration_hub.connectors.base import Delivery, PartnerEvent
from integration_hub.connectors.partners import build_connectors
from integration_hub.connectors.resend.webhook import ResendConnector
from integration_hub.errors import SignatureError
from integration_hub.events import build_event, validate_event
from integration_hub.settings import Settings

SECRET = "whsec_" + base64.b64encode(b"resend-test-secret-0123456789abcd").decode()
OTHER = "whsec_" + base64.b64encode(b"another-resend-secret-0123456789").decode()
resend = ResendConnector()


def _svix_headers(body: bytes, secret: str, *, at: float, message_id: str) -> dict[str, str]:
    signature = Webhook(secret).sign(message_id, datetime.fromtimestamp(at, UTC), body.decode())
    return {"svix-id": message_id, "svix-timestamp": str(int(at)), "svix-signature": signature}


def _delivery(body: bytes, headers: dict[str, str], now: float) -> Delivery:
    lowered = {k.lower(): v for k, v in headers.items()}
    return Delivery(body, lowered, "https://hub.example.com/webhooks/resend", now)


def _sdk_accepts(body: bytes, headers: dict[str, str], secret: str) -> bool:
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


def test_an_sdk_signed_delivery_verifies_and_is_keyed_by_svix_id() -> None:
    now = time.time()
    body = resend.sample("email.delivered")
    delivery = _delivery(body, _svix_headers(body, SECRET, at=now, message_id="msg_R1"), now)

    resend.verify(delivery, [SECRET], now=now)
    assert [(e.partner_event_id, e.event_type) for e in resend.split(delivery)] == [
        ("msg_R1", "email.delivered")
    ]


def test_our_signature_verifies_in_the_sdk() -> None:
    body = resend.sample("email.bounced")
    headers = resend.sign(body, SECRET, timestamp=int(time.time()), url="")
    assert _sdk_accepts(body, headers, SECRET)
    assert not _sdk_accepts(body, headers, OTHER)


def test_a_tampered_body_and_a_stale_signature_are_refused_like_the_sdk() -> None:
    now = time.time()
    body = resend.sample("email.delivered")
    headers = _svix_headers(body, SECRET, at=now, message_id="msg_R2")
    stale = _svix_headers(body, SECRET, at=now - 301, message_id="msg_R2")

    with pytest.raises(SignatureError):
        resend.verify(_delivery(body + b" ", headers, now), [SECRET], now=now)
    with pytest.raises(SignatureError) as refused:
        resend.verify(_delivery(body, stale, now), [SECRET], now=now)
    assert refused.value.reason == "timestamp_out_of_tolerance"
    assert not _sdk_accepts(body + b" ", headers, SECRET)
    assert not _sdk_accepts(body, stale, SECRET)


def test_the_configured_tolerance_is_used() -> None:
    strict = build_connectors(Settings.model_construct(signature_tolerance_seconds=60))["resend"]
    now = time.time()
    body = resend.sample("email.opened")
    outside = _svix_headers(body, SECRET, at=now - 61, message_id="msg_R3")
    with pytest.raises(SignatureError):
        strict.verify(_delivery(body, outside, now), [SECRET], now=now)
    resend.verify(_delivery(body, outside, now), [SECRET], now=now)


def _email(event_type: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": event_type,
        "created_at": "2026-12-01T20:00:00.000Z",
        "data": {
            "email_id": "4ef9a417-02e9-4d39-ad75-9611e0fcc33c",
            "from": "Team <team@example.com>",
            "to": ["Lucia.Perez@Example.org"],
            "subject": "Nuevo trabajo",
            "tags": {"hub_message_id": "msg-42"},
            **extra,
        },
    }


def _normalized(payload: dict[str, Any]) -> list[Any]:
    drafts = resend.normalize(PartnerEvent("msg_1", payload["type"], orjson.dumps(payload)))
    for draft in drafts:
        validate_event(
            build_event(partner="resend", partner_event_id="msg_1", index=0, draft=draft)
        )
    return drafts


@pytest.mark.parametrize(
    ("payload", "internal_type", "fields"),
    [
        (_email("email.delivered"), "email.delivered", {}),
        (
            _email(
                "email.bounced",
                bounce={"type": "Permanent", "subType": "General", "message": "no such user"},
            ),
            "email.bounced",
            {"kind": "hard", "reason": "no such user"},
        ),
        (
            _email(
                "email.bounced",
                bounce={"type": "Temporary", "subType": "MailboxFull", "message": "full"},
            ),
            "email.bounced",
            {"kind": "soft", "reason": "full"},
        ),
        (_email("email.complained"), "email.complained", {}),
        (
            _email("email.failed", failed={"reason": "reached_daily_quota"}),
            "email.failed",
            {"reason": "reached_daily_quota"},
        ),
        (
            _email("email.suppressed", suppressed={"message": "on the list"}),
            "email.suppressed",
            {"reason": "on the list"},
        ),
        (_email("email.opened"), "email.opened", {}),
        (
            _email("email.clicked", click={"link": "https://example.org/j/1"}),
            "email.clicked",
            {"url": "https://example.org/j/1"},
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_each_email_type_carries_its_fields(
    payload: dict[str, Any], internal_type: str, fields: dict[str, Any]
) -> None:
    [draft] = _normalized(payload)

    assert draft.type == internal_type
    assert draft.subject == payload["data"]["email_id"]  # never the address
    assert draft.time == "2026-12-01T20:00:00.000Z"
    assert draft.data["recipient"] == "Lucia.Perez@Example.org"
    assert draft.data["provider_event_id"] == "msg_1"
    assert draft.data["provider_message_id"] == payload["data"]["email_id"]
    assert draft.data["hub_message_id"] == "msg-42"
    assert {k: draft.data[k] for k in fields} == fields


def _contact(event_type: str, **fields: Any) -> dict[str, Any]:
    data = {"id": "c1", "object": "contact", "email": "lucia@example.org", **fields}
    return {"type": event_type, "created_at": "2026-12-01T20:00:00.000Z", "data": data}


@pytest.mark.parametrize(
    "fields", [{"unsubscribed": True}, {"subscription": "opt_out"}], ids=["unsubscribed", "opt_out"]
)
@pytest.mark.parametrize("event_type", ["contact.created", "contact.updated"])
def test_a_contact_opting_out_is_an_unsubscribe(event_type: str, fields: dict[str, Any]) -> None:
    [draft] = _normalized(_contact(event_type, **fields))
    assert (draft.type, draft.data["recipient"], draft.data["scope"]) == (
        "email.unsubscribed",
        "lucia@example.org",
        "all",
    )
    assert draft.data["provider_message_id"] is None


@pytest.mark.parametrize(
    "fields",
    [{"unsubscribed": False}, {"subscription": "opt_in"}, {}],
    ids=["false", "opt_in", "none"],
)
def test_a_contact_that_stays_subscribed_normalizes_to_nothing(fields: dict[str, Any]) -> None:
    assert _normalized(_contact("contact.updated", **fields)) == []


def test_an_unmapped_type_normalizes_to_nothing() -> None:
    assert _normalized(_email("email.sent")) == []
    assert _normalized(_email("domain.updated")) == []
