"""Resend's webhooks, delivered through Svix: signing, splitting and the dedup key (`svix-id`,
kept across retries of one message) come from the shared Standard Webhooks scheme, within the
configured tolerance; this module maps and samples.

Bodies are `{"type", "created_at", "data"}`; email events carry `data.email_id`, `data.to` (a
list) and our `hub_message_id` tag; contact events carry the contact, whose `unsubscribed`
(or `subscription: "opt_out"`) is an unsubscribe.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from integration_hub.connectors.base import InternalEventDraft, Manifest, PartnerEvent
from integration_hub.connectors.resend import WEBHOOK_SECRET
from integration_hub.connectors.schemes.signed import StandardWebhooksSigned
from integration_hub.connectors.schemes.standard_webhooks import HEADERS

Obj = Mapping[str, Any]
MAX_REASON = 1024
MAX_URL = 2048
CONTACT_TYPES = ("contact.created", "contact.updated")

MAPPING: dict[str, str] = {
    "email.delivered": "email.delivered",
    "email.bounced": "email.bounced",
    "email.complained": "email.complained",
    "email.failed": "email.failed",
    "email.suppressed": "email.suppressed",
    "email.opened": "email.opened",
    "email.clicked": "email.clicked",
    **dict.fromkeys(CONTACT_TYPES, "email.unsubscribed"),
}


def _text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _part(data: Obj, name: str) -> Obj:
    part = data.get(name)
    return part if isinstance(part, dict) else {}


def _recipient(data: Obj) -> str | None:
    to = data.get("to", data.get("email"))
    if isinstance(to, list):
        to = to[0] if to else None
    return to[:320] if isinstance(to, str) and to else None


def _tag(data: Obj, name: str) -> str | None:
    """A tag's value: Resend's events carry tags as an object (name -> value)."""
    tags = data.get("tags")
    if isinstance(tags, dict):
        return _text(tags.get(name), 128)
    if isinstance(tags, list):  # the shape a send takes them in: [{"name", "value"}]
        for tag in tags[:50]:
            if isinstance(tag, dict) and tag.get("name") == name:
                return _text(tag.get("value"), 128)
    return None


def _extra(event_type: str, data: Obj) -> dict[str, Any] | None:
    """The type's own fields; None when the event is not what its type maps to."""
    if event_type == "email.bounced":
        bounce = _part(data, "bounce")
        # Permanent: the address does not exist; Transient/Temporary/Undetermined: soft.
        hard = bounce.get("type") == "Permanent"
        return {
            "kind": "hard" if hard else "soft",
            "reason": _text(bounce.get("message"), MAX_REASON),
        }
    if event_type == "email.failed":
        return {"reason": _text(_part(data, "failed").get("reason"), MAX_REASON)}
    if event_type == "email.suppressed":
        return {"reason": _text(_part(data, "suppressed").get("message"), MAX_REASON)}
    if event_type == "email.clicked":
        return {"url": _text(_part(data, "click").get("link"), MAX_URL)}
    if event_type in CONTACT_TYPES:
        opted_out = data.get("unsubscribed") is True or data.get("subscription") == "opt_out"
        return {"scope": "all"} if opted_out else None
    return {}


class ResendConnector(StandardWebhooksSigned):
    manifest = Manifest(
        name="resend",
        webhook_secret=WEBHOOK_SECRET,
        kept_headers=frozenset({"content-type", "user-agent"}) | HEADERS,
        event_map=MAPPING,
    )

    def normalize(self, event: PartnerEvent) -> list[InternalEventDraft]:
        internal_type = MAPPING.get(event.event_type)
        payload = orjson.loads(event.body)
        data = payload.get("data") if isinstance(payload, dict) else None
        if internal_type is None or not isinstance(data, dict):
            return []
        recipient, extra = _recipient(data), _extra(event.event_type, data)
        if recipient is None or extra is None:
            return []
        contact = event.event_type in CONTACT_TYPES
        message_id = None if contact else _text(data.get("email_id"), 255)
        created = payload.get("created_at")
        return [
            InternalEventDraft(
                type=internal_type,
                subject=message_id or event.partner_event_id,  # never the address
                time=created if isinstance(created, str) else "1970-01-01T00:00:00Z",
                data={
                    "provider_event_id": event.partner_event_id,
                    "provider_message_id": message_id,
                    "hub_message_id": None if contact else _tag(data, "hub_message_id"),
                    "recipient": recipient,
                    **extra,
                },
            )
        ]

    def sample(self, event_type: str) -> bytes:
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if event_type.startswith("contact."):
            data: dict[str, Any] = {
                "id": secrets.token_hex(16),
                "audience_id": "78b8d3bc-a55a-45a3-aee6-6ec0a5e13d7e",
                "created_at": now,
                "updated_at": now,
                "email": "maria.gonzalez@example.org",
                "first_name": "María",
                "last_name": "González",
                "unsubscribed": True,
            }
            return orjson.dumps({"type": event_type, "created_at": now, "data": data})
        data = {
            "email_id": secrets.token_hex(16),
            "created_at": now,
            "from": "Turnover Team <team@example.com>",
            "to": ["maria.gonzalez@example.org"],
            "subject": "Nuevo trabajo disponible",
            "tags": {"hub_message_id": f"msg-{secrets.token_hex(6)}"},
        }
        if event_type == "email.bounced":
            data["bounce"] = {
                "message": "The recipient's email address does not exist.",
                "subType": "General",
                "type": "Permanent",
            }
        elif event_type == "email.failed":
            data["failed"] = {"reason": "reached_daily_quota"}
        elif event_type == "email.suppressed":
            data["suppressed"] = {"message": "The address is on the suppression list."}
        elif event_type == "email.clicked":
            data["click"] = {
                "ipAddress": "192.0.2.10",
                "link": "https://example.org/jobs/4312",
                "timestamp": now,
                "userAgent": "Mozilla/5.0",
            }
        return orjson.dumps({"type": event_type, "created_at": now, "data": data})
