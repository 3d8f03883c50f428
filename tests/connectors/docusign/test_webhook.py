"""DocuSign Connect: the HMAC signature cross-checked against the documented algorithm computed
independently (the SDK has no helper), numbered headers up to 100, every mapped type's fields,
the dedup key and the bounds `split` enforces."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from integration_hub.connectors.base import Delivery, PartnerEvent
from integration_hub.connectors.docusign.webhook import (
    CONTRACT_FIELD,
    EVENT_MAP,
    DocuSignConnector,
    connect_payload,
    rfc3339,
)
from integration_hub.errors import MalformedPayload, SignatureError

CONNECTOR = DocuSignConnector()
KEY = "3nQX1Yk4gL7u5m8t0wQ2s9vB6cF1hJ4kL7nP0rS3uV8="  # a Connect key's shape: base64, 44
PREVIOUS = "Zm9ybWVyLWNvbm5lY3Qta2V5LTAxMjM0NTY3ODlhYmM="
OTHER = "b3RoZXItYWNjb3VudHMtY29ubmVjdC1rZXktMDAwMDA="
ENVELOPE = "93be49ab-3e3b-4c8f-9b1c-2b0a1f2e3d4c"
CONTRACT = "ctr_" + "ab" * 16
GENERATED = "2026-12-01T18:42:37.4712153Z"
NOW = 1_764_600_000.0


def _documented_hash(secret: str, payload: bytes) -> str:
    """DocuSign's ComputeHash (connect/validate, C#): HMACSHA256 keyed by the secret's UTF-8
    bytes over the whole body, Base64. Computed with `cryptography`, not the hub's `hmac`."""
    mac = crypto_hmac.HMAC(secret.encode("utf-8"), hashes.SHA256())
    mac.update(payload)
    return base64.b64encode(mac.finalize()).decode()


def _body(event_type: str = "envelope-completed", /, **changes: Any) -> bytes:
    payload = orjson.loads(
        connect_payload(event_type, envelope_id=ENVELOPE, contract_id=CONTRACT, generated=GENERATED)
    )
    payload.update(changes)
    return orjson.dumps(payload)


def _delivery(body: bytes, headers: dict[str, str]) -> Delivery:
    return Delivery(body=body, headers=headers, url="https://hub.example.com/webhooks/docusign",
                    received_at=NOW)  # fmt: skip


def test_the_signature_is_the_documented_hmac_of_the_raw_body() -> None:
    body = _body() + b"\r\n"  # line endings are part of what is signed

    headers = CONNECTOR.sign(body, KEY, timestamp=0, url="")

    assert headers["x-docusign-signature-1"] == _documented_hash(KEY, body)
    CONNECTOR.verify(_delivery(body, {"x-docusign-signature-1": _documented_hash(KEY, body)}),
                     [KEY], now=NOW)  # fmt: skip


def test_any_numbered_header_may_match_any_secret_version() -> None:
    body = _body()
    headers = {
        "x-docusign-signature-1": _documented_hash(OTHER, body),  # another key of the account
        "x-docusign-signature-2": _documented_hash(PREVIOUS, body),
    }

    CONNECTOR.verify(_delivery(body, headers), [KEY, PREVIOUS], now=NOW)
    with pytest.raises(SignatureError):
        CONNECTOR.verify(_delivery(body, headers), [KEY], now=NOW)


def test_one_hundred_keys_are_read_and_more_are_refused_before_comparing() -> None:
    body = _body()
    wrong = _documented_hash(OTHER, body)
    hundred = {f"x-docusign-signature-{n}": wrong for n in range(1, 100)}
    hundred["x-docusign-signature-100"] = _documented_hash(KEY, body)

    CONNECTOR.verify(_delivery(body, hundred), [KEY], now=NOW)
    with pytest.raises(SignatureError) as refused:
        CONNECTOR.verify(_delivery(body, {**hundred, "x-docusign-signature-101": wrong}), [KEY],
                         now=NOW)  # fmt: skip
    assert refused.value.reason == "too_many_signatures"


def test_a_missing_or_tampered_signature_is_refused() -> None:
    body = _body()
    signed = {"x-docusign-signature-1": _documented_hash(KEY, body)}

    with pytest.raises(SignatureError) as missing:
        CONNECTOR.verify(_delivery(body, {}), [KEY], now=NOW)
    with pytest.raises(SignatureError):
        CONNECTOR.verify(_delivery(body.replace(b"completed", b"voided"), signed), [KEY], now=NOW)
    assert missing.value.reason == "missing_signature"


def test_the_dedup_key_is_envelope_event_and_generated_time() -> None:
    body = _body("envelope-sent")
    retried = _body("envelope-sent", retryCount=3)  # a retried post: same event, same key

    (event,) = CONNECTOR.split(_delivery(body, {}))
    (again,) = CONNECTOR.split(_delivery(retried, {}))

    assert event.partner_event_id == f"{ENVELOPE}:envelope-sent:{GENERATED}"
    assert (event.event_type, event.body) == ("envelope-sent", body)
    assert again.partner_event_id == event.partner_event_id


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"event": "x" * 65}, "event"),
        ({"event": None}, "event"),
        ({"generatedDateTime": "yesterday"}, "ISO 8601"),
        ({"generatedDateTime": "2026-12-01T18:42:37." + "1" * 40 + "Z"}, "generatedDateTime"),
        ({"data": {"envelopeId": "e" * 65}}, "envelopeId"),
        ({"data": {}}, "envelopeId"),
        ({"data": []}, "data"),
    ],
)
def test_split_refuses_what_is_not_a_bounded_connect_event(
    change: dict[str, Any], reason: str
) -> None:
    with pytest.raises(MalformedPayload) as refused:
        CONNECTOR.split(_delivery(_body(**change), {}))
    assert reason in str(refused.value)


@pytest.mark.parametrize(
    "generated",
    [
        "2024-13-45T10:00:00Z",
        "2026-02-30T10:00:00.5Z",
        "2026-12-01T25:00:00Z",
        "2026-12-01T10:61:00Z",
        "2026-12-01T10:00:00+25:00",
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "yesterday",
    ],
)
def test_split_refuses_an_impossible_time_as_malformed_time(generated: str) -> None:
    with pytest.raises(MalformedPayload) as refused:
        CONNECTOR.split(_delivery(_body(generatedDateTime=generated), {}))
    assert (refused.value.reason, refused.value.status) == ("malformed_time", 400)
    assert generated not in str(refused.value)


def test_split_refuses_xml_and_non_objects() -> None:
    for body in (b"<DocuSignEnvelopeInformation/>", b"[]", b'"text"'):
        with pytest.raises(MalformedPayload):
            CONNECTOR.split(_delivery(body, {}))


EXPECTED = {
    "envelope-completed": ("contract.completed", "completed", None, None),
    "envelope-sent": ("contract.sent", "sent", None, None),
    "envelope-delivered": ("contract.viewed", "delivered", None, None),
    "envelope-declined": (
        "contract.declined", "declined", None, "No estoy de acuerdo con la cláusula 4"
    ),
    "envelope-voided": ("contract.voided", "voided", None, "Plantilla reemplazada"),
    "recipient-completed": ("contract.recipient_signed", "delivered", "1", None),
}  # fmt: skip


def test_every_mapped_type_is_expected_here() -> None:
    assert set(EXPECTED) == set(EVENT_MAP)


@pytest.mark.parametrize("event_type", sorted(EXPECTED))
def test_each_type_maps_to_its_contract_event(event_type: str) -> None:
    body = _body(event_type)
    (draft,) = CONNECTOR.normalize(PartnerEvent(f"{ENVELOPE}:{event_type}", event_type, body))

    internal, status, recipient, reason = EXPECTED[event_type]
    assert (draft.type, draft.subject, draft.time) == (
        internal,
        ENVELOPE,
        "2026-12-01T18:42:37.471215Z",
    )
    assert draft.data == {
        "envelope_id": ENVELOPE,
        "contract_id": CONTRACT,
        "account_id": "8f3c2b1a-5d4e-4f60-9a7b-0c1d2e3f4a5b",
        "status": status,
        "recipient_id": recipient,
        "reason": reason,
    }
    assert b"ana.cleaner@example.com" in body
    assert "example.com" not in orjson.dumps(draft.data).decode()  # no signer email carried


def test_the_contract_id_is_read_only_from_our_field_and_bounded() -> None:
    summary_fields = [{"name": f"other_{n}", "value": "x"} for n in range(500)]
    payload = orjson.loads(_body())
    payload["data"]["envelopeSummary"]["customFields"]["textCustomFields"] = [
        *summary_fields,
        {"name": CONTRACT_FIELD, "value": CONTRACT},  # past the cap: not read
    ]
    (far,) = CONNECTOR.normalize(PartnerEvent("k", "envelope-completed", orjson.dumps(payload)))
    payload["data"]["envelopeSummary"]["customFields"]["textCustomFields"] = [
        {"name": CONTRACT_FIELD, "value": "ctr_not-ours'; drop"}
    ]
    (bad,) = CONNECTOR.normalize(PartnerEvent("k", "envelope-completed", orjson.dumps(payload)))
    del payload["data"]["envelopeSummary"]
    (bare,) = CONNECTOR.normalize(PartnerEvent("k", "envelope-completed", orjson.dumps(payload)))

    assert far.data["contract_id"] is None
    assert bad.data["contract_id"] is None
    assert (bare.data["contract_id"], bare.data["envelope_id"]) == (None, ENVELOPE)


def test_an_unmapped_event_normalizes_to_nothing() -> None:
    body = _body("envelope-created")
    assert CONNECTOR.normalize(PartnerEvent("k", "envelope-created", body)) == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2026-12-01T18:42:37.4712153Z", "2026-12-01T18:42:37.471215Z"),
        ("2026-12-01T18:42:37Z", "2026-12-01T18:42:37Z"),
        ("2026-12-01T13:42:37.5-05:00", "2026-12-01T18:42:37.500000Z"),
        ("2026-12-01T18:42:37", "2026-12-01T18:42:37Z"),
    ],
)
def test_docusign_times_become_rfc3339_utc(given: str, expected: str) -> None:
    assert rfc3339(given) == expected


def test_samples_are_fresh_each_time() -> None:
    first, second = (CONNECTOR.split(_delivery(CONNECTOR.sample("envelope-completed"), {}))
                     for _ in range(2))  # fmt: skip
    assert first[0].partner_event_id != second[0].partner_event_id
