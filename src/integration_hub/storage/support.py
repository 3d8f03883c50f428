"""support_conversations, contact_tags and support_contacts: the queries. Which event opens,
feeds or ends a conversation is orchestration/escalation.py's and support.py's; every status
change here is a compare-and-set, so a retried activity or a replayed event changes nothing
twice."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from integration_hub.storage import dialect
from integration_hub.storage.rows import as_utc, utcnow
from integration_hub.storage.tables import (
    MAX_CONTACT_TAGS,
    MAX_REASONS,
    MAX_TAG_LENGTH,
    contact_tags,
    support_contacts,
    support_conversations,
)

MAX_ERROR = 255
_TIMES = ("opened_at", "last_message_at", "closed_at", "last_relay_at", "created_at", "updated_at")
_TAG_DROPPED = re.compile(r"[^a-z0-9._-]")
_TAG_SPACES = re.compile(r"\s+")


class ConversationStatus(StrEnum):
    OPENING = "opening"  # the row is made; its workflow asks the inbox to open it
    OPEN = "open"
    CLOSED = "closed"  # closed in the inbox
    IDLE = "idle"  # no message for HUB_SUPPORT_IDLE_HOURS: the next one opens anew
    FAILED = "failed"  # the inbox did not open it; `last_error` says why


ACTIVE: tuple[str, ...] = (ConversationStatus.OPENING, ConversationStatus.OPEN)


class TagSource(StrEnum):
    HUB = "hub"  # set in the hub: pushed to the inbox
    INBOX = "inbox"  # mirrored from the inbox: never pushed back


def normalize_tag(raw: str) -> str | None:
    """`raw` stripped, lower-cased, accents dropped, spaces as "-", only [a-z0-9._-]; None when
    nothing is left or it is longer than MAX_TAG_LENGTH (no silent truncation: two long tags
    must not collapse into one)."""
    if len(raw) > 4 * MAX_TAG_LENGTH:  # bounded before any work
        return None
    folded = unicodedata.normalize("NFKD", raw.strip().casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    tag = _TAG_DROPPED.sub("", _TAG_SPACES.sub("-", folded))
    return tag if tag and len(tag) <= MAX_TAG_LENGTH else None


def _out(row: Any) -> dict[str, Any]:
    found = dict(row._mapping)
    for name in _TIMES:
        if found.get(name) is not None:
            found[name] = as_utc(found[name])
    return found


# --- conversations ----------------------------------------------------------------------------


def insert_conversation(
    connection: Connection,
    *,
    conversation_id: str,
    provider: str,
    phone: str,
    channel: str,
    language: str,
    reasons: list[str],
    when: datetime,
) -> bool:
    """A new `opening` conversation; False when that id exists (a replayed event)."""
    values = {
        "id": conversation_id,
        "provider": provider,
        "phone": phone,
        "channel": channel,
        "language": language,
        "status": ConversationStatus.OPENING.value,
        "reasons": reasons[:MAX_REASONS],
        "last_message_at": when,
        "relay_count": 0,
        "created_at": when,
        "updated_at": when,
    }
    statement = dialect.insert_or_ignore(
        connection, support_conversations, key=["id"], values=values
    ).returning(support_conversations.c.id)
    return connection.execute(statement).first() is not None


def get_conversation(connection: Connection, *, conversation_id: str) -> dict[str, Any] | None:
    row = connection.execute(
        select(support_conversations).where(support_conversations.c.id == conversation_id)
    ).first()
    return None if row is None else _out(row)


def active_conversation(connection: Connection, *, phone: str) -> dict[str, Any] | None:
    """The newest opening or open conversation of a phone."""
    row = connection.execute(
        select(support_conversations)
        .where(support_conversations.c.phone == phone, support_conversations.c.status.in_(ACTIVE))
        .order_by(support_conversations.c.created_at.desc(), support_conversations.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else _out(row)


def conversation_of(
    connection: Connection,
    *,
    provider: str,
    provider_conversation_id: str | None,
    conversation_id: str | None,
) -> dict[str, Any] | None:
    """The hub's conversation an inbox event names: by the inbox's id, else by the hub's id
    the inbox carried back (of that provider only)."""
    table = support_conversations
    if provider_conversation_id:
        row = connection.execute(
            select(table).where(
                table.c.provider == provider,
                table.c.provider_conversation_id == provider_conversation_id,
            )
        ).first()
        if row is not None:
            return _out(row)
    if conversation_id:
        row = connection.execute(
            select(table).where(table.c.id == conversation_id, table.c.provider == provider)
        ).first()
        if row is not None:
            return _out(row)
    return None


def _change(connection: Connection, conversation_id: str, *where: Any, **values: Any) -> bool:
    values.setdefault("updated_at", utcnow())
    result = connection.execute(
        update(support_conversations)
        .where(support_conversations.c.id == conversation_id, *where)
        .values(values)
    )
    return bool(result.rowcount)


def touch(connection: Connection, *, conversation_id: str, when: datetime) -> bool:
    """A message came (from the person or in the inbox): `last_message_at` moves forward."""
    column = support_conversations.c.last_message_at
    return _change(connection, conversation_id, column.is_(None) | (column < when),
                   last_message_at=when)  # fmt: skip


def mark_open(
    connection: Connection,
    *,
    conversation_id: str,
    provider_conversation_id: str,
    provider_contact_id: str,
) -> bool:
    """opening -> open with the inbox's ids; False when it is not opening any more."""
    return _change(
        connection,
        conversation_id,
        support_conversations.c.status == ConversationStatus.OPENING.value,
        status=ConversationStatus.OPEN.value,
        provider_conversation_id=provider_conversation_id,
        provider_contact_id=provider_contact_id,
        opened_at=utcnow(),
    )


def mark_failed(connection: Connection, *, conversation_id: str, error: str) -> bool:
    """opening -> failed with the reason."""
    return _change(
        connection,
        conversation_id,
        support_conversations.c.status == ConversationStatus.OPENING.value,
        status=ConversationStatus.FAILED.value,
        last_error=error[:MAX_ERROR],
    )


def mark_idle(connection: Connection, *, conversation_id: str, last_seen: datetime | None) -> bool:
    """opening/open -> idle, unless a message newer than `last_seen` (the newest one the
    workflow knows of) came meanwhile: that message's signal is on its way."""
    column = support_conversations.c.last_message_at
    newer = column.is_(None) if last_seen is None else column.is_(None) | (column <= last_seen)
    return _change(
        connection,
        conversation_id,
        support_conversations.c.status.in_(ACTIVE),
        newer,
        status=ConversationStatus.IDLE.value,
        closed_at=utcnow(),
    )


def mark_closed(connection: Connection, *, conversation_id: str) -> bool:
    """opening/open/idle -> closed (the inbox closed it)."""
    open_or_idle = (*ACTIVE, ConversationStatus.IDLE.value)
    return _change(
        connection,
        conversation_id,
        support_conversations.c.status.in_(open_or_idle),
        status=ConversationStatus.CLOSED.value,
        closed_at=utcnow(),
    )


def set_assignee(connection: Connection, *, conversation_id: str, assignee: str | None) -> bool:
    return _change(connection, conversation_id, assignee=assignee)


def set_error(connection: Connection, *, conversation_id: str, error: str) -> bool:
    return _change(connection, conversation_id, last_error=error[:MAX_ERROR])


def record_relay(connection: Connection, *, conversation_id: str, when: datetime) -> bool:
    return _change(
        connection,
        conversation_id,
        last_relay_at=when,
        relay_count=support_conversations.c.relay_count + 1,
    )


def evidence(connection: Connection, *, provider: str) -> dict[str, bool]:
    """Whether a conversation of `provider` was opened there, and a reply relayed back."""
    table = support_conversations
    mine = table.c.provider == provider
    opened = select(table.c.id).where(mine, table.c.provider_conversation_id.is_not(None))
    relayed = select(table.c.id).where(mine, table.c.last_relay_at.is_not(None))
    return {
        "support_conversation": connection.execute(opened.limit(1)).first() is not None,
        "support_round_trip": connection.execute(relayed.limit(1)).first() is not None,
    }


# --- contact tags and inbox contacts -----------------------------------------------------------


def tags_of(connection: Connection, *, phone: str) -> list[dict[str, Any]]:
    """A contact's tags, by name (MAX_CONTACT_TAGS at most)."""
    rows = connection.execute(
        select(contact_tags)
        .where(contact_tags.c.phone == phone)
        .order_by(contact_tags.c.tag)
        .limit(MAX_CONTACT_TAGS)
    ).all()
    return [{**r._mapping, "added_at": as_utc(r.added_at)} for r in rows]


def tag_count(connection: Connection, *, phone: str) -> int:
    counted = select(func.count()).select_from(contact_tags).where(contact_tags.c.phone == phone)
    return int(connection.execute(counted).scalar_one())


def add_tag(
    connection: Connection, *, phone: str, tag: str, source: TagSource, provider: str | None
) -> bool:
    """Add a normalized tag unless the contact has it (from either source); False then."""
    values = {"phone": phone, "tag": tag, "source": source.value, "provider": provider,
              "added_at": utcnow()}  # fmt: skip
    statement = dialect.insert_or_ignore(
        connection, contact_tags, key=["phone", "tag"], values=values
    ).returning(contact_tags.c.tag)
    return connection.execute(statement).first() is not None


def remove_tag(connection: Connection, *, phone: str, tag: str) -> bool:
    result = connection.execute(
        delete(contact_tags).where(contact_tags.c.phone == phone, contact_tags.c.tag == tag)
    )
    return bool(result.rowcount)


def remember_contact(
    connection: Connection, *, provider: str, provider_contact_id: str, phone: str
) -> None:
    """The inbox's contact id of a phone (the newest phone wins)."""
    values = {"provider": provider, "provider_contact_id": provider_contact_id, "phone": phone,
              "updated_at": utcnow()}  # fmt: skip
    connection.execute(
        dialect.upsert(
            connection,
            support_contacts,
            key=["provider", "provider_contact_id"],
            values=values,
            changes=lambda new: {"phone": new.phone, "updated_at": new.updated_at},
        )
    )


def phone_of_contact(
    connection: Connection, *, provider: str, provider_contact_id: str
) -> str | None:
    found = connection.execute(
        select(support_contacts.c.phone).where(
            support_contacts.c.provider == provider,
            support_contacts.c.provider_contact_id == provider_contact_id,
        )
    ).scalar_one_or_none()
    return None if found is None else str(found)
