"""Realistic Intercom notifications for `hub send intercom <topic>`, the contract suite and the
tests: the envelope of developers.intercom.com "Signed notifications" around the REST API 2.x
conversation model (or a contact tag), as a conversation escalated by the hub looks."""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

import orjson

from integration_hub.connectors.intercom import CONTACT_TAG_TOPICS, ESCALATION_ATTRIBUTE

APP_ID = "x7k2m9qa"
ADMIN = {"type": "admin", "id": "7441023", "name": "Lucía Romero", "email": "lucia@example.com"}


def _part(part_type: str, author: dict[str, Any], body: str | None, now: int) -> dict[str, Any]:
    return {
        "type": "conversation_part",
        "id": str(30_000_000_000 + secrets.randbelow(10**9)),
        "part_type": part_type,
        "body": body,
        "created_at": now,
        "updated_at": now,
        "notified_at": now,
        "assigned_to": {"type": "admin", "id": ADMIN["id"]} if part_type == "assignment" else None,
        "author": author,
        "attachments": [],
        "external_id": None,
        "redacted": False,
    }


def conversation(
    topic: str,
    *,
    conversation_id: str,
    contact_id: str,
    escalation_id: str | None,
    now: int,
    tags: tuple[str, ...] = ("escalation", "lockout"),
) -> dict[str, Any]:
    """A conversation item as `topic` delivers it: its latest parts are the ones the topic is
    about (a lead's reply, an admin's reply, the close, the assignment)."""
    lead = {"type": "lead", "id": contact_id, "name": "Guest +1 305-555-0123", "email": None}
    admin = {key: ADMIN[key] for key in ("type", "id", "name", "email")}
    parts = {
        "conversation.user.replied": [_part("comment", lead, "<p>Sigo sin poder entrar</p>", now)],
        "conversation.admin.replied": [
            _part("comment", admin, "<p>Hola, te envío el código nuevo: <b>4821</b></p>", now)
        ],
        "conversation.admin.closed": [_part("close", admin, None, now)],
        "conversation.admin.assigned": [_part("assignment", admin, None, now)],
    }.get(topic, [])
    tag_list = [{"type": "tag", "id": str(9_000_000 + i), "name": t} for i, t in enumerate(tags)]
    return {
        "type": "conversation",
        "id": conversation_id,
        "created_at": now - 600,
        "updated_at": now,
        "title": None,
        "source": {
            "type": "conversation",
            "id": "2207419385",
            "delivered_as": "customer_initiated",
            "subject": "",
            # As the hub's escalation writes it (calls.first_message), in Intercom's paragraphs.
            "body": "<p>No puedo abrir la puerta, el código no funciona</p><p></p>"
            "<p>Channel: sms · Language: es</p><p>Escalated for: lockout</p>"
            f"<p>Hub reference: {escalation_id}</p>"
            if escalation_id
            else "<p>No puedo abrir la puerta, el código no funciona</p>",
            "author": lead,
            "attachments": [],
            "url": None,
            "redacted": False,
        },
        "contacts": {
            "type": "contact.list",
            "contacts": [{"type": "contact", "id": contact_id, "external_id": None}],
        },
        "admin_assignee_id": int(ADMIN["id"]) if topic != "conversation.user.created" else None,
        "team_assignee_id": None,
        "open": topic != "conversation.admin.closed",
        "state": "closed" if topic == "conversation.admin.closed" else "open",
        "read": False,
        "priority": "not_priority",
        "custom_attributes": {ESCALATION_ATTRIBUTE: escalation_id} if escalation_id else {},
        "tags": {"type": "tag.list", "tags": tag_list},
        "tags_added": {
            "type": "tag.list",
            "tags": tag_list if topic == "conversation_part.tag.created" else [],
        },
        "conversation_parts": {
            "type": "conversation_part.list",
            "conversation_parts": parts,
            "total_count": len(parts),
        },
        "links": {
            "conversation_web": f"https://app.intercom.com/a/apps/{APP_ID}/conversations/"
            f"{conversation_id}"
        },
    }


def contact_tag(topic: str, *, contact_id: str, tag: str = "vip") -> dict[str, Any]:
    role = "user" if topic == "contact.user.tag.created" else "lead"
    return {
        "type": "contact_tag",
        "tag": {"type": "tag", "id": "12934044", "name": tag},
        "contact": {
            "type": "contact",
            "id": contact_id,
            "workspace_id": APP_ID,
            "external_id": None,
            "role": role,
            "email": "maria.gonzalez@example.org",
            "phone": "+1 305 555 0123",
            "name": "María González",
            "custom_attributes": {},
        },
    }


def envelope(topic: str, item: dict[str, Any], *, notification_id: str, now: int) -> bytes:
    return orjson.dumps(
        {
            "type": "notification_event",
            "app_id": APP_ID,
            "data": {"type": "notification_event_data", "item": item},
            "links": {},
            "id": notification_id,
            "topic": topic,
            "delivery_status": "pending",
            "delivery_attempts": 1,
            "delivered_at": 0,
            "first_sent_at": now,
            "created_at": now,
            "self": None,
        }
    )


def notification(topic: str) -> bytes:
    """A fresh notification (new id each call: a repeated one would be a duplicate)."""
    now = int(time.time())
    notification_id = f"notif_{uuid.uuid4()}"
    contact_id = secrets.token_hex(12)
    if topic in CONTACT_TAG_TOPICS:
        return envelope(
            topic,
            contact_tag(topic, contact_id=contact_id),
            notification_id=notification_id,
            now=now,
        )
    if topic == "ping":
        item: dict[str, Any] = {"type": "ping", "message": "something something interzen"}
        return envelope(topic, item, notification_id=notification_id, now=now)
    item = conversation(
        topic,
        conversation_id=str(200_000_000_000 + secrets.randbelow(10**11)),
        contact_id=contact_id,
        escalation_id=f"sup_{secrets.token_hex(16)}",
        now=now,
    )
    return envelope(topic, item, notification_id=notification_id, now=now)
