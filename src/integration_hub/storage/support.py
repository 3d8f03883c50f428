"""support_conversations: the queries. Which event opens, feeds or ends a conversation is
orchestration/escalation.py's and support.py's; every status change here is a compare-and-set,
so a retried activity or a replayed event changes nothing twice. Contacts' tags and the
inbox's contact ids are storage/contact_tags.py's."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, case, select, update

from integration_hub.storage import dialect
from integration_hub.storage.rows import as_utc, utcnow
from integration_hub.storage.tables import (
    MAX_REASONS,
    outbound_messages,
    support_conversations,
    support_messages,
)

MAX_ERROR = 255
# The hub's id of a relayed reply (orchestration/support.py), which is also the id its send
# is recorded under in outbound_messages.
RELAY_PREFIX = "rly_"
_TIMES = ("opened_at", "last_message_at", "closed_at", "last_relay_at", "created_at", "updated_at")


class ConversationStatus(StrEnum):
    OPENING = "opening"  # the row is made; its workflow asks the inbox to open it
    OPEN = "open"
    CLOSED = "closed"  # closed in the inbox
    IDLE = "idle"  # no message for HUB_SUPPORT_IDLE_HOURS: the next one opens anew
    FAILED = "failed"  # the inbox did not open it; `last_error` says why


ACTIVE: tuple[str, ...] = (ConversationStatus.OPENING, ConversationStatus.OPEN)


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


def phone_lock(phone: str) -> str:
    """The key (dialect.serialize_on) that serializes one phone's conversation changes: the
    escalation handler's queueing and the workflow's idle write."""
    return f"support:{phone}"


def phone_of(connection: Connection, *, conversation_id: str) -> str | None:
    return connection.execute(
        select(support_conversations.c.phone).where(support_conversations.c.id == conversation_id)
    ).scalar_one_or_none()


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
    the inbox carried back (of that provider only), if that row has no inbox id yet, the
    event's, or the event names no inbox conversation. A row open as another inbox
    conversation is not this one: the hub's id can be carried into a conversation the hub did
    not open (an agent's merge or copy), and its agents' replies must not reach the row's
    person."""
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
        known = None if row is None else row.provider_conversation_id
        if known is not None and provider_conversation_id and known != provider_conversation_id:
            return None
        if row is not None:
            return _out(row)
    return None


def message_recorded(connection: Connection, *, message_id: str) -> bool:
    """Whether a conversation took this inbound message already (a replayed event)."""
    found = select(support_messages.c.message_id).where(support_messages.c.message_id == message_id)
    return connection.execute(found).first() is not None


def record_message(
    connection: Connection, *, message_id: str, conversation_id: str, when: datetime
) -> bool:
    """The conversation took this inbound message; False when one took it already (a
    replayed event)."""
    values = {"message_id": message_id, "conversation_id": conversation_id, "created_at": when}
    statement = dialect.insert_or_ignore(
        connection, support_messages, key=["message_id"], values=values
    ).returning(support_messages.c.message_id)
    return connection.execute(statement).first() is not None


def _change(connection: Connection, conversation_id: str, *where: Any, **values: Any) -> bool:
    values.setdefault("updated_at", utcnow())
    result = connection.execute(
        update(support_conversations)
        .where(support_conversations.c.id == conversation_id, *where)
        .values(values)
    )
    return bool(result.rowcount)


def touch(connection: Connection, *, conversation_id: str, when: datetime) -> bool:
    """A message came (from the person or in the inbox) to an opening or open row:
    `last_message_at` moves forward (never back). False when the row is not active any more
    (closed or idled meanwhile: a message for it must go elsewhere)."""
    column = support_conversations.c.last_message_at
    newest = case((column.is_(None) | (column < when), when), else_=column)
    return _change(connection, conversation_id, support_conversations.c.status.in_(ACTIVE),
                   last_message_at=newest)  # fmt: skip


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


def move_conversation(connection: Connection, *, conversation_id: str, old: str, new: str) -> bool:
    """The inbox answered with a new conversation id (it re-made one it lost): the row takes
    it, if it still has `old` (a compare-and-set: a retried activity changes nothing twice)."""
    return _change(
        connection,
        conversation_id,
        support_conversations.c.provider_conversation_id == old,
        provider_conversation_id=new,
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


def mark_idle(
    connection: Connection,
    *,
    conversation_id: str,
    cutoff: datetime,
    statuses: tuple[str, ...] = ACTIVE,
) -> bool:
    """opening/open (or only `statuses`) -> idle, unless the row had a message or inbox
    activity after `cutoff` (the moment its workflow began to wait): a newer message's signal
    is on its way, or the conversation is still alive."""
    column = support_conversations.c.last_message_at
    return _change(
        connection,
        conversation_id,
        support_conversations.c.status.in_(statuses),
        column.is_(None) | (column <= cutoff),
        status=ConversationStatus.IDLE.value,
        closed_at=utcnow(),
    )


def resume(connection: Connection, *, conversation_id: str, when: datetime) -> bool:
    """idle -> open (an agent replied: the person's answer belongs to that conversation),
    counting the resume; False when it is not idle (a replayed reply)."""
    return _change(
        connection,
        conversation_id,
        support_conversations.c.status == ConversationStatus.IDLE.value,
        status=ConversationStatus.OPEN.value,
        resumes=support_conversations.c.resumes + 1,
        last_message_at=when,
        closed_at=None,
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
    """Whether a conversation of `provider` was opened there, and a reply relayed back: one
    its conversations recorded whose send the messaging partner confirmed (outbound_messages
    `sent`; a refused or unknown send is no round trip). The send is matched by the phone and
    time, as the row keeps no relay ids: any confirmed relay to that phone since the
    conversation began counts."""
    table = support_conversations
    mine = table.c.provider == provider
    opened = select(table.c.id).where(mine, table.c.provider_conversation_id.is_not(None))
    sent = select(outbound_messages.c.message_id).where(
        outbound_messages.c.to_address == table.c.phone,
        outbound_messages.c.message_id.like(f"{RELAY_PREFIX}%"),
        outbound_messages.c.state == "sent",
        outbound_messages.c.created_at >= table.c.created_at,
    )
    relayed = select(table.c.id).where(mine, table.c.last_relay_at.is_not(None), sent.exists())
    return {
        "support_conversation": connection.execute(opened.limit(1)).first() is not None,
        "support_round_trip": connection.execute(relayed.limit(1)).first() is not None,
    }
