"""The support conversation workflow (`support.conversation/{id}`, started once through the
outbox by the escalation handler with the message that opened it; an agent's reply to an idle
one starts it again as `.../r<resumes>`). Its writes are support_records.py's.

It runs the configured inbox's `escalate` activity by the agreed name
(connectors/support_inbox.py): the first message opens the conversation in the inbox, and the
row goes opening -> open with the inbox's ids (a compare-and-set). Then it waits for `message`
signals (the same person's next messages, queued by the handler: each escalated in order into
the same conversation, once per message id; an inbox that answers with another conversation
id, having re-made one it lost, moves the row to it), a `closed` signal (the inbox closed it: the
support handler closed the row already), or the idle timeout (HUB_SUPPORT_IDLE_HOURS since the
last message: the row goes idle, so the person's next matching message opens a new one). An
open the inbox refused, or that still failed after the idle time of retries (an outage of
minutes or hours only delays it), makes the row `failed` with the reason; a later message that
fails is kept as the row's `last_error` and the conversation goes on. Messages queued to a
conversation whose open then fails are not escalated (they are not carried to another
conversation: by then they are at least the idle time old): the row says `failed`, and the
person's next matching message opens a new one.
After MESSAGES_PER_RUN messages it continues as new, carrying what it must not forget (the
inbox's ids, the message ids already escalated, messages still waiting), so its history stays
bounded however long a conversation runs.

The idle timer and a new message can race: the handler moves `last_message_at` forward in the
transaction that queues the signal, and the idle write only takes a row whose
`last_message_at` is no newer than the cutoff (the timer's end less the idle time, i.e. the
moment the workflow began to wait); otherwise a message is on its way, or the inbox showed
activity (its own echo of the opening message, an agent's reply relayed), and the workflow
waits again. The cutoff, not the newest message the workflow handled, is what is compared:
the inbox's events move `last_message_at` too, and a row they touched must still go idle once
it has been quiet for the idle time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from integration_hub.connectors.outbound import CALL_RETRY, CALL_TIMEOUT, failure_detail
    from integration_hub.connectors.support_inbox import (
        MAX_BODY,
        EscalationContext,
        EscalationRequest,
        InboxConversation,
        support_activity,
    )
    from integration_hub.orchestration.support_records import (
        FailedRecord,
        IdleOutcome,
        IdleRecord,
        MovedRecord,
        OpenedRecord,
        SupportActivities,
    )

WORKFLOW = "support.conversation"
MESSAGES_PER_RUN = 100
MAX_SEEN = 200  # message ids remembered across continue-as-new (the outbox dedups older ones)
RECORD_TIMEOUT = timedelta(seconds=30)
OPEN_RETRY = replace(CALL_RETRY, maximum_attempts=0)  # unlimited, bounded by the idle time


def workflow_id(conversation_id: str) -> str:
    return f"{WORKFLOW}/{conversation_id}"


def workflow_id_of(conversation: Mapping[str, Any]) -> str:
    """The workflow of a conversation's row as it is now: each resume (an agent's reply to it
    once idle) runs anew under its own id, as the outbox never starts an id twice."""
    resumes = conversation.get("resumes") or 0
    base = workflow_id(str(conversation["id"]))
    return f"{base}/r{resumes}" if resumes else base


@dataclass(frozen=True)
class ConversationMessage:
    message_id: str  # stable: from the inbound event's id
    body: str
    received_at: str  # ISO 8601: the row's last_message_at the handler wrote with it


@dataclass(frozen=True)
class ConversationStart:
    conversation_id: str
    provider: str
    phone: str
    name: str | None
    language: str
    channel: str
    idle_seconds: float
    messages: tuple[ConversationMessage, ...]  # the first one (or those a new run carries)
    reasons: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    context: EscalationContext = field(default_factory=EscalationContext)
    provider_conversation_id: str | None = None
    seen: tuple[str, ...] = ()  # message ids escalated already
    # The inbox contact the hub knows for the phone (support_contacts), then the one the
    # inbox answered with: sent first, so an inbox whose search lags makes no second one.
    provider_contact_id: str | None = None
    messages_per_run: int = MESSAGES_PER_RUN


@dataclass(frozen=True)
class Closed:
    reason: str = ""


@workflow.defn(name=WORKFLOW)
class SupportConversationWorkflow:
    def __init__(self) -> None:
        self._pending: list[ConversationMessage] = []
        self._closed: str | None = None

    @workflow.signal(name="message")
    def message(self, message: ConversationMessage) -> None:
        self._pending.append(message)

    @workflow.signal(name="closed")
    def closed(self, closed: Closed) -> None:
        self._closed = closed.reason or "closed"

    @workflow.query(name="state")
    def state(self) -> dict[str, Any]:
        return {"pending": len(self._pending), "closed": self._closed}

    async def _escalate(
        self, start: ConversationStart, message: ConversationMessage, into: str | None,
        contact: str | None,
    ) -> InboxConversation:  # fmt: skip
        request = EscalationRequest(
            escalation_id=start.conversation_id,
            message_id=message.message_id,
            phone=start.phone,
            name=start.name,
            language=start.language,
            channel=start.channel,
            body=message.body[:MAX_BODY],
            reasons=start.reasons,
            tags=start.tags,
            context=start.context,
            provider_conversation_id=into,
            provider_contact_id=contact,
        )
        # The open retries (a refusal aside) for as long as the conversation would stay
        # active, so an inbox outage delays it rather than failing it and the messages
        # queued behind it; a later message keeps the usual bounded retries.
        opening = into is None
        made: InboxConversation = await workflow.execute_activity(
            support_activity(start.provider, "escalate"),
            request,
            result_type=InboxConversation,
            start_to_close_timeout=CALL_TIMEOUT,
            schedule_to_close_timeout=(
                max(timedelta(seconds=start.idle_seconds), CALL_TIMEOUT) if opening else None
            ),
            retry_policy=OPEN_RETRY if opening else CALL_RETRY,
        )
        return made

    async def _record_failed(self, start: ConversationStart, error: str, opening: bool) -> None:
        await workflow.execute_activity_method(
            SupportActivities.record_failed,
            FailedRecord(start.conversation_id, start.provider, error, opening),
            start_to_close_timeout=RECORD_TIMEOUT,
        )

    @workflow.run
    async def run(self, start: ConversationStart) -> str:
        # Signals may have come with the start; the carried messages were queued before them.
        self._pending[:0] = start.messages
        into, seen = start.provider_conversation_id, list(start.seen)
        contact = start.provider_contact_id
        handled = 0
        while True:
            while self._pending and not self._closed and handled < start.messages_per_run:
                message = self._pending.pop(0)
                if message.message_id in seen:
                    continue  # one message, queued twice (a replayed event): escalated once
                try:
                    made = await self._escalate(start, message, into, contact)
                except ActivityError as error:
                    if into is None:
                        await self._record_failed(start, failure_detail(error), opening=True)
                        return "failed"
                    await self._record_failed(start, failure_detail(error), opening=False)
                else:
                    contact = made.provider_contact_id
                    if into is None:
                        into = made.provider_conversation_id
                        await workflow.execute_activity_method(
                            SupportActivities.record_opened,
                            OpenedRecord(start.conversation_id, start.provider, start.phone,
                                         into, made.provider_contact_id),
                            start_to_close_timeout=RECORD_TIMEOUT,
                        )  # fmt: skip
                    elif made.provider_conversation_id != into:
                        # The inbox lost the conversation (a 404) and made it anew: the
                        # next messages and the inbox's events about it use the new id.
                        old, into = into, made.provider_conversation_id
                        await workflow.execute_activity_method(
                            SupportActivities.record_moved,
                            MovedRecord(start.conversation_id, start.provider, old, into),
                            start_to_close_timeout=RECORD_TIMEOUT,
                        )
                seen = [*seen, message.message_id][-MAX_SEEN:]
                handled += 1
            if self._closed:
                return "closed"
            if handled >= start.messages_per_run:
                workflow.continue_as_new(
                    replace(start, messages=tuple(self._pending), provider_conversation_id=into,
                            seen=tuple(seen), provider_contact_id=contact)
                )  # fmt: skip
            try:
                await workflow.wait_condition(
                    lambda: bool(self._pending or self._closed),
                    timeout=timedelta(seconds=start.idle_seconds),
                )
            except TimeoutError:
                cutoff = workflow.now() - timedelta(seconds=start.idle_seconds)
                outcome: IdleOutcome = await workflow.execute_activity_method(
                    SupportActivities.record_idle,
                    IdleRecord(start.conversation_id, cutoff.isoformat(), start.phone),
                    start_to_close_timeout=RECORD_TIMEOUT,
                )
                if outcome.idled or not outcome.active:
                    return "idle" if outcome.idled else "ended"
                # A newer message's signal is on its way: wait for it (or idle again).
