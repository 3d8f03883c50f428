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

from sqlalchemy import Connection, func, or_, select, update

from integration_hub.storage import repo
from integration_hub.storage.tables import contact_consent_events, contacts

CONTACT_EVENT_TYPES = frozenset({"message.received", "contact.opted_out", "contact.opted_in"})
DEFAULT_LOCALE = "en"


def _ensure_contact(connection: Connection, phone: str, locale: str | None) -> None:
    now = repo.utcnow()
    connection.execute(
        repo.insert_for(connection, contacts)
        .values(
            phone=phone,
            locale=locale or DEFAULT_LOCALE,
            opted_out=False,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["phone"])
    )


def _apply_message(connection: Connection, data: dict[str, Any], when: datetime) -> str:
    phone = data["from"]
    _ensure_contact(connection, phone, data["locale_hint"])
    changes: dict[str, Any] = {"last_inbound_at": when, "updated_at": repo.utcnow()}
    if data["profile_name"]:
        changes["profile_name"] = data["profile_name"]
    if data["locale_hint"]:
        changes["locale"] = data["locale_hint"]  # a guess, kept until a newer message is clearer
    newest = connection.execute(
        update(contacts)
        .where(
            contacts.c.phone == phone,
            or_(contacts.c.last_inbound_at.is_(None), contacts.c.last_inbound_at <= when),
        )
        .values(changes)
    ).rowcount
    if data["channel"] == "whatsapp":
        connection.execute(
            update(contacts)
            .where(
                contacts.c.phone == phone,
                or_(
                    contacts.c.last_whatsapp_inbound_at.is_(None),
                    contacts.c.last_whatsapp_inbound_at < when,
                ),
            )
            .values(last_whatsapp_inbound_at=when)
        )
    return f"contact {phone}: inbound {data['channel']} " + (
        "recorded" if newest else "older than stored, window kept"
    )


def _apply_consent(connection: Connection, event: dict[str, Any], when: datetime) -> str:
    data = event["data"]
    phone, opted_out = data["phone"], bool(data["opted_out"])
    state = "opted out" if opted_out else "opted in"
    recorded = connection.execute(
        repo.insert_for(connection, contact_consent_events)
        .values(
            event_id=event["id"],
            phone=phone,
            opted_out=opted_out,
            channel=data["channel"],
            keyword=data["keyword"],
            source=data["source"],
            occurred_at=when,
            recorded_at=repo.utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(contact_consent_events.c.id)
    ).first()
    if recorded is None:
        return f"contact {phone}: {state} already recorded"
    _ensure_contact(connection, phone, data["locale_hint"])
    changes: dict[str, Any] = {
        "opted_out": opted_out,
        "consent_changed_at": when,
        "updated_at": repo.utcnow(),
    }
    if data["locale_hint"]:
        changes["locale"] = data["locale_hint"]  # the keyword's language is a strong signal
    applied = connection.execute(
        update(contacts)
        .where(
            contacts.c.phone == phone,
            or_(contacts.c.consent_changed_at.is_(None), contacts.c.consent_changed_at <= when),
        )
        .values(changes)
    ).rowcount
    return f"contact {phone}: {state} " + ("applied" if applied else "older than stored, kept")


def apply_event(connection: Connection, event: dict[str, Any]) -> str:
    """Apply one contact event; returns what happened (for the workflow's result)."""
    when = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    if event["type"] == "message.received":
        return _apply_message(connection, event["data"], when)
    return _apply_consent(connection, event, when)


def consent_history(connection: Connection, phone: str) -> list[dict[str, Any]]:
    rows = connection.execute(
        select(contact_consent_events)
        .where(contact_consent_events.c.phone == phone)
        .order_by(contact_consent_events.c.occurred_at, contact_consent_events.c.id)
    ).all()
    return [dict(r._mapping) for r in rows]


def contact_count(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(contacts)).scalar_one())
