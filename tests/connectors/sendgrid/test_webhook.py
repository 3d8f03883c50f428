"""SendGrid's Event Webhook: signatures cross-checked both ways with the official SDK's
verifier (`sendgrid.helpers.eventwebhook.EventWebhook`, signed with our own key pairs: only
SendGrid holds its private key), the timestamp window the SDK lacks, the batch split and every
mapped type's fields."""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook  # type: ignore[import-untyped]
from sendgrid.helpers.eventwebhook.eventwebhook_header import (  # type: ignore[import-untyped]
    EventWebhookHeader,
)

from integration_hub.connectors.base import Delivery, PartnerEvent
from integration_hub.connectors.partners import build_connectors
from integration_hub.connectors.schemes.ecdsa import public_key_text
from integration_hub.connectors.sendgrid import LOCAL_SEED_FORMAT, PARTNER, PUBLIC_KEY_FORMAT
from integration_hub.connectors.sendgrid.webhook import SendGridConnector, seed_key, verifying_key
from integration_hub.errors import (
    MalformedPayload,
    SecretNotConfigured,
    SignatureError,
    TooManyEntries,
)
from integration_hub.events import build_event, validate_event
from integration_hub.settings import Settings

KEY = ec.generate_private_key(ec.SECP256R1())
OTHER = ec.generate_private_key(ec.SECP256R1())
PUBLIC, OTHER_PUBLIC = public_key_text(KEY), public_key_text(OTHER)
sendgrid = SendGridConnector()


def _signed(body: bytes, key: ec.EllipticCurvePrivateKey, *, at: int) -> dict[str, str]:
    """The headers SendGrid sends, signed independently of the hub's code."""
    signature = key.sign(str(at).encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        EventWebhookHeader.SIGNATURE: base64.b64encode(signature).decode(),
        EventWebhookHeader.TIMESTAMP: str(at),
    }


def _delivery(body: bytes, headers: dict[str, str], now: float) -> Delivery:
    lowered = {k.lower(): v for k, v in headers.items()}
    return Delivery(body, lowered, "https://hub.example.com/webhooks/sendgrid", now)


def _sdk_accepts(body: bytes, headers: dict[str, str], public_key: str) -> bool:
    lowered = {k.lower(): v for k, v in headers.items()}
    return bool(
        EventWebhook(public_key).verify_signature(
            body.decode(),
            lowered[EventWebhookHeader.SIGNATURE.lower()],
            lowered[EventWebhookHeader.TIMESTAMP.lower()],
        )
    )


def test_a_delivery_signed_as_sendgrid_signs_verifies_here_and_in_the_sdk() -> None:
    now = int(time.time())
    body = sendgrid.sample("delivered")
    headers = _signed(body, KEY, at=now)

    sendgrid.verify(_delivery(body, headers, now), [PUBLIC], now=now)
    assert _sdk_accepts(body, headers, PUBLIC)


def test_our_signature_verifies_in_the_sdk() -> None:
    now = int(time.time())
    body = sendgrid.sample("bounce")
    headers = sendgrid.scheme.sign(body, KEY, timestamp=now)

    assert _sdk_accepts(body, headers, PUBLIC)
    assert not _sdk_accepts(body, headers, OTHER_PUBLIC)


def test_a_local_seed_signs_what_the_sdk_verifies_with_its_derived_key() -> None:
    now = int(time.time())
    seed = PARTNER.secret("SENDGRID_WEBHOOK_PUBLIC_KEY").local()  # type: ignore[misc]
    body = sendgrid.sample("open")
    headers = sendgrid.sign(body, seed, timestamp=now, url="")

    derived = verifying_key(seed)
    assert derived is not None and derived == public_key_text(seed_key(seed))
    assert _sdk_accepts(body, headers, derived)
    sendgrid.verify(_delivery(body, headers, now), [seed], now=now)
    sendgrid.verify(_delivery(body, headers, now), [derived], now=now)


def test_declared_formats_take_a_real_public_key_and_the_local_seed() -> None:
    import re

    seed = PARTNER.secret("SENDGRID_WEBHOOK_PUBLIC_KEY").local()  # type: ignore[misc]
    assert re.fullmatch(PUBLIC_KEY_FORMAT, PUBLIC)
    assert re.fullmatch(LOCAL_SEED_FORMAT, seed)
    assert not re.fullmatch(PUBLIC_KEY_FORMAT, seed)


@pytest.mark.parametrize("form", ["base64", "pem"])
def test_signing_with_the_public_key_says_only_sendgrid_can(form: str) -> None:
    value = (
        PUBLIC
        if form == "base64"
        else f"-----BEGIN PUBLIC KEY-----\n{PUBLIC}\n-----END PUBLIC KEY-----"
    )
    with pytest.raises(SecretNotConfigured) as refused:
        sendgrid.sign(b"[]", value, timestamp=1, url="")
    assert PUBLIC not in str(refused.value)


def test_a_tampered_body_is_refused_like_the_sdk_refuses_it() -> None:
    now = int(time.time())
    body = sendgrid.sample("delivered")
    headers = _signed(body, KEY, at=now)

    with pytest.raises(SignatureError) as refused:
        sendgrid.verify(_delivery(body + b" ", headers, now), [PUBLIC], now=now)
    assert refused.value.reason == "signature_mismatch"
    assert not _sdk_accepts(body + b" ", headers, PUBLIC)


@pytest.mark.parametrize("offset", [-301, 301], ids=["too-old", "too-new"])
def test_a_signature_outside_the_window_is_refused_though_the_sdk_takes_it(offset: int) -> None:
    """The SDK sets no window; the hub refuses a replayed (or future) signature."""
    now = int(time.time())
    body = sendgrid.sample("delivered")
    headers = _signed(body, KEY, at=now + offset)

    with pytest.raises(SignatureError) as refused:
        sendgrid.verify(_delivery(body, headers, now), [PUBLIC], now=now)
    assert refused.value.reason == "timestamp_out_of_tolerance"
    assert _sdk_accepts(body, headers, PUBLIC)


def test_the_configured_tolerance_is_used() -> None:
    strict = build_connectors(Settings.model_construct(signature_tolerance_seconds=60))["sendgrid"]
    now = int(time.time())
    body = sendgrid.sample("delivered")

    strict.verify(_delivery(body, _signed(body, KEY, at=now - 59), now), [PUBLIC], now=now)
    with pytest.raises(SignatureError):
        strict.verify(_delivery(body, _signed(body, KEY, at=now - 61), now), [PUBLIC], now=now)


def test_either_key_verifies_during_a_key_change() -> None:
    now = int(time.time())
    body = sendgrid.sample("delivered")
    headers = _signed(body, OTHER, at=now)

    sendgrid.verify(_delivery(body, headers, now), [PUBLIC, OTHER_PUBLIC], now=now)
    with pytest.raises(SignatureError):
        sendgrid.verify(_delivery(body, headers, now), [PUBLIC], now=now)


def _entry(event: str, **fields: Any) -> dict[str, Any]:
    return {
        "email": "Lucia.Perez@Example.org",
        "timestamp": 1_750_000_000,
        "event": event,
        "sg_event_id": f"evt-{event}",
        "sg_message_id": "14c5d75ce93.filter0001.16648.5515E0B88.0",
        **fields,
    }


def _split(batch: list[Any]) -> list[PartnerEvent]:
    return sendgrid.split(_delivery(orjson.dumps(batch), {}, 0))


def test_a_batch_splits_per_sg_event_id_and_a_malformed_entry_costs_no_other() -> None:
    events = _split(
        [
            _entry("delivered"),
            {"event": "open"},  # no sg_event_id
            "not an object",
            _entry("open", sg_event_id="x" * 101),
            _entry("bounce", type="blocked"),
        ]
    )

    assert [(e.partner_event_id, e.event_type) for e in events if e.malformed is None] == [
        ("evt-delivered", "delivered"),
        ("evt-bounce", "bounce"),
    ]
    malformed = [e for e in events if e.malformed is not None]
    assert len(malformed) == 3
    assert all(e.partner_event_id.startswith("malformed:") for e in malformed)
    assert "sg_event_id" in (malformed[0].malformed or "")


def test_a_retried_batch_gives_the_same_ids() -> None:
    batch = [_entry("delivered"), {"event": "open"}]
    assert [e.partner_event_id for e in _split(batch)] == [
        e.partner_event_id for e in _split(batch)
    ]


def test_an_array_that_does_not_parse_is_one_malformed_entry() -> None:
    events = sendgrid.split(_delivery(b'[{"event": "delivered",', {}, 0))
    assert [e.malformed is not None for e in events] == [True]


@pytest.mark.parametrize("body", [b"not json", b'{"event": "delivered"}', b"[]"])
def test_a_body_that_is_not_an_event_array_is_refused(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        sendgrid.split(_delivery(body, {}, 0))


def test_more_events_than_a_batch_holds_are_refused_whole() -> None:
    with pytest.raises(TooManyEntries):
        _split([_entry("open", sg_event_id=str(i)) for i in range(1001)])


def _data(entry: dict[str, Any]) -> tuple[str, Mapping[str, Any]]:
    event = PartnerEvent(entry["sg_event_id"], entry["event"], orjson.dumps(entry))
    [draft] = sendgrid.normalize(event)
    validate_event(build_event(partner="sendgrid", partner_event_id="e", index=0, draft=draft))
    assert draft.subject == entry["sg_message_id"]  # never the address
    assert draft.time == "2025-06-15T15:06:40Z"
    return draft.type, draft.data


@pytest.mark.parametrize(
    ("entry", "internal_type", "fields"),
    [
        (_entry("delivered"), "email.delivered", {}),
        (
            _entry("bounce", type="bounce", reason="550 5.1.1 no such user"),
            "email.bounced",
            {"kind": "hard", "reason": "550 5.1.1 no such user"},
        ),
        (
            _entry("bounce", type="blocked", reason="421 try later"),
            "email.bounced",
            {"kind": "soft", "reason": "421 try later"},
        ),
        (
            _entry("dropped", reason="Bounced Address"),
            "email.failed",
            {"reason": "Bounced Address"},
        ),
        (_entry("spamreport"), "email.complained", {}),
        (_entry("open"), "email.opened", {}),
        (
            _entry("click", url="https://example.org/j/1"),
            "email.clicked",
            {"url": "https://example.org/j/1"},
        ),
        (_entry("unsubscribe"), "email.unsubscribed", {"scope": "all"}),
        (_entry("group_unsubscribe", asm_group_id=42), "email.unsubscribed", {"scope": "group"}),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_each_mapped_type_carries_its_fields(
    entry: dict[str, Any], internal_type: str, fields: dict[str, Any]
) -> None:
    mapped_type, data = _data({**entry, "hub_message_id": "msg-42"})

    assert mapped_type == internal_type
    assert data["recipient"] == "Lucia.Perez@Example.org"
    assert data["provider_event_id"] == entry["sg_event_id"]
    assert data["provider_message_id"] == entry["sg_message_id"]
    assert data["hub_message_id"] == "msg-42"
    assert {k: data[k] for k in fields} == fields


def test_an_unmapped_type_or_an_event_without_address_normalizes_to_nothing() -> None:
    deferred = _entry("deferred")
    assert sendgrid.normalize(PartnerEvent("e", "deferred", orjson.dumps(deferred))) == []
    anonymous = {k: v for k, v in _entry("delivered").items() if k != "email"}
    assert sendgrid.normalize(PartnerEvent("e", "delivered", orjson.dumps(anonymous))) == []


def test_a_key_pasted_as_pem_verifies_and_doctor_notes_the_form() -> None:
    """SendGrid's SDK wraps the console's base64 in PEM lines; users paste either."""
    now = int(time.time())
    body = sendgrid.sample("delivered")
    headers = _signed(body, KEY, at=now)
    pem = f"-----BEGIN PUBLIC KEY-----\n{PUBLIC[:64]}\n{PUBLIC[64:]}\n-----END PUBLIC KEY-----\n"

    sendgrid.verify(_delivery(body, headers, now), [pem], now=now)
    secret = PARTNER.secret("SENDGRID_WEBHOOK_PUBLIC_KEY")
    assert secret.normalize is not None
    assert secret.normalize(pem) == (PUBLIC, "PEM (read as base64 DER)")
    assert secret.canonical(PUBLIC) == PUBLIC
