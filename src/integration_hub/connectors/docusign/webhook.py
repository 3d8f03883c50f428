"""DocuSign Connect: envelope and recipient events in the JSON SIM format.

Signing (developers.docusign.com/platform/webhooks/connect/validate): HMAC-SHA256 of the whole
raw body keyed by the Connect key's UTF-8 bytes, base64, one `X-DocuSign-Signature-<n>` header
per active key (up to 100); any may match. Nothing is timestamped, so the dedup key alone stops
a replay: Connect events carry no id, so it is (envelope id, event, generatedDateTime), which a
retried post keeps.

The hub's contract id travels in the envelope's text custom field `hub_contract_id` (set when
the envelope is sent, calls.py) and comes back in `envelopeSummary.customFields` when the
Connect configuration includes custom fields; the envelope id alone also finds the contract.
Signer names and emails are in the payload but never in the internal events.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from integration_hub.connectors.base import Delivery, InternalEventDraft, Manifest, PartnerEvent
from integration_hub.connectors.docusign import WEBHOOK_SECRET
from integration_hub.connectors.schemes.hmac import HmacScheme
from integration_hub.connectors.schemes.signed import SchemeSigned
from integration_hub.errors import MalformedPayload

CONTRACT_FIELD = "hub_contract_id"
MALFORMED_TIME = "malformed_time"  # the reason code of a time that is not one
# DocuSign documents up to 100 Connect HMAC keys, each signing in its own numbered header.
MAX_CONNECT_KEYS = 100
SIGNATURE = HmacScheme(
    header="x-docusign-signature-",
    algorithm="sha256",
    encoding="base64",
    numbered=True,
    max_presented=MAX_CONNECT_KEYS,
)
# Bounds of what forms the dedup key (it must fit raw_events' 255 characters) and of the
# values copied into internal events (their schemas' bounds).
MAX_ENVELOPE_ID = 64  # a GUID is 36
MAX_EVENT = 64
MAX_GENERATED = 40  # 2024-03-12T18:42:37.4712153Z is 28
MAX_REASON = 500
MAX_CUSTOM_FIELDS = 100  # a list of any length arrives in a verified body: capped before looping
MAX_SIGNERS = 100
_CONTRACT_ID = re.compile(r"ctr_[0-9a-f]{32}")
_TIME = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?")

EVENT_MAP = {
    "envelope-completed": "contract.completed",  # first: `hub send docusign` and doctor use it
    "envelope-sent": "contract.sent",
    "envelope-delivered": "contract.viewed",
    "envelope-declined": "contract.declined",
    "envelope-voided": "contract.voided",
    "recipient-completed": "contract.recipient_signed",
}
_STATUS = {
    "envelope-completed": "completed",
    "envelope-sent": "sent",
    "envelope-delivered": "delivered",
    "envelope-declined": "declined",
    "envelope-voided": "voided",
    "recipient-completed": "delivered",
}

Obj = Mapping[str, Any]


def rfc3339(value: str) -> str:
    """DocuSign's times (up to 7 fractional digits, `Z` or an offset) as RFC 3339 UTC with
    microseconds; `MalformedPayload` (`malformed_time`) for anything else, an impossible date
    or offset (2024-13-45, +25:00) included."""
    match = _TIME.fullmatch(value)
    if match is None:
        raise MalformedPayload("generatedDateTime is not an ISO 8601 time", reason=MALFORMED_TIME)
    whole, fraction, zone = match.groups()
    micros = (fraction or ".0")[1:7].ljust(6, "0")
    try:
        parsed = datetime.fromisoformat(
            f"{whole}.{micros}{'+00:00' if zone in (None, 'Z') else zone}"
        )
        return parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")
    except (ValueError, OverflowError):  # the value stays out of the message: it is the partner's
        raise MalformedPayload(
            "generatedDateTime is not a possible date and time", reason=MALFORMED_TIME
        ) from None


def _text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def contract_id_of(summary: Obj) -> str | None:
    """The hub's contract id from the envelope's custom fields, when Connect included them."""
    fields = summary.get("customFields")
    texts = fields.get("textCustomFields") if isinstance(fields, dict) else None
    for field in texts[:MAX_CUSTOM_FIELDS] if isinstance(texts, list) else []:
        if isinstance(field, dict) and field.get("name") == CONTRACT_FIELD:
            value = field.get("value")
            return value if isinstance(value, str) and _CONTRACT_ID.fullmatch(value) else None
    return None


def _reason(event: str, summary: Obj) -> str | None:
    if event == "envelope-voided":
        return _text(summary.get("voidedReason"), MAX_REASON)
    if event != "envelope-declined":
        return None
    recipients = summary.get("recipients")
    signers = recipients.get("signers") if isinstance(recipients, dict) else None
    for signer in signers[:MAX_SIGNERS] if isinstance(signers, list) else []:
        if isinstance(signer, dict) and (reason := _text(signer.get("declinedReason"), MAX_REASON)):
            return reason
    return None


class DocuSignConnector(SchemeSigned):
    manifest = Manifest(
        name="docusign",
        webhook_secret=WEBHOOK_SECRET,
        event_map=EVENT_MAP,
        signs_timestamp=False,  # Connect signs the body only
    )
    scheme = SIGNATURE

    def split(self, delivery: Delivery) -> list[PartnerEvent]:
        try:
            payload = orjson.loads(delivery.body)
        except orjson.JSONDecodeError:
            raise MalformedPayload(
                "body is not JSON (the Connect configuration must send JSON SIM)"
            ) from None
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
            raise MalformedPayload("a Connect event needs a `data` object")
        event, generated = payload.get("event"), payload.get("generatedDateTime")
        envelope_id = payload["data"].get("envelopeId")
        for name, value, limit in (
            ("event", event, MAX_EVENT),
            ("generatedDateTime", generated, MAX_GENERATED),
            ("data.envelopeId", envelope_id, MAX_ENVELOPE_ID),
        ):
            if not isinstance(value, str) or not value or len(value) > limit:
                raise MalformedPayload(
                    f"a Connect event needs `{name}` (a string of {limit} at most)"
                )
        assert isinstance(event, str) and isinstance(generated, str)  # checked above
        rfc3339(generated)  # a key must be the partner's own time: refused here if it is not one
        return [PartnerEvent(f"{envelope_id}:{event}:{generated}", event, delivery.body)]

    def normalize(self, event: PartnerEvent) -> list[InternalEventDraft]:
        internal_type = EVENT_MAP.get(event.event_type)
        if internal_type is None:
            return []
        payload = orjson.loads(event.body)
        data = payload["data"]
        summary = data.get("envelopeSummary")
        summary = summary if isinstance(summary, dict) else {}
        envelope_id = str(data["envelopeId"])
        return [
            InternalEventDraft(
                type=internal_type,
                subject=envelope_id,
                time=rfc3339(payload["generatedDateTime"]),
                data={
                    "envelope_id": envelope_id,
                    "contract_id": contract_id_of(summary),
                    "account_id": _text(data.get("accountId"), MAX_ENVELOPE_ID),
                    "status": _STATUS[event.event_type],
                    "recipient_id": _text(data.get("recipientId"), MAX_ENVELOPE_ID)
                    if event.event_type == "recipient-completed"
                    else None,
                    "reason": _reason(event.event_type, summary),
                },
            )
        ]

    def sample(self, event_type: str) -> bytes:
        now = datetime.now(UTC)
        # Each call a fresh time and envelope: a repeated body would be a duplicate.
        stamp = (
            now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}{secrets.randbelow(10)}Z"
        )
        return connect_payload(
            event_type,
            envelope_id=str(uuid.uuid4()),
            contract_id=f"ctr_{secrets.token_hex(16)}",
            generated=stamp,
        )


def connect_payload(
    event_type: str,
    *,
    envelope_id: str,
    contract_id: str | None,
    generated: str,
    account_id: str = "8f3c2b1a-5d4e-4f60-9a7b-0c1d2e3f4a5b",
) -> bytes:
    """A Connect JSON SIM body as DocuSign posts it, with the envelope summary and its custom
    fields included (json-sim-event-model), for `hub send` and the tests."""
    status = _STATUS.get(event_type, "sent")
    signed = event_type in ("envelope-completed", "recipient-completed")
    signer: dict[str, Any] = {
        "email": "ana.cleaner@example.com",
        "name": "Ana García",
        "recipientId": "1",
        "roleName": "Cleaner",
        "status": "completed" if signed else status,
    }
    if event_type == "envelope-declined":
        signer["declinedReason"] = "No estoy de acuerdo con la cláusula 4"
    fields = (
        []
        if contract_id is None
        else [
            {
                "fieldId": "10723",
                "name": CONTRACT_FIELD,
                "show": "false",
                "required": "false",
                "value": contract_id,
            }
        ]
    )
    summary: dict[str, Any] = {
        "envelopeId": envelope_id,
        "status": status,
        "emailSubject": "Acuerdo de servicios de limpieza",
        "sentDateTime": generated,
        "customFields": {"textCustomFields": fields},
        "recipients": {"signers": [signer]},
    }
    if event_type == "envelope-completed":
        summary["completedDateTime"] = generated
    if event_type == "envelope-voided":
        summary["voidedReason"] = "Plantilla reemplazada"
    data: dict[str, Any] = {
        "accountId": account_id,
        "userId": "4c5d6e7f-8a9b-4c0d-8e1f-2a3b4c5d6e7f",
        "envelopeId": envelope_id,
        "envelopeSummary": summary,
    }
    if event_type.startswith("recipient-"):
        data["recipientId"] = "1"
    return orjson.dumps(
        {
            "event": event_type,
            "apiVersion": "v2.1",
            "uri": f"/restapi/v2.1/accounts/{account_id}/envelopes/{envelope_id}",
            "retryCount": 0,
            "configurationId": 10418,
            "generatedDateTime": generated,
            "data": data,
        }
    )
