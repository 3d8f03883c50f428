"""Realistic application webhook bodies for `hub send front <type>` and the tests: Front's
envelope around an Event object (dev.frontapp.com/reference/events) for a conversation the hub
opened (its escalation id in the subject, as calls.py writes it), with fresh ids each call
(a repeated event id would be a duplicate)."""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

API = "https://api2.frontapp.com"
COMPANY = "cmp_3f8a2"
GUEST_PHONE = "+13055550123"
INBOX = {"_links": {"self": f"{API}/inboxes/inb_55c8c149"}, "id": "inb_55c8c149",
         "name": "Escalations", "is_private": False}  # fmt: skip
TEAMMATE = {"_links": {"self": f"{API}/teammates/tea_6r55a"}, "id": "tea_6r55a",
            "email": "lucia@example.com", "username": "lucia", "first_name": "Lucía",
            "last_name": "Pérez", "is_admin": False, "is_available": True,
            "is_blocked": False, "type": "user", "custom_fields": {}}  # fmt: skip
# What the payload's `type` is for each application webhook type.
CORE_TYPE = {
    "inbound_received": "inbound",
    "outbound_sent": "out_reply",
    "conversation_archived": "archive",
    "conversation_reopened": "reopen",
    "assignee_changed": "assign",
    "tag_added": "tag",
    "new_comment_added": "comment",
}


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(5)}"


def conversation(
    conversation_id: str, escalation_id: str | None, created_at: float
) -> dict[str, Any]:
    subject = f"[{escalation_id}] Escalation: lockout" if escalation_id else "Sin llaves"
    return {
        "_links": {"self": f"{API}/conversations/{conversation_id}",
                   "related": {"messages": f"{API}/conversations/{conversation_id}/messages"}},
        "id": conversation_id,
        "subject": subject,
        "status": "assigned",
        "assignee": TEAMMATE,
        "recipient": {
            "_links": {"related": {"contact": f"{API}/contacts/crd_2njtoem"}},
            "name": "María González",
            "handle": GUEST_PHONE,
            "role": "from",
        },
        "tags": [],
        "links": [],
        "custom_fields": {},
        "created_at": created_at,
        "is_private": False,
        "scheduled_reminders": [],
        "metadata": {},
    }  # fmt: skip


def message(inbound: bool, created_at: float) -> dict[str, Any]:
    message_id = _id("msg")
    guest = {"_links": {"related": {"contact": f"{API}/contacts/crd_2njtoem"}},
             "name": "María González", "handle": GUEST_PHONE}  # fmt: skip
    hub = {
        "_links": {"related": {"contact": None}},
        "name": "Escalations",
        "handle": "+13055550100",
    }
    body = (
        "<p>Estoy afuera y la cerradura no abre, ¿me ayudan? Urgente</p>"
        if inbound
        else "<div>Hola María, te enviamos el código nuevo: <b>4821</b>.</div><div>Saludos</div>"
    )
    return {
        "_links": {"self": f"{API}/messages/{message_id}",
                   "related": {"conversation": f"{API}/conversations/cnv_placeholder"}},
        "id": message_id,
        "message_uid": secrets.token_hex(16),
        "type": "sms",
        "is_inbound": inbound,
        "created_at": created_at,
        "blurb": body[:60],
        "author": None if inbound else TEAMMATE,
        "recipients": [{**guest, "role": "from" if inbound else "to"},
                       {**hub, "role": "to" if inbound else "from"}],
        "body": body,
        "attachments": [],
        "metadata": {},
    }  # fmt: skip


def sample_payload(
    event_type: str,
    *,
    event_id: str | None = None,
    conversation_id: str | None = None,
    escalation_id: str | None = "sup_01jcx4k9m2",
    first_message: bool = False,
) -> bytes:
    """An application webhook body of `event_type` (`sync`: the setup request's)."""
    if event_type == "sync":
        return orjson.dumps({"type": "sync", "authorization": {"id": COMPANY}})
    now = time.time()
    conversation_id = conversation_id or _id("cnv")
    created = now if first_message else now - 600
    event: dict[str, Any] = {
        "_links": {"self": f"{API}/events/{event_id or 'evt'}"},
        "id": event_id or _id("evt"),
        "type": CORE_TYPE.get(event_type, event_type),
        "emitted_at": round(now, 3),
        "conversation": conversation(conversation_id, escalation_id, created),
        "source": {"_meta": {"type": "teammate"}, "data": TEAMMATE},
    }
    if event_type in ("inbound_received", "outbound_sent"):
        data = message(event_type == "inbound_received", now)
        data["_links"]["related"]["conversation"] = f"{API}/conversations/{conversation_id}"
        event["target"] = {"_meta": {"type": "message"}, "data": data}
        if event_type == "inbound_received":
            event["source"] = {"_meta": {"type": "inboxes"}, "data": [INBOX]}
    elif event_type == "assignee_changed":
        event["target"] = {"_meta": {"type": "teammate"}, "data": TEAMMATE}
    elif event_type == "tag_added":
        tag = {"_links": {"self": f"{API}/tags/tag_2oxhvy"}, "id": "tag_2oxhvy", "name": "vip",
               "highlight": None, "is_private": False, "is_visible_in_conversation_lists": True}  # fmt: skip
        event["target"] = {"_meta": {"type": "tag"}, "data": tag}
    elif event_type == "new_comment_added":
        comment = {"id": _id("com"), "author": TEAMMATE, "body": "Llamé al huésped, no contesta",
                   "posted_at": now}  # fmt: skip
        event["target"] = {"_meta": {"type": "comment"}, "data": comment}
    return orjson.dumps({"type": event_type, "authorization": {"id": COMPANY}, "payload": event})
