"""Clerk: users, organization memberships (roles) and sign-ins, delivered through Svix.

Signing, splitting and the dedup key (the message id, `svix-id`, which Svix keeps across retries
of one message) come from the shared Standard Webhooks scheme (`schemes.signed`), within the
configured tolerance; this module maps and samples.
Bodies are `{"type", "data", "object": "event", "timestamp"}` with millisecond timestamps.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from integration_hub.connectors.base import InternalEventDraft, Manifest, PartnerEvent
from integration_hub.connectors.schemes.signed import StandardWebhooksSigned
from integration_hub.connectors.schemes.standard_webhooks import HEADERS

Obj = Mapping[str, Any]


def _rfc3339_ms(milliseconds: Any) -> str:
    seconds = milliseconds / 1000 if isinstance(milliseconds, int | float) else 0
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _primary_email(user: Obj) -> str | None:
    primary = user.get("primary_email_address_id")
    for address in user.get("email_addresses") or []:
        if address.get("id") == primary:
            return str(address.get("email_address"))
    return None


def _primary_verified(user: Obj) -> bool:
    """Whether Clerk verified the primary e-mail (`verification.status == "verified"`)."""
    primary = user.get("primary_email_address_id")
    for address in user.get("email_addresses") or []:
        if address.get("id") == primary:
            return bool((address.get("verification") or {}).get("status") == "verified")
    return False


def _user_created(user: Obj) -> dict[str, Any]:
    return {**_user(user), "email_verified": _primary_verified(user)}


def _user(user: Obj) -> dict[str, Any]:
    metadata = user.get("public_metadata") or {}
    role = metadata.get("role") if isinstance(metadata, dict) else None
    return {
        "user_id": user["id"],
        "primary_email": _primary_email(user),
        "first_name": user.get("first_name"),
        "last_name": user.get("last_name"),
        "role": role if isinstance(role, str) else None,
    }


def _deleted_user(user: Obj) -> dict[str, Any]:
    return {"user_id": user["id"]}


def _membership(change: str) -> Callable[[Obj], dict[str, Any]]:
    def build(membership: Obj) -> dict[str, Any]:
        return {
            "membership_id": membership["id"],
            "user_id": (membership.get("public_user_data") or {}).get("user_id"),
            "organization_id": (membership.get("organization") or {}).get("id"),
            "role": membership.get("role"),
            "change": change,
        }

    return build


def _session(session: Obj) -> dict[str, Any]:
    return {"session_id": session["id"], "user_id": session.get("user_id")}


MAPPING: dict[str, tuple[str, Callable[[Obj], dict[str, Any]]]] = {
    "user.created": ("identity.user_created", _user_created),
    "user.updated": ("identity.user_updated", _user),
    "user.deleted": ("identity.user_deleted", _deleted_user),
    "organizationMembership.created": ("identity.membership_changed", _membership("created")),
    "organizationMembership.updated": ("identity.membership_changed", _membership("updated")),
    "organizationMembership.deleted": ("identity.membership_changed", _membership("deleted")),
    "session.created": ("identity.session_started", _session),
}

_SAMPLE_USER = {
    "id": "user_29w83sxmDNGwOuEthce5gg56FcC",
    "object": "user",
    "first_name": "María",
    "last_name": "González",
    "primary_email_address_id": "idn_29w83yL7CwVlJXylYLxcslromF1",
    "email_addresses": [
        {
            "id": "idn_29w83yL7CwVlJXylYLxcslromF1",
            "email_address": "maria@example.org",
            "verification": {"status": "verified", "strategy": "email_code"},
        }
    ],
    "phone_numbers": [],
    "public_metadata": {"role": "operator"},
    "created_at": 1654012591514,
    "updated_at": 1654012591835,
}
_SAMPLES: dict[str, Obj] = {
    "user": _SAMPLE_USER,
    "organizationMembership": {
        "id": "orgmem_29w8KmBLRSmQDtHXtezTkRIIqcq",
        "object": "organization_membership",
        "role": "org:admin",
        "organization": {"id": "org_29w9IfBrPmcpi0IeBVaKtA7R94W", "name": "Miami Turnovers"},
        "public_user_data": {"user_id": _SAMPLE_USER["id"]},
    },
    "session": {
        "id": "sess_29wBhNJEj0wXZEzDfu0HJjO9rFu",
        "object": "session",
        "user_id": _SAMPLE_USER["id"],
        "status": "active",
    },
}


class ClerkConnector(StandardWebhooksSigned):
    manifest = Manifest(
        name="clerk",
        webhook_secret="CLERK_WEBHOOK_SECRET",  # noqa: S106 (a variable name, not a value)
        kept_headers=frozenset({"content-type", "user-agent"}) | HEADERS,
        event_map={partner: internal for partner, (internal, _) in MAPPING.items()},
    )

    def normalize(self, event: PartnerEvent) -> list[InternalEventDraft]:
        mapped = MAPPING.get(event.event_type)
        if mapped is None:
            return []
        internal_type, build = mapped
        payload = orjson.loads(event.body)
        data = payload["data"]
        return [
            InternalEventDraft(
                type=internal_type,
                subject=str(data.get("id", "")),
                time=_rfc3339_ms(payload.get("timestamp")),
                data=build(data),
            )
        ]

    def sample(self, event_type: str) -> bytes:
        data = dict(
            _SAMPLES.get(event_type.split(".", 1)[0], {"id": f"obj_{secrets.token_hex(8)}"})
        )
        if event_type == "user.deleted":
            data = {"id": _SAMPLE_USER["id"], "object": "user", "deleted": True}
        event = {
            "data": data,
            "object": "event",
            "type": event_type,
            "timestamp": int(time.time() * 1000),
            "instance_id": "ins_2c4Pbp1wLxzXY4bRA6Yw7kGxvxY",
        }
        return orjson.dumps(event)
