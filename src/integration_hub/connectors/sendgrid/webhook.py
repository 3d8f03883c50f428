"""SendGrid's Event Webhook: a JSON array of events, signed with ECDSA P-256 over
`timestamp + body` (the shared `schemes.ecdsa`), verified with the account's public key.

SendGrid's own SDK sets no timestamp window; the hub refuses a signature older (or newer) than
HUB_SIGNATURE_TOLERANCE_SECONDS. Each entry is its own partner event, keyed by `sg_event_id`
(SendGrid keeps it across retries of a batch); a malformed entry is kept dead-lettered and
never costs the others (`base.malformed_entry`).

Local signing: only SendGrid holds the private key, so `hub send` and the shared test suites
sign with a seed instead (`hub init` makes one, `sglocal_...`): a configured value that is not
a P-256 public key is such a seed, and both signing and verifying derive the same key pair
from it. SendGrid's real public key is never a seed.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric import ec

from integration_hub.connectors.base import (
    Delivery,
    InternalEventDraft,
    Manifest,
    PartnerEvent,
    malformed_entry,
    storable_key,
)
from integration_hub.connectors.schemes.common import (
    DEFAULT_TOLERANCE_SECONDS,
    MAX_PRESENTED_SIGNATURES,
)
from integration_hub.connectors.schemes.ecdsa import (
    MAX_PUBLIC_KEY_CHARS,
    EcdsaScheme,
    public_key_text,
)
from integration_hub.connectors.sendgrid import WEBHOOK_PUBLIC_KEY, public_key_value
from integration_hub.errors import MalformedPayload, SecretNotConfigured, TooManyEntries

Obj = Mapping[str, Any]
SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"
# SendGrid posts batches "every 30 seconds or when the batch reaches 768 kB"; a thousand
# entries is more than a batch of that size holds and bounds the rows one request makes.
MAX_BATCH_ENTRIES = 1000
MAX_SG_EVENT_ID = 100  # SendGrid documents sg_event_id as at most 100 characters
MAX_REASON = 1024
MAX_URL = 2048
MIN_SEED_CHARS = 32
# The order of P-256's group: a derived scalar is taken modulo it (never 0).
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@functools.lru_cache(maxsize=MAX_PRESENTED_SIGNATURES)
def seed_key(seed: str) -> ec.EllipticCurvePrivateKey:
    """The P-256 private key a local signing seed stands for (deterministic)."""
    digest = hashlib.sha256(b"integration-hub sendgrid local seed\x00" + seed.encode()).digest()
    scalar = int.from_bytes(digest, "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def _is_public_key(value: str) -> bool:
    return value.startswith("MFkw") and len(value) <= MAX_PUBLIC_KEY_CHARS


def verifying_key(value: str) -> str | None:
    """The public key (base64 DER) a configured value verifies with: SendGrid's key (PEM lines
    dropped), a seed's derived key, None for a value too short to be either."""
    if len(value) > MAX_PUBLIC_KEY_CHARS:
        return None
    value = public_key_value(value)[0]
    if _is_public_key(value):
        return value
    if len(value) < MIN_SEED_CHARS or len(value) > MAX_PUBLIC_KEY_CHARS:
        return None
    return public_key_text(seed_key(value))


def _bounded(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _rfc3339(seconds: Any) -> str:
    moment = seconds if isinstance(seconds, int | float) and 0 <= seconds < 2**33 else 0
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z")


def _extra(event: Obj) -> dict[str, Any]:
    kind = event["event"]
    if kind == "bounce":
        # `type` is "bounce" (the address does not exist: hard) or "blocked" (refused for now:
        # a full mailbox, a reputation block: soft).
        hard = event.get("type", "bounce") != "blocked"
        return {
            "kind": "hard" if hard else "soft",
            "reason": _bounded(event.get("reason"), MAX_REASON),
        }
    if kind == "dropped":
        return {"reason": _bounded(event.get("reason"), MAX_REASON)}
    if kind == "click":
        return {"url": _bounded(event.get("url"), MAX_URL)}
    if kind in ("unsubscribe", "group_unsubscribe"):
        return {"scope": "group" if kind == "group_unsubscribe" else "all"}
    return {}


MAPPING: dict[str, str] = {
    "delivered": "email.delivered",
    "bounce": "email.bounced",
    "dropped": "email.failed",
    "spamreport": "email.complained",
    "open": "email.opened",
    "click": "email.clicked",
    "unsubscribe": "email.unsubscribed",
    "group_unsubscribe": "email.unsubscribed",
}


def _malformed_reason(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return "the entry is not a JSON object"
    event_id, kind = entry.get("sg_event_id"), entry.get("event")
    if not isinstance(event_id, str) or not event_id or not isinstance(kind, str) or not kind:
        return "each event needs a string `sg_event_id` and `event`"
    if len(event_id) > MAX_SG_EVENT_ID or not storable_key(event_id) or not storable_key(kind):
        return f"sg_event_id is longer than {MAX_SG_EVENT_ID} characters, or a field holds NUL"
    return None


class SendGridConnector:
    manifest = Manifest(
        name="sendgrid",
        webhook_secret=WEBHOOK_PUBLIC_KEY,
        kept_headers=frozenset({"content-type", "user-agent", TIMESTAMP_HEADER}),
        event_map=MAPPING,
    )

    def __init__(self, *, tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS) -> None:
        self.scheme = EcdsaScheme(
            header=SIGNATURE_HEADER,
            timestamp_header=TIMESTAMP_HEADER,
            tolerance_seconds=tolerance_seconds,
        )

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: float) -> None:
        keys = [verifying_key(value) for value in secrets[:MAX_PRESENTED_SIGNATURES]]
        self.scheme.verify(
            delivery.headers, delivery.body, [k for k in keys if k is not None], now=now
        )

    def sign(self, body: bytes, secret: str, *, timestamp: int, url: str) -> dict[str, str]:
        if _is_public_key(public_key_value(secret)[0]) or len(secret) < MIN_SEED_CHARS:
            raise SecretNotConfigured(
                f"{WEBHOOK_PUBLIC_KEY} holds SendGrid's public key: only SendGrid signs for it; "
                "a local `hub send` needs the seed `hub init` makes"
            )
        headers = self.scheme.sign(body, seed_key(secret), timestamp=timestamp)
        return {**headers, "Content-Type": "application/json"}

    def respond(self, delivery: Delivery, events: Sequence[PartnerEvent]) -> None:
        return None

    def split(self, delivery: Delivery) -> list[PartnerEvent]:
        """One partner event per entry of the array; a malformed entry is kept apart."""
        try:
            batch = orjson.loads(delivery.body)
        except orjson.JSONDecodeError:
            if delivery.body.strip().startswith(b"["):
                # An array that does not parse has no entries to tell apart: kept whole.
                return [
                    malformed_entry(delivery.body, "the batch is a JSON array that does not parse")
                ]
            raise MalformedPayload("body is not JSON") from None
        if not isinstance(batch, list) or not batch:
            raise MalformedPayload("the Event Webhook posts a non-empty JSON array of events")
        if len(batch) > MAX_BATCH_ENTRIES:
            raise TooManyEntries(
                f"the batch holds {len(batch)} events; at most {MAX_BATCH_ENTRIES}"
            )
        events = []
        for entry in batch:
            raw = orjson.dumps(entry)
            reason = _malformed_reason(entry)
            if reason is not None:
                events.append(malformed_entry(raw, reason))
            else:
                events.append(PartnerEvent(entry["sg_event_id"], entry["event"], raw))
        return events

    def normalize(self, event: PartnerEvent) -> list[InternalEventDraft]:
        internal_type = MAPPING.get(event.event_type)
        entry = orjson.loads(event.body)
        recipient = entry.get("email")
        if internal_type is None or not isinstance(recipient, str) or not recipient:
            return []
        message_id = _bounded(entry.get("sg_message_id"), 255)
        data = {
            "provider_event_id": event.partner_event_id,
            "provider_message_id": message_id,
            "hub_message_id": _bounded(entry.get("hub_message_id"), 128),
            "recipient": recipient[:320],
            **_extra(entry),
        }
        return [
            InternalEventDraft(
                type=internal_type,
                subject=message_id or event.partner_event_id,  # never the address
                time=_rfc3339(entry.get("timestamp")),
                data=data,
            )
        ]

    def sample(self, event_type: str) -> bytes:
        """A batch of one event of `event_type`, as SendGrid posts it."""
        now = int(time.time())
        message = secrets.token_urlsafe(16)
        entry: dict[str, Any] = {
            "email": "maria.gonzalez@example.org",
            "timestamp": now,
            "smtp-id": f"<{message}@ismtpd0001p1mdw1.sendgrid.net>",
            "event": event_type,
            "category": ["job_offer"],
            "sg_event_id": secrets.token_urlsafe(16),
            "sg_message_id": f"{message}.filterdrecv-5645d9c87f-6r7x4-1-5F7A5B3C-2.0",
            "hub_message_id": f"msg-{secrets.token_hex(6)}",
        }
        if event_type == "bounce":
            entry |= {
                "type": "bounce",
                "status": "5.1.1",
                "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
                "bounce_classification": "Invalid Address",
            }
        elif event_type == "dropped":
            entry |= {"reason": "Bounced Address", "status": "5.0.0"}
        elif event_type == "click":
            entry |= {"url": "https://example.org/jobs/4312", "useragent": "Mozilla/5.0"}
        elif event_type == "open":
            entry |= {"useragent": "Mozilla/5.0", "ip": "192.0.2.10"}
        elif event_type == "group_unsubscribe":
            entry |= {"asm_group_id": 42}
        return orjson.dumps([entry])
