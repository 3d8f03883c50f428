"""The escalation handler: an inbound guest or cleaner message (`message.received`) that
matches the escalation rules opens a support conversation in the configured inbox, and the
same person's next messages go to that conversation while it is open.

In one transaction, serialized per phone: with no inbox configured, nothing happens (Skipped);
an opening or open conversation of the phone that had a message within
HUB_SUPPORT_IDLE_HOURS gets the message (its `last_message_at` moves, and a `message` signal
is queued to its workflow), whether or not the message matches; an older one is marked idle
(its workflow's timer may not have fired yet) and counts as none, as does one closed meanwhile
(the queueing's compare-and-set on the status says so). The workflow's idle write takes the
same per-phone lock, so a message is never queued to a row idled under it. Otherwise a matching message
makes a row `opening` (its id from the event: a replay makes nothing twice) and queues the
start of `support.conversation/{id}` (support_conversation.py) with the message, its
reasons (the rules' names), its tags ("escalation", the rules' tags, "cleaner" for a cleaner,
the contact's tags set in the hub, source `hub`) and its context. A consent keyword alone (STOP, BAJA, ...) never
escalates: it is not a request for help. Details name the conversation, never the phone or
the message.

Every message a conversation takes is recorded by its id (support_messages), so a replayed
event (an operator's replay, a redelivery days later) never puts an old message into the
phone's current conversation: it is Skipped as `replayed`.

An agent's reply relayed to the person moves `last_message_at` too (support.py), so the
person's answer within the idle time goes to that conversation, matching or not. A conversation
closed in the inbox takes nothing more, even right after a reply: the agent ended it, a
"thanks" is not escalated, and a message that matches a rule opens a new conversation (the
inbox shows the person's history there).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from integration_hub.connectors.support_inbox import MAX_BODY, MAX_TAGS, EscalationContext
from integration_hub.connectors.text import E164
from integration_hub.orchestration.escalation_rules import EscalationRules, fold
from integration_hub.orchestration.outbox import Outbox
from integration_hub.orchestration.outcomes import HandlerOutcome, Skipped
from integration_hub.orchestration.support_conversation import (
    WORKFLOW,
    ConversationMessage,
    ConversationStart,
    workflow_id,
    workflow_id_of,
)
from integration_hub.storage import cleaners, contacts, dialect
from integration_hub.storage import contact_tags as tag_rows
from integration_hub.storage import support as rows

ESCALATION_EVENT_TYPES = frozenset({"message.received"})
ESCALATION_TAG, CLEANER_TAG = "escalation", "cleaner"
LANGUAGES = frozenset({"en", "es"})
# Consent keywords (Twilio's standard ones and their Spanish counterparts): a message that is
# only one of these is a consent change, handled by the contacts handler.
CONSENT_WORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "opt out", "revoke",
     "start", "unstop", "baja", "parar", "alto", "cancelar", "detener"}
)  # fmt: skip


def conversation_tags(rules: EscalationRules) -> frozenset[str]:
    """Every tag the hub itself puts on a conversation it opens: the inbox echoes them back as
    `support.tag_added`, and they are not the contact's tags."""
    return frozenset({ESCALATION_TAG, CLEANER_TAG, *(t for rule in rules.rules for t in rule.tags)})


def conversation_id_for(event_id: str) -> str:
    return "sup_" + hashlib.sha256(event_id.encode()).hexdigest()[:24]


def message_id_for(event_id: str) -> str:
    """The hub's id of an inbound message, stable across retries and replays."""
    return "msg_" + hashlib.sha256(event_id.encode()).hexdigest()[:24]


def _tags(*groups: Any) -> tuple[str, ...]:
    """Unique, in order, at most MAX_TAGS."""
    out: list[str] = []
    for group in groups:
        for tag in group:
            if tag not in out and len(out) < MAX_TAGS:
                out.append(tag)
    return tuple(out)


def _queue_message(
    connection: Connection, outbox: Outbox, found: dict[str, Any], message: ConversationMessage,
    dedup: str, when: datetime,
) -> HandlerOutcome | None:  # fmt: skip
    """None when the row stopped being active since it was read (closed in the inbox
    meanwhile): the message is the person's first again."""
    if rows.message_recorded(connection, message_id=message.message_id):
        # A replayed event: its message went to this or an earlier conversation already.
        return Skipped(f"replayed: a message escalated already, not queued to {found['id']}")
    if not rows.touch(connection, conversation_id=found["id"], when=when):
        return None
    rows.record_message(connection, message_id=message.message_id, conversation_id=found["id"],
                        when=when)  # fmt: skip
    outbox.signal(connection, workflow_id=workflow_id_of(found), signal="message",
                  dedup=dedup, input=message)  # fmt: skip
    return f"message queued to conversation {found['id']}"


def apply_event(
    connection: Connection,
    event: dict[str, Any],
    *,
    provider: str | None,
    rules: EscalationRules,
    idle: timedelta,
    outbox: Outbox,
    now: datetime,
) -> HandlerOutcome:
    if provider is None:
        return Skipped("support_not_configured: no support inbox is set")
    data = event["data"]
    phone, body = str(data["from"]), str(data["body"])[:MAX_BODY]
    if not E164.fullmatch(phone):
        return Skipped("not_a_phone: the sender is not an E.164 number")
    if fold(body) in CONSENT_WORDS:
        return Skipped("consent_keyword: a consent change never escalates")
    if not body.strip():
        return Skipped("empty: the message has no text")
    dialect.serialize_on(connection, key=rows.phone_lock(phone))  # and the idle write's
    message = ConversationMessage(message_id_for(event["id"]), body, now.isoformat())
    conversation_id = conversation_id_for(event["id"])
    found = rows.active_conversation(connection, phone=phone)
    if found is not None and found["id"] == conversation_id:
        return Skipped(f"opened_already: conversation {conversation_id}")  # a replayed event
    if found is not None:
        last = found["last_message_at"] or found["created_at"]
        if last >= now - idle:
            queued = _queue_message(connection, outbox, found, message, event["id"], now)
            if queued is not None:
                return queued
        else:
            # Only an open row: one still opening is its workflow's to settle (its open
            # retries for the idle time, then fails it); idling it would strand that open.
            rows.mark_idle(connection, conversation_id=found["id"], cutoff=now - idle,
                           statuses=(rows.ConversationStatus.OPEN.value,))  # fmt: skip
    matched = rules.match(body)
    if not matched:
        return Skipped("no_rule_matched: the message matches no escalation rule")
    contact = contacts.get_contact(connection, phone=phone)
    cleaner = cleaners.cleaner_by_phone(connection, phone=phone)
    # The message's own hint first, then what the hub knows of the person.
    known = cleaner["language"] if cleaner else (contact or {}).get("locale")
    language = data.get("locale_hint") or known
    language = language if language in LANGUAGES else "en"
    # Only the tags set in the hub: one mirrored from the inbox is the inbox's to apply.
    hub_tags = [t["tag"] for t in tag_rows.tags_of(connection, phone=phone)
                if t["source"] == tag_rows.TagSource.HUB]  # fmt: skip
    tags = _tags(
        [ESCALATION_TAG], (t for rule in matched for t in rule.tags),
        [CLEANER_TAG] if cleaner else [], hub_tags,
    )  # fmt: skip
    # The channel and language travel as the request's own fields, which every inbox shows:
    # a line here would show them twice.
    lines = [f"Cleaner: {cleaner['name']}"] if cleaner else []
    reasons = [rule.name for rule in matched]
    # The message first: one an earlier conversation took (a replay) must not open a row.
    if not rows.record_message(
        connection, message_id=message.message_id, conversation_id=conversation_id, when=now
    ):
        return Skipped(f"replayed: a message escalated already, not opening {conversation_id}")
    if not rows.insert_conversation(
        connection, conversation_id=conversation_id, provider=provider, phone=phone,
        channel=data["channel"], language=language, reasons=reasons, when=now,
    ):  # fmt: skip
        return Skipped(f"opened_already: conversation {conversation_id}")
    start = ConversationStart(
        conversation_id=conversation_id,
        provider=provider,
        phone=phone,
        name=cleaner["name"] if cleaner else data.get("profile_name"),
        language=language,
        channel=data["channel"],
        idle_seconds=idle.total_seconds(),
        messages=(message,),
        reasons=tuple(reasons),
        tags=tags,
        context=EscalationContext(lines=tuple(lines)),
        provider_contact_id=tag_rows.contact_of_phone(connection, provider=provider, phone=phone),
    )
    outbox.start(connection, workflow=WORKFLOW, workflow_id=workflow_id(conversation_id),
                 dedup=event["id"], input=start)  # fmt: skip
    return f"conversation {conversation_id} opening ({', '.join(reasons)})"
