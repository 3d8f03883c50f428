"""Intercom's webhook notifications (developers.intercom.com, "Webhooks" and "Signed
notifications"): one `notification_event` per POST, `{"type", "id": "notif_...", "topic",
"app_id", "created_at", "delivery_attempts", "first_sent_at", "data": {"item": ...}}`.

Signing: `X-Hub-Signature: sha1=<40 hex>`, the HMAC-SHA1 of the raw body keyed with the app's
client secret (the shared HMAC scheme, compared against every secret version). Intercom signs
no timestamp and documents no tolerance, so only the dedup key (the notification `id`, kept
across Intercom's retries of one notification) stops a replay.

Topics mapped to support.* events; the rest (and `conversation.admin.noted`: internal notes
are never relayed) are stored and ignored; `ping` (sent when the endpoint is saved or tested)
is answered and stored nowhere. Items are conversations (REST API 2.x model: `source`,
`contacts`, `conversation_parts`, `custom_attributes`, `admin_assignee_id`; the 1.x `user` and
`assignee` are read when present) or, for contact tags, `{"type": "contact_tag", "tag",
"contact"}`. Personal data (phone, e-mail, name, bodies) goes into the internal events only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog

from integration_hub.connectors.base import (
    Delivery,
    InternalEventDraft,
    Manifest,
    PartnerEvent,
    storable_key,
)
from integration_hub.connectors.intercom import (
    CLIENT_SECRET,
    CONTACT_TAG_TOPICS,
    ESCALATION_ATTRIBUTE,
)
from integration_hub.connectors.schemes.hmac import HmacScheme
from integration_hub.connectors.schemes.signed import SchemeSigned
from integration_hub.connectors.text import e164, html_text
from integration_hub.errors import MalformedPayload

log = structlog.get_logger(__name__)

SIGNATURE = HmacScheme(header="x-hub-signature", algorithm="sha1", encoding="hex", prefix="sha1=")
PING = "ping"
EVENT_MAP = {
    "conversation.user.created": "support.conversation_opened",  # first: `hub send` uses it
    "conversation.user.replied": "support.message_received",
    "conversation.admin.replied": "support.message_sent",
    "conversation.admin.closed": "support.conversation_closed",
    "conversation.admin.assigned": "support.assignee_changed",
    "conversation_part.tag.created": "support.tag_added",
    **dict.fromkeys(CONTACT_TAG_TOPICS, "support.tag_added"),
}
# Bounds of what a verified body may make the hub loop over or copy (the schemas' bounds).
MAX_PARTS = 100  # conversation parts read (the latest ones)
MAX_TAGS = 20
MAX_CONTACTS = 10
MAX_ID = 128
MAX_NAME = 255
MAX_EMAIL = 320
MAX_TAG = 64
MAX_ESCALATION_ID = 64
CUSTOMER_TYPES = frozenset({"user", "lead", "contact"})
# Parts an admin's public reply arrives as (a reply that also assigns, opens or closes);
# notes (`note`, `note_and_reopen`) are never among them.
REPLY_PARTS = frozenset({"comment", "assignment", "open", "close"})
NOBODY = frozenset({"nobody_admin"})

Obj = Mapping[str, Any]


def _obj(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _text(value: Any, limit: int) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # Intercom writes admin ids as numbers in places
    return value[:limit] if isinstance(value, str) and value else None


def _exact(value: Any, limit: int) -> str | None:
    """A value copied whole or not at all (a cut id or address is a wrong one)."""
    text = _text(value, limit + 1)
    return text if text is not None and len(text) <= limit else None


def _id(value: Any) -> str | None:
    return _exact(value, MAX_ID)


def _list(container: Any, key: str, limit: int, *, latest: bool = False) -> list[Obj]:
    """The dicts of `container[key]` (a list), at most `limit` of them (the last ones when
    `latest`), bounded before anything loops over them."""
    items = _obj(container).get(key)
    if not isinstance(items, list):
        return []
    bounded = items[-limit:] if latest else items[:limit]
    return [item for item in bounded if isinstance(item, dict)]


def _time(payload: Obj, item: Obj) -> str:
    for stamp in (payload.get("created_at"), item.get("updated_at"), item.get("created_at")):
        if isinstance(stamp, int) and not isinstance(stamp, bool) and 0 < stamp < 2**33:
            return datetime.fromtimestamp(stamp, UTC).isoformat().replace("+00:00", "Z")
    raise MalformedPayload("the notification has no created_at time", reason="malformed_time")


def _person(value: Any) -> dict[str, str | None] | None:
    person = _obj(value)
    if person.get("type") in NOBODY or not (person_id := _id(person.get("id"))):
        return None
    return {"id": person_id, "name": _text(person.get("name"), MAX_NAME)}


def _contact(item: Obj) -> dict[str, str | None]:
    """The customer side of a conversation: the first listed contact (2.x), described by the
    source's author or the 1.x `user` when they are that contact."""
    listed = _list(item.get("contacts"), "contacts", MAX_CONTACTS)
    author = _obj(_obj(item.get("source")).get("author"))
    described = author if author.get("type") in CUSTOMER_TYPES else _obj(item.get("user"))
    contact_id = _id(listed[0].get("id")) if listed else _id(described.get("id"))
    if listed and _id(described.get("id")) != contact_id:
        described = {}
    return {
        "id": contact_id,
        "phone": e164(described.get("phone")),
        "email": _exact(described.get("email"), MAX_EMAIL),
        "name": _text(described.get("name"), MAX_NAME),
    }


def _part(
    item: Obj, kinds: frozenset[str], authors: frozenset[str], *, with_body: bool = False
) -> Obj | None:
    """The latest conversation part of one of `kinds` written by one of `authors` (and, when
    `with_body`, with a body: a close or an assignment right after a reply has none)."""
    for part in reversed(
        _list(item.get("conversation_parts"), "conversation_parts", MAX_PARTS, latest=True)
    ):
        if part.get("part_type") not in kinds:
            continue
        if _obj(part.get("author")).get("type") not in authors:
            continue
        body = part.get("body")  # null on a close or assignment without a message
        if not with_body or (isinstance(body, str) and body.strip()):
            return part
    return None


def _message(item: Obj, authors: frozenset[str], topic: str) -> dict[str, Any]:
    part = _part(item, REPLY_PARTS, authors, with_body=True)
    message_id = _id(part.get("id")) if part is not None else None
    if part is None or message_id is None:
        raise MalformedPayload(f"a {topic} notification needs the reply's conversation part")
    return {"message_id": message_id, "body": html_text(_text(part.get("body"), 1 << 20))}


def _assignee(item: Obj) -> dict[str, str | None] | None:
    kinds = frozenset(
        {"assignment", "default_assignment", "assign_and_reopen", "assign_and_unassign"}
    )
    part = _part(item, kinds, frozenset({"admin", "bot"}))
    if part is not None and isinstance(part.get("assigned_to"), dict):
        return _person(part["assigned_to"])
    if "admin_assignee_id" in item:  # 2.x: the id alone (null: unassigned)
        assignee_id = _id(item.get("admin_assignee_id"))
        return {"id": assignee_id, "name": None} if assignee_id not in (None, "0") else None
    return _person(item.get("assignee"))  # 1.x


def _tags(item: Obj) -> list[str]:
    added = _list(item.get("tags_added"), "tags", MAX_TAGS)
    names = [_exact(tag.get("name"), MAX_TAG) for tag in added]
    kept = [name for name in names if name is not None]
    if len(kept) < len(names):
        log.warning("intercom_tag_skipped", reason="tag name empty or over 64 characters")
    return kept


class IntercomConnector(SchemeSigned):
    manifest = Manifest(
        name="intercom",
        webhook_secret=CLIENT_SECRET,
        event_map=EVENT_MAP,
        signs_timestamp=False,  # Intercom signs the body only
    )
    scheme = SIGNATURE

    def split(self, delivery: Delivery) -> list[PartnerEvent]:
        try:
            payload = orjson.loads(delivery.body)
        except orjson.JSONDecodeError:
            raise MalformedPayload("body is not JSON") from None
        if not isinstance(payload, dict) or payload.get("type") != "notification_event":
            raise MalformedPayload("an Intercom notification has type notification_event")
        notification_id, topic = payload.get("id"), payload.get("topic")
        for name, value in (("id", notification_id), ("topic", topic)):
            if not isinstance(value, str) or not value or not storable_key(value):
                raise MalformedPayload(f"a notification needs `{name}` (255 characters at most)")
        assert isinstance(notification_id, str) and isinstance(topic, str)  # checked above
        if topic == PING:
            return []  # answered 200 with the edge's summary (no events); nothing kept
        if not isinstance(_obj(payload.get("data")).get("item"), dict):
            raise MalformedPayload("a notification needs a `data.item` object")
        return [PartnerEvent(notification_id, topic, delivery.body)]

    def normalize(self, event: PartnerEvent) -> list[InternalEventDraft]:
        internal_type = EVENT_MAP.get(event.event_type)
        if internal_type is None:
            return []
        payload = orjson.loads(event.body)
        item = payload["data"]["item"]
        time = _time(payload, item)
        if event.event_type in CONTACT_TAG_TOPICS:
            return self._contact_tag(event, item, time)
        conversation_id = _id(item.get("id"))
        if conversation_id is None:
            raise MalformedPayload("a conversation notification needs data.item.id")
        common = {
            "provider_event_id": event.partner_event_id,
            "conversation_id": conversation_id,
            "contact": _contact(item),
            "hub_escalation_id": _exact(
                _obj(item.get("custom_attributes")).get(ESCALATION_ATTRIBUTE), MAX_ESCALATION_ID
            ),
        }
        extras = self._extras(event.event_type, item)
        return [
            InternalEventDraft(
                type=internal_type, subject=conversation_id, time=time, data={**common, **extra}
            )
            for extra in extras
        ]

    def _extras(self, topic: str, item: Obj) -> list[dict[str, Any]]:
        """Each event's own fields (one event per tag added, else one)."""
        if topic == "conversation.user.created":
            source = _obj(item.get("source")) or _obj(item.get("conversation_message"))
            return [{"body": html_text(_text(source.get("body"), 1 << 20)) or None}]
        if topic == "conversation.user.replied":
            return [_message(item, CUSTOMER_TYPES, topic)]
        if topic == "conversation.admin.replied":
            message = _message(item, frozenset({"admin"}), topic)
            author = _part(item, REPLY_PARTS, frozenset({"admin"}), with_body=True)
            return [{**message, "author": _person(_obj(author).get("author"))}]
        if topic == "conversation.admin.closed":
            closing = _part(item, frozenset({"close"}), frozenset({"admin", "bot"}))
            return [{"closed_by": _person(_obj(closing).get("author"))}]
        if topic == "conversation.admin.assigned":
            return [{"assignee": _assignee(item)}]
        tags = _tags(item)  # conversation_part.tag.created
        if not tags:
            raise MalformedPayload("a tag notification needs the tags added")
        return [{"tag": tag, "target": "conversation"} for tag in tags]

    def _contact_tag(self, event: PartnerEvent, item: Obj, time: str) -> list[InternalEventDraft]:
        contact, tag = _obj(item.get("contact")), _exact(_obj(item.get("tag")).get("name"), MAX_TAG)
        contact_id = _id(contact.get("id"))
        if contact_id is None or tag is None:
            raise MalformedPayload("a contact tag notification needs the contact and the tag")
        data = {
            "provider_event_id": event.partner_event_id,
            "conversation_id": None,
            "contact": {
                "id": contact_id,
                "phone": e164(contact.get("phone")),
                "email": _exact(contact.get("email"), MAX_EMAIL),
                "name": _text(contact.get("name"), MAX_NAME),
            },
            "hub_escalation_id": None,
            "tag": tag,
            "target": "contact",
        }
        return [
            InternalEventDraft(type="support.tag_added", subject=contact_id, time=time, data=data)
        ]

    def sample(self, event_type: str) -> bytes:
        from integration_hub.connectors.intercom.samples import notification

        return notification(event_type)
