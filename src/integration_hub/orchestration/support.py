"""The support handler: the inbox's events (`support.*`, mapped by the inbox's package) on the
hub's conversations and contacts.

The conversation is the hub's row of the delivering inbox (the event's partner) with the
inbox's conversation id, else the one whose hub id the inbox carried back
(`hub_escalation_id`). The phone is the event's contact phone, else the one the hub learned
for the inbox's contact id (support_contacts), else the conversation's.

- conversation_closed: the row is closed and its workflow gets `closed`;
- assignee_changed: the row's assignee;
- conversation_opened / message_received: the row's last_message_at (activity keeps it from
  going idle);
- tag_added: the tag joins the contact's tags (source `inbox`: never pushed back, so no echo)
  of a phone the hub knows (a contact, a conversation or an inbox contact id: no contact is
  made for a tag),
  unless it is on a conversation and one the hub puts on conversations itself ("escalation",
  "cleaner", a rule's tag: `escalation.conversation_tags`): that is the inbox echoing the
  hub's own tag, which says nothing about the contact;
- message_sent (an agent's public reply): relayed to the person on the conversation's phone
  and channel, through the messaging partner's send workflow queued on the outbox, its message
  id derived from the event's id (a replay relays nothing twice); the row's last_message_at
  moves, so the person's answer within the idle time goes to the conversation (an idle one
  is open again, under a new run of its workflow: `workflow_id_of`);
  `hub_support_relays_total` counts it when the handler's transaction commits.
Events about conversations the hub did not open change nothing (Skipped). Details name the
conversation, never a phone, a tag's contact or a message body.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import event as sql_events

from integration_hub.connectors.messaging import (
    MAX_BODY,
    OutboundMessage,
    send_workflow,
    send_workflow_id,
)
from integration_hub.metrics import SUPPORT_RELAYS
from integration_hub.orchestration.outbox import Outbox
from integration_hub.orchestration.outcomes import HandlerOutcome, Skipped
from integration_hub.orchestration.support_conversation import (
    WORKFLOW,
    Closed,
    ConversationStart,
    workflow_id_of,
)
from integration_hub.storage import contact_tags as tag_rows
from integration_hub.storage import contacts
from integration_hub.storage import support as rows
from integration_hub.storage.tables import MAX_CONTACT_TAGS

SUPPORT_EVENT_TYPES = frozenset(
    f"support.{kind}"
    for kind in ("conversation_opened", "message_received", "message_sent",
                 "conversation_closed", "tag_added", "assignee_changed")
)  # fmt: skip
MAX_ASSIGNEE = 128


def relay_id_for(event_id: str) -> str:
    return rows.RELAY_PREFIX + hashlib.sha256(event_id.encode()).hexdigest()[:24]


def _phone(connection: Connection, provider: str, data: dict[str, Any], found: Any) -> str | None:
    contact = data["contact"]
    if contact.get("phone"):
        return str(contact["phone"])
    if contact.get("id"):
        known = tag_rows.phone_of_contact(
            connection, provider=provider, provider_contact_id=str(contact["id"])
        )
        if known is not None:
            return known
    return None if found is None else str(found["phone"])


def _known(connection: Connection, provider: str, phone: str, found: Any) -> bool:
    """A phone the hub has a contact, a conversation or an inbox contact id for."""
    return (
        (found is not None and found["phone"] == phone)
        or contacts.get_contact(connection, phone=phone) is not None
        or tag_rows.contact_of_phone(connection, provider=provider, phone=phone) is not None
    )


def _tag_added(
    connection: Connection, provider: str, data: dict[str, Any], found: Any,
    hub_applied: frozenset[str],
) -> HandlerOutcome:  # fmt: skip
    tag = tag_rows.normalize_tag(str(data["tag"]))
    if tag is None:
        return Skipped("bad_tag: the tag has no usable characters")
    if data["target"] == "conversation" and tag in hub_applied:
        return Skipped(f"hub_tag: {tag} is one the hub puts on its conversations")
    phone = _phone(connection, provider, data, found)
    if phone is None:
        return Skipped("no_phone: the inbox contact has no phone the hub knows")
    if not _known(connection, provider, phone, found):
        # An inbox holds people the hub never wrote to: a tag makes no hub contact (one
        # would be opted in to messages nobody agreed to).
        return Skipped("unknown_contact: the hub knows no contact with the inbox contact's phone")
    if data["contact"].get("id"):
        tag_rows.remember_contact(connection, provider=provider, phone=phone,
                              provider_contact_id=str(data["contact"]["id"]))  # fmt: skip
    if tag_rows.tag_count(connection, phone=phone) >= MAX_CONTACT_TAGS:
        return Skipped(f"too_many_tags: the contact has {MAX_CONTACT_TAGS} tags")
    added = tag_rows.add_tag(
        connection, phone=phone, tag=tag, source=tag_rows.TagSource.INBOX, provider=provider
    )
    where = f"conversation {found['id']}" if found else "an inbox contact"
    return f"tag {tag} {'added' if added else 'already present'} on the contact of {where}"


def _relay(
    connection: Connection, event: dict[str, Any], found: dict[str, Any], outbox: Outbox,
    messaging: str | None, idle: timedelta, now: datetime,
) -> HandlerOutcome:  # fmt: skip
    if messaging is None:
        return Skipped("no_messaging_partner: nothing can relay the reply")
    body = str(event["data"]["body"]).strip()
    if not body:
        return Skipped(f"empty_reply: conversation {found['id']}")
    message_id = relay_id_for(event["id"])
    message = OutboundMessage(message_id, found["phone"], found["channel"], body[:MAX_BODY])
    queued = outbox.start(
        connection, workflow=send_workflow(messaging), dedup=event["id"], input=message,
        workflow_id=send_workflow_id(messaging, message_id),
    )  # fmt: skip
    if not queued:
        return f"reply {message_id} of conversation {found['id']} relayed already"
    rows.record_relay(connection, conversation_id=found["id"], when=now)
    # Counted when the handler's transaction commits: a run that rolls back (and is retried)
    # counts its relay once, as the escalation metric counts after its write.
    provider = found["provider"]
    sql_events.listen(connection, "commit", lambda _: SUPPORT_RELAYS.labels(provider).inc(),
                      once=True)  # fmt: skip
    # The person's answer to the reply is part of this conversation: it stays active (and
    # takes the person's next messages, matching or not) for the idle time from here.
    if found["status"] == rows.ConversationStatus.IDLE:
        return _resume(connection, event, found, outbox, idle, now, message_id)
    rows.touch(connection, conversation_id=found["id"], when=now)
    return f"reply {message_id} of conversation {found['id']} relayed"


def _resume(
    connection: Connection, event: dict[str, Any], found: dict[str, Any], outbox: Outbox,
    idle: timedelta, now: datetime, message_id: str,
) -> HandlerOutcome:  # fmt: skip
    """An agent replied to an idle conversation: it is open again, under a new run of its
    workflow (no message yet: the person's answer joins the agent's thread)."""
    relayed = f"reply {message_id} of conversation {found['id']} relayed"
    if not rows.resume(connection, conversation_id=found["id"], when=now):
        return relayed
    resumed = rows.get_conversation(connection, conversation_id=found["id"])
    assert resumed is not None  # resumed in this transaction
    start = ConversationStart(
        conversation_id=found["id"], provider=found["provider"], phone=found["phone"],
        name=None, language=found["language"], channel=found["channel"],
        idle_seconds=idle.total_seconds(), messages=(), reasons=tuple(found["reasons"]),
        provider_conversation_id=found["provider_conversation_id"],
        provider_contact_id=found["provider_contact_id"],
    )  # fmt: skip
    outbox.start(connection, workflow=WORKFLOW, workflow_id=workflow_id_of(resumed),
                 dedup=event["id"], input=start)  # fmt: skip
    return f"{relayed}; reopened"


def apply_event(
    connection: Connection,
    event: dict[str, Any],
    *,
    outbox: Outbox,
    messaging: str | None,
    hub_applied: frozenset[str],
    idle: timedelta,
    now: datetime,
) -> HandlerOutcome:
    """`hub_applied`: the tags the hub puts on the conversations it opens
    (`escalation.conversation_tags`); `idle`: HUB_SUPPORT_IDLE_HOURS (a resumed run's)."""
    provider, data, kind = event["partner"], event["data"], event["type"].removeprefix("support.")
    found = rows.conversation_of(
        connection,
        provider=provider,
        provider_conversation_id=data.get("conversation_id"),
        conversation_id=data.get("hub_escalation_id"),
    )
    if kind == "tag_added":
        return _tag_added(connection, provider, data, found, hub_applied)
    if found is None:
        return Skipped("not_a_hub_conversation: the hub did not open this conversation")
    if kind == "message_sent":
        return _relay(connection, event, found, outbox, messaging, idle, now)
    if kind == "conversation_closed":
        if not rows.mark_closed(connection, conversation_id=found["id"]):
            return Skipped(f"closed_already: conversation {found['id']} is {found['status']}")
        if found["status"] in rows.ACTIVE:  # an idle one's workflow has ended
            outbox.signal(connection, workflow_id=workflow_id_of(found), signal="closed",
                          dedup=event["id"], input=Closed(reason="closed in the inbox"))  # fmt: skip
        return f"conversation {found['id']} closed"
    if kind == "assignee_changed":
        assignee = data.get("assignee") or {}
        shown = assignee.get("name") or assignee.get("id")
        rows.set_assignee(connection, conversation_id=found["id"],
                          assignee=str(shown)[:MAX_ASSIGNEE] if shown else None)  # fmt: skip
        return f"conversation {found['id']} " + ("assigned" if shown else "unassigned")
    rows.touch(connection, conversation_id=found["id"], when=now)
    return f"conversation {found['id']}: {kind.replace('_', ' ')}"
