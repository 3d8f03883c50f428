"""Reading Front's event objects (dev.frontapp.com/reference/events): the conversation, its
contact, the message and its body, each value bounded to what the support.* schemas hold.

An application webhook posts `{"type", "authorization": {"id"}, "payload": <event>}`; the event
is Front's Event object: `id` (evt_...), `type` (inbound, outbound, out_reply, archive, reopen,
assign, unassign, tag...), `emitted_at` (seconds, fractional), `conversation`, `source` and
`target` (`{"_meta": {"type"}, "data": ...}`: the message, the teammate or the tag).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from integration_hub.connectors.text import E164, html_text

Obj = Mapping[str, Any]

MAX_ID = 128  # the schemas' bound on the inbox's ids
MAX_NAME = 255
MAX_EMAIL = 320
MAX_BODY = 4096  # the schemas' bound on a message's plain text
MAX_TAG = 64
MAX_RECIPIENTS = 50  # a message's recipients looked at before giving up on finding "from"
# The hub writes its escalation id into the imported conversation's subject ("[sup_...]")
# and as the import's thread_ref (calls.py); either brings it back.
ESCALATION_ID = re.compile(r"sup_[A-Za-z0-9_-]{1,60}")
_SUBJECT_ESCALATION = re.compile(r"\[(sup_[A-Za-z0-9_-]{1,60})\]")
# A conversation whose first message is this one: created within this many seconds of it.
FIRST_MESSAGE_SECONDS = 2.0


def part(value: Any, name: str) -> Obj:
    """`value[name]` when both are objects, else an empty object."""
    found = value.get(name) if isinstance(value, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def text(value: Any, limit: int) -> str | None:
    """A non-empty string cut to `limit` characters (NUL removed: no column takes it)."""
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "")[:limit]
    return value or None


def last_segment(url: Any) -> str | None:
    """The id at the end of one of Front's `_links` (…/contacts/crd_123 -> crd_123)."""
    if not isinstance(url, str):
        return None
    return text(url[-(MAX_ID + 1) :].rstrip("/").rsplit("/", 1)[-1], MAX_ID)


def phone(handle: Any) -> str | None:
    """A handle that is an E.164 number, else None."""
    return handle if isinstance(handle, str) and E164.fullmatch(handle) else None


def time_of(event: Obj) -> str:
    """The event's `emitted_at` (unix seconds) as RFC 3339; the epoch when it has none."""
    stamp = event.get("emitted_at")
    if isinstance(stamp, bool) or not isinstance(stamp, int | float) or not 0 <= stamp < 1e11:
        stamp = 0
    return datetime.fromtimestamp(float(stamp), UTC).isoformat().replace("+00:00", "Z")


def plain_text(message: Obj) -> str:
    """The message as plain text, at most MAX_BODY characters: Front's `text` when it sends
    one (email), else its HTML `body` with the tags dropped."""
    given = message.get("text")
    if isinstance(given, str) and given.strip():
        return given.replace("\x00", "").strip()[:MAX_BODY]
    body = message.get("body")
    return html_text(body)[:MAX_BODY] if isinstance(body, str) else ""


def _person(recipient: Obj) -> dict[str, Any]:
    handle = recipient.get("handle")
    links = part(part(recipient, "_links"), "related")
    email = handle if isinstance(handle, str) and "@" in handle else None
    return {
        "id": last_segment(links.get("contact")),
        "phone": phone(handle),
        "email": text(email, MAX_EMAIL),
        "name": text(recipient.get("name"), MAX_NAME),
    }


def contact_of(event: Obj, message: Obj | None = None) -> dict[str, Any]:
    """The customer side: the message's `from` recipient for an inbound message, else the
    conversation's main recipient (Front's `conversation.recipient`)."""
    recipients = message.get("recipients") if message is not None else None
    for recipient in recipients[:MAX_RECIPIENTS] if isinstance(recipients, list) else []:
        if isinstance(recipient, Mapping) and recipient.get("role") == "from":
            return _person(recipient)
    return _person(part(part(event, "conversation"), "recipient"))


def to_guest(event: Obj, message: Obj) -> bool:
    """Whether one of the message's `to` recipients is the conversation's guest: its main
    recipient's handle, the phone the hub imported from. An agent's message to anyone else (a
    forward, a new message to a colleague or an owner) is no reply for the guest."""
    guest = phone(part(part(event, "conversation"), "recipient").get("handle"))
    recipients = message.get("recipients")
    return guest is not None and any(
        isinstance(recipient, Mapping)
        and recipient.get("role") == "to"
        and recipient.get("handle") == guest
        for recipient in (recipients[:MAX_RECIPIENTS] if isinstance(recipients, list) else [])
    )


def teammate(value: Any) -> dict[str, Any] | None:
    """A teammate as {id, name}; None when there is none (unassigned)."""
    if not isinstance(value, Mapping) or not value:
        return None
    first, last = text(value.get("first_name"), MAX_NAME), text(value.get("last_name"), MAX_NAME)
    name = " ".join(n for n in (first, last) if n) or text(value.get("username"), MAX_NAME)
    return {"id": text(value.get("id"), MAX_ID), "name": name[:MAX_NAME] if name else None}


def escalation_id(event: Obj, message: Obj | None = None) -> str | None:
    """The hub's escalation id when the hub opened the conversation: the imported message's
    `metadata.thread_ref`, or the `[sup_...]` the hub wrote in the conversation's subject."""
    ref = part(message, "metadata").get("thread_ref") if message is not None else None
    if isinstance(ref, str) and ESCALATION_ID.fullmatch(ref):
        return ref
    subject = part(event, "conversation").get("subject")
    found = _SUBJECT_ESCALATION.search(subject[:MAX_NAME]) if isinstance(subject, str) else None
    return found.group(1) if found else None


def is_first_message(event: Obj, message: Obj) -> bool:
    """Whether the conversation began with this message: Front's conversation `created_at`
    within FIRST_MESSAGE_SECONDS of the message's (the event carries no message count)."""
    created = part(event, "conversation").get("created_at")
    sent = message.get("created_at")
    if not isinstance(created, int | float) or not isinstance(sent, int | float):
        return False
    if isinstance(created, bool) or isinstance(sent, bool):
        return False
    return abs(float(created) - float(sent)) <= FIRST_MESSAGE_SECONDS
