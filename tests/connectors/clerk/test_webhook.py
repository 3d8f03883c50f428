"""Clerk's Svix signatures, cross-checked with the official svix SDK, and its event mapping."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import orjson
import pytest
from svix.webhooks import Webhook, WebhookVerificationError

from integration_hub.connectors.base import Delivery, PartnerEvent
from integration_hub.connectors.clerk.webhook import ClerkConnector
from integration_hub.connectors.partners import build_connectors
from integration_hub.errors import SignatureError
from integration_hub.events import build_event, validate_event
from integration_hub.settings import Settings

SECRET = "whsec_" + base64.b64encode(b"clerk-test-secret-0123456789abcdef").decode()
OTHER = "whsec_" + base64.b64encode(b"another-secret-0123456789abcdefgh").decode()
clerk = ClerkConnector()


def _svix_headers(
    body: bytes, secret: str, *, at: float, message_id: str = "msg_2test"
) -> dict[str, str]:
    signature = Webhook(secret).sign(message_id, datetime.fromtimestamp(at, UTC), body.decode())
    return {"svix-id": message_id, "svix-timestamp": str(int(at)), "svix-signature": signature}


def _delivery(body: bytes, headers: dict[str, str], now: float) -> Delivery:
    return Delivery(
        body, {k.lower(): v for k, v in headers.items()}, "http://test/webhooks/clerk", now
    )


def _sdk_accepts(body: bytes, headers: dict[str, str], secret: str) -> bool:
    try:
        Webhook(secret).verify(body, headers)
        return True
    except WebhookVerificationError:
        return False


def test_sdk_signed_delivery_is_accepted() -> None:
    now = time.time()
    body = clerk.sample("user.created")
    headers = _svix_headers(body, SECRET, at=now)
    clerk.verify(_delivery(body, headers, now), [SECRET], now=now)
    assert _sdk_accepts(body, headers, SECRET)


def test_our_signature_is_accepted_by_the_sdk() -> None:
    now = int(time.time())
    body = clerk.sample("session.created")
    headers = clerk.sign(body, SECRET, timestamp=now, url="")
    assert _sdk_accepts(body, headers, SECRET)


def test_tampered_body_is_rejected_like_the_sdk() -> None:
    now = time.time()
    body = clerk.sample("user.created")
    headers = _svix_headers(body, SECRET, at=now)
    with pytest.raises(SignatureError) as rejected:
        clerk.verify(_delivery(body + b" ", headers, now), [SECRET], now=now)
    assert rejected.value.reason == "signature_mismatch"
    assert not _sdk_accepts(body + b" ", headers, SECRET)


@pytest.mark.parametrize("offset", [-301, 301], ids=["too-old", "too-new"])
def test_timestamp_outside_five_minutes_is_rejected_either_way(offset: int) -> None:
    now = time.time()
    body = clerk.sample("user.created")
    headers = _svix_headers(body, SECRET, at=now + offset)
    with pytest.raises(SignatureError) as rejected:
        clerk.verify(_delivery(body, headers, now), [SECRET], now=now)
    assert rejected.value.reason == "timestamp_out_of_tolerance"
    assert not _sdk_accepts(body, headers, SECRET)


def test_the_configured_tolerance_is_the_one_used() -> None:
    """HUB_SIGNATURE_TOLERANCE_SECONDS reaches Clerk (it was a hard-coded 300 s)."""
    settings = Settings.model_construct(signature_tolerance_seconds=60)
    strict = build_connectors(settings)["clerk"]
    now = time.time()
    body = clerk.sample("user.created")
    within = _svix_headers(body, SECRET, at=now - 59)
    outside = _svix_headers(body, SECRET, at=now - 61)

    strict.verify(_delivery(body, within, now), [SECRET], now=now)
    with pytest.raises(SignatureError) as rejected:
        strict.verify(_delivery(body, outside, now), [SECRET], now=now)
    assert rejected.value.reason == "timestamp_out_of_tolerance"
    clerk.verify(_delivery(body, outside, now), [SECRET], now=now)  # within the default 300 s


def test_webhook_header_family_is_accepted_and_keyed_alike() -> None:
    now = time.time()
    body = clerk.sample("user.created")
    headers = {
        k.replace("svix-", "webhook-"): v
        for k, v in _svix_headers(body, SECRET, at=now, message_id="msg_W").items()
    }
    delivery = _delivery(body, headers, now)

    clerk.verify(delivery, [SECRET], now=now)
    assert [e.partner_event_id for e in clerk.split(delivery)] == ["msg_W"]


def test_missing_headers_are_rejected() -> None:
    now = time.time()
    with pytest.raises(SignatureError) as rejected:
        clerk.verify(_delivery(b"{}", {}, now), [SECRET], now=now)
    assert rejected.value.reason == "missing_signature"


def test_previous_secret_still_verifies_during_rotation() -> None:
    now = time.time()
    body = clerk.sample("user.updated")
    headers = _svix_headers(body, OTHER, at=now)
    clerk.verify(_delivery(body, headers, now), [SECRET, OTHER], now=now)
    with pytest.raises(SignatureError):
        clerk.verify(_delivery(body, headers, now), [SECRET], now=now)


def test_any_of_several_v1_signatures_may_match() -> None:
    now = time.time()
    body = clerk.sample("user.created")
    headers = _svix_headers(body, SECRET, at=now)
    other = _svix_headers(body, OTHER, at=now)["svix-signature"]
    headers["svix-signature"] = f"{other} v1a,ignored {headers['svix-signature']}"
    clerk.verify(_delivery(body, headers, now), [SECRET], now=now)


def test_dedup_key_is_the_svix_message_id() -> None:
    now = time.time()
    body = clerk.sample("user.created")
    events = clerk.split(
        _delivery(body, _svix_headers(body, SECRET, at=now, message_id="msg_A"), now)
    )
    assert [(e.partner_event_id, e.event_type) for e in events] == [("msg_A", "user.created")]


@pytest.mark.parametrize(
    ("partner_type", "internal_type"),
    [
        ("user.created", "identity.user_created"),
        ("user.updated", "identity.user_updated"),
        ("user.deleted", "identity.user_deleted"),
        ("organizationMembership.created", "identity.membership_changed"),
        ("organizationMembership.deleted", "identity.membership_changed"),
        ("session.created", "identity.session_started"),
    ],
)
def test_mapped_types_normalize_to_valid_identity_events(
    partner_type: str, internal_type: str
) -> None:
    drafts = clerk.normalize(PartnerEvent("msg_1", partner_type, clerk.sample(partner_type)))
    assert [d.type for d in drafts] == [internal_type]
    event = build_event(partner="clerk", partner_event_id="msg_1", index=0, draft=drafts[0])
    validate_event(event)


def test_membership_carries_role_and_change() -> None:
    body = clerk.sample("organizationMembership.updated")
    data = clerk.normalize(PartnerEvent("msg_1", "organizationMembership.updated", body))[0].data
    assert (data["role"], data["change"]) == ("org:admin", "updated")
    assert data["user_id"] == orjson.loads(body)["data"]["public_user_data"]["user_id"]


def test_unmapped_type_normalizes_to_nothing() -> None:
    assert (
        clerk.normalize(PartnerEvent("msg_1", "email.created", clerk.sample("email.created"))) == []
    )
