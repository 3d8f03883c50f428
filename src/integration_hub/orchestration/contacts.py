"""Messaging contacts: applies message.received and contact.opted_out/opted_in events.

One row per phone number. Events arrive in any order and more than once, so each aspect of a
row takes only an event at least as new as the one it holds: the consent state (with
`consent_changed_at`), the last inbound message (with `last_inbound_at`, which also brings the
profile name and a clearer locale guess) and WhatsApp's 24-hour window
(`last_whatsapp_inbound_at`). The consent history is append-only, one row per internal event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from integration_hub.storage import contacts as stored
from integration_hub.storage.rows import utcnow

CONTACT_EVENT_TYPES = frozenset({"message.received", "contact.opted_out", "contact.opted_in"})
DEFAULT_LOCALE = "en"


def _apply_message(connection: Connection, data: dict[str, Any], when: datetime) -> str:
    phone = data["from"]
    stored.ensure_contact(connection, phone=phone, locale=data["locale_hint"] or DEFAULT_LOCALE)
    changes: dict[str, Any] = {"last_inbound_at": when, "updated_at": utcnow()}
    if data["profile_name"]:
        changes["profile_name"] = data["profile_name"]
    if data["locale_hint"]:
        changes["locale"] = data["locale_hint"]  # a guess, kept until a newer message is clearer
    newest = stored.update_unless_newer(
        connection, phone=phone, clock="last_inbound_at", when=when, changes=changes
    )
    if data["channel"] == "whatsapp":
        stored.update_unless_newer(
            connection,
            phone=phone,
            clock="last_whatsapp_inbound_at",
            when=when,
            changes={"last_whatsapp_inbound_at": when},
        )
    # Details reach the logs and the admin API: they never name the phone (personal data).
    return f"contact: inbound {data['channel']} " + (
        "recorded" if newest else "older than stored, window kept"
    )


def _apply_consent(connection: Connection, event: dict[str, Any], when: datetime) -> str:
    data = event["data"]
    phone, opted_out = data["phone"], bool(data["opted_out"])
    state = "opted out" if opted_out else "opted in"
    recorded = stored.record_consent_event(
        connection,
        event_id=event["id"],
        phone=phone,
        opted_out=opted_out,
        channel=data["channel"],
        keyword=data["keyword"],
        source=data["source"],
        occurred_at=when,
    )
    if not recorded:
        return f"contact: {state} already recorded"
    stored.ensure_contact(connection, phone=phone, locale=data["locale_hint"] or DEFAULT_LOCALE)
    changes: dict[str, Any] = {
        "opted_out": opted_out,
        "consent_changed_at": when,
        "updated_at": utcnow(),
    }
    if data["locale_hint"]:
        changes["locale"] = data["locale_hint"]  # the keyword's language is a strong signal
    applied = stored.update_unless_newer(
        connection, phone=phone, clock="consent_changed_at", when=when, changes=changes
    )
    return f"contact: {state} " + ("applied" if applied else "older than stored, kept")


def apply_event(connection: Connection, event: dict[str, Any]) -> str:
    """Apply one contact event; returns what happened (for the workflow's result)."""
    when = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    if event["type"] == "message.received":
        return _apply_message(connection, event["data"], when)
    return _apply_consent(connection, event, when)
