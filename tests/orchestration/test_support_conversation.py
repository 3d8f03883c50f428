"""The support.conversation and support.sync_tags workflows end to end on the session's
Temporal dev server, with the escalation and support handlers queueing through the real
outbox sender, against a test inbox: activities registered under the agreed names
(`support_activity("testinbox", ...)`) that record every call and keep what a real inbox
keeps (one conversation per escalation id, one message per message id)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from integration_hub.connectors.support_inbox import (
    ContactTagsRequest,
    EscalationRequest,
    InboxContact,
    InboxConversation,
    support_activity,
)
from integration_hub.orchestration import escalation, support
from integration_hub.orchestration.escalation_rules import load_rules
from integration_hub.orchestration.outbox import Outbox
from integration_hub.orchestration.support_conversation import (
    ConversationMessage,
    ConversationStart,
    SupportConversationWorkflow,
    workflow_id,
)
from integration_hub.orchestration.support_records import SupportActivities
from integration_hub.orchestration.support_tags import (
    TagSync,
    TagSyncActivities,
    TagSyncWorkflow,
    queue_tag_sync,
)
from integration_hub.orchestration.worker import workflow_runner
from integration_hub.pipeline.outbox import OutboxSender
from integration_hub.storage import contact_tags as tag_rows
from integration_hub.storage import support as rows
from integration_hub.storage.engine import begin_write
from integration_hub.storage.rows import utcnow
from tests.helpers import wait_until

INBOX = "testinbox"
PHONE = "+13055550123"
RULES = load_rules()


@dataclass
class FakeInbox:
    """The test inbox: what it was asked, and what it holds."""

    calls: list[EscalationRequest] = field(default_factory=list)
    conversations: dict[str, str] = field(default_factory=dict)  # escalation id -> its id
    messages: list[str] = field(default_factory=list)  # message ids, once each
    tag_calls: list[ContactTagsRequest] = field(default_factory=list)
    lose_answer_once: set[str] = field(default_factory=set)  # message ids
    refuse: set[str] = field(default_factory=set)  # bodies
    moved: dict[str, str] = field(default_factory=dict)  # a lost conversation id -> its new one

    @activity.defn(name=support_activity(INBOX, "escalate"))
    async def escalate(self, request: EscalationRequest) -> InboxConversation:
        self.calls.append(request)
        if request.body in self.refuse:
            raise ApplicationError("the inbox refused", type="CallRefused", non_retryable=True)
        into = request.provider_conversation_id or self.conversations.setdefault(
            request.escalation_id, f"conv_{len(self.conversations) + 1}"
        )
        into = self.moved.get(into, into)  # lost (a 404): made anew, as Front's re-import does
        if request.message_id not in self.messages:
            self.messages.append(request.message_id)
        if request.message_id in self.lose_answer_once:  # done, but the answer never came
            self.lose_answer_once.discard(request.message_id)
            raise ApplicationError("connection reset", type="CallFailed")
        return InboxConversation(into, "ct_1")

    @activity.defn(name=support_activity(INBOX, "sync_tags"))
    async def sync_tags(self, request: ContactTagsRequest) -> InboxContact:
        self.tag_calls.append(request)
        return InboxContact("ct_7")


@dataclass
class Hub:
    engine: Engine
    client: Client
    inbox: FakeInbox
    sender: OutboxSender
    queue: str

    def message(self, body: str, *, idle: timedelta = timedelta(hours=72)) -> tuple[str, Any]:
        """An inbound message through the escalation handler: (its event id, the outcome)."""
        event_id = f"ev-{uuid.uuid4().hex}"
        event = {"id": event_id, "partner": "sms", "type": "message.received",
                 "data": {"message_sid": "SM1", "account_sid": "AC1", "channel": "sms",
                          "from": PHONE, "to": "+1", "body": body, "media_urls": [],
                          "profile_name": "Ana", "locale_hint": "en"}}  # fmt: skip
        with begin_write(self.engine) as connection:
            outcome = escalation.apply_event(connection, event, provider=INBOX, rules=RULES,
                                             idle=idle, outbox=Outbox(), now=utcnow())  # fmt: skip
        return event_id, outcome

    def inbox_event(
        self, kind: str, conversation: str, *, idle: timedelta = timedelta(hours=72), **data: Any
    ) -> Any:
        event = {"id": f"sp-{uuid.uuid4().hex}", "partner": INBOX, "type": f"support.{kind}",
                 "data": {"provider_event_id": "p", "conversation_id": None,
                          "contact": {"id": None, "phone": None, "email": None, "name": None},
                          "hub_escalation_id": conversation, **data}}  # fmt: skip
        with begin_write(self.engine) as connection:
            return support.apply_event(connection, event, outbox=Outbox(), messaging="sms",
                                       hub_applied=escalation.conversation_tags(RULES),
                                       idle=idle, now=utcnow())  # fmt: skip

    async def inbox_event_closes(self, conversation: str) -> None:
        """The inbox closes the conversation; its workflow has ended when this returns."""
        self.inbox_event("conversation_closed", conversation, closed_by=None)
        await self.send()
        await self.client.get_workflow_handle(workflow_id(conversation)).result()

    async def send(self) -> int:
        return await self.sender.send_batch(self.client)

    def row(self, conversation: str) -> dict[str, Any]:
        with self.engine.connect() as connection:
            found = rows.get_conversation(connection, conversation_id=conversation)
        assert found is not None
        return found

    async def status(self, conversation: str, wanted: str) -> dict[str, Any]:
        async def probe() -> dict[str, Any]:
            return self.row(conversation)

        return await wait_until(probe, lambda r: r["status"] == wanted)

    async def opened(self, conversation: str) -> dict[str, Any]:
        """The row once the inbox opened it: it keeps the inbox's id when it goes idle, so a
        short idle time cannot slip past this as it can past a wait for `open`."""

        async def probe() -> dict[str, Any]:
            return self.row(conversation)

        return await wait_until(probe, lambda r: r["provider_conversation_id"] is not None)

    async def calls(self, count: int) -> list[EscalationRequest]:
        async def probe() -> list[EscalationRequest]:
            return list(self.inbox.calls)

        return await wait_until(probe, lambda c: len(c) >= count)


@pytest.fixture
async def hub(engine: Engine, temporal: WorkflowEnvironment) -> AsyncIterator[Hub]:
    queue, inbox = f"test-support-{uuid.uuid4().hex}", FakeInbox()
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            temporal.client,
            task_queue=queue,
            workflows=[SupportConversationWorkflow, TagSyncWorkflow],
            activities=[*SupportActivities(engine).activities(),
                        *TagSyncActivities(engine).activities(),
                        inbox.escalate, inbox.sync_tags],
            activity_executor=executor,
            workflow_runner=workflow_runner(),
        ):  # fmt: skip
            sender = OutboxSender(engine, task_queue=queue, batch_size=50)
            yield Hub(engine, temporal.client, inbox, sender, queue)


def _id(event_id: str) -> str:
    return escalation.conversation_id_for(event_id)


async def test_first_message_opens_the_next_ones_append_and_closing_ends_it(hub: Hub) -> None:
    first, _ = hub.message("I'm locked out, urgent")
    conversation = _id(first)
    await hub.send()
    opened = await hub.status(conversation, "open")
    second, outcome = hub.message("still waiting outside")
    third, _ = hub.message("the key box is empty")
    await hub.send()
    calls = await hub.calls(3)

    assert outcome == f"message queued to conversation {conversation}"
    assert (opened["provider_conversation_id"], opened["provider_contact_id"]) == ("conv_1", "ct_1")
    assert [c.provider_conversation_id for c in calls] == [None, "conv_1", "conv_1"]
    assert [c.message_id for c in calls] == [escalation.message_id_for(e)
                                             for e in (first, second, third)]  # fmt: skip
    assert {c.escalation_id for c in calls} == {conversation}
    assert calls[0].tags == ("escalation", "lockout", "urgent")
    assert calls[0].reasons == ("lockout", "urgent") and calls[0].name == "Ana"
    assert hub.inbox.conversations == {conversation: "conv_1"}  # one open, not two
    with hub.engine.connect() as connection:
        known = tag_rows.phone_of_contact(connection, provider=INBOX, provider_contact_id="ct_1")
    assert known == PHONE

    # The same message queued twice (two dedup keys) is escalated once.
    handle = hub.client.get_workflow_handle(workflow_id(conversation))
    again = ConversationMessage(escalation.message_id_for(third), "the key box is empty", "x")
    await handle.signal("message", again)
    assert hub.inbox_event("conversation_closed", conversation, closed_by=None) == (
        f"conversation {conversation} closed")  # fmt: skip
    await hub.send()

    assert await handle.result() == "closed"
    assert len(hub.inbox.calls) == 3
    assert hub.row(conversation)["status"] == "closed"


async def test_a_conversation_the_inbox_made_anew_is_recorded_and_followed(hub: Hub) -> None:
    first, _ = hub.message("I'm locked out")
    conversation = _id(first)
    await hub.send()
    await hub.status(conversation, "open")
    hub.inbox.moved["conv_1"] = "conv_9"
    hub.message("still outside")
    await hub.send()
    await hub.calls(2)

    async def probe() -> dict[str, Any]:
        return hub.row(conversation)

    moved = await wait_until(probe, lambda r: r["provider_conversation_id"] == "conv_9")
    hub.message("hello?")
    await hub.send()
    calls = await hub.calls(3)

    assert moved["status"] == "open"
    assert [c.provider_conversation_id for c in calls] == [None, "conv_1", "conv_9"]
    # The inbox's events about the new conversation find the row.
    with hub.engine.connect() as connection:
        found = rows.conversation_of(connection, provider=INBOX, provider_conversation_id="conv_9",
                                     conversation_id=None)  # fmt: skip
    assert found is not None and found["id"] == conversation
    await hub.inbox_event_closes(conversation)


async def test_the_inbox_contact_the_hub_knows_is_sent_first(hub: Hub) -> None:
    with begin_write(hub.engine) as connection:
        tag_rows.remember_contact(connection, provider=INBOX, provider_contact_id="ct_5",
                                  phone=PHONE)  # fmt: skip
    first, _ = hub.message("I'm locked out")
    await hub.send()
    await hub.status(_id(first), "open")
    hub.message("still outside")
    await hub.send()
    calls = await hub.calls(2)

    # The known one first; then the one the inbox answered with (it knows best).
    assert [c.provider_contact_id for c in calls] == ["ct_5", "ct_1"]
    await hub.inbox_event_closes(_id(first))


async def test_a_retried_escalation_opens_one_conversation(hub: Hub) -> None:
    first, _ = hub.message("water leak!")
    hub.inbox.lose_answer_once.add(escalation.message_id_for(first))
    await hub.send()
    await hub.status(_id(first), "open")

    retried, opened = hub.inbox.calls
    assert retried == opened  # the same escalation and message ids: the inbox dedups
    assert len(hub.inbox.conversations) == 1 and len(hub.inbox.messages) == 1


def _escalations(outcome: str) -> float:
    labels = {"provider": INBOX, "outcome": outcome}
    return REGISTRY.get_sample_value("hub_support_escalations_total", labels) or 0.0


async def test_a_refused_open_fails_and_the_next_match_opens_anew(hub: Hub) -> None:
    failed_before, opened_before = _escalations("failed"), _escalations("opened")
    hub.inbox.refuse.add("emergency")
    first, _ = hub.message("emergency")
    await hub.send()
    failed = await hub.status(_id(first), "failed")
    second, outcome = hub.message("EMERGENCY please")
    await hub.send()
    await hub.status(_id(second), "open")

    assert failed["last_error"] == "CallRefused: the inbox refused"
    assert outcome == f"conversation {_id(second)} opening (urgent)"
    assert await hub.client.get_workflow_handle(workflow_id(_id(first))).result() == "failed"
    assert _escalations("failed") == failed_before + 1
    assert _escalations("opened") == opened_before + 1


async def test_an_idle_conversation_lets_the_next_message_open_anew(hub: Hub) -> None:
    idle = timedelta(seconds=1)
    first, _ = hub.message("broken window", idle=idle)
    await hub.send()
    await hub.status(_id(first), "idle")
    second, outcome = hub.message("broken door too", idle=idle)
    await hub.send()
    await hub.opened(_id(second))

    assert outcome == f"conversation {_id(second)} opening (damage)"
    assert await hub.client.get_workflow_handle(workflow_id(_id(first))).result() == "idle"
    assert [c.provider_conversation_id for c in hub.inbox.calls] == [None, None]
    assert len(hub.inbox.conversations) == 2


async def test_an_agents_reply_to_an_idle_conversation_brings_the_answer_back_to_it(
    hub: Hub,
) -> None:
    idle = timedelta(seconds=1)
    first, _ = hub.message("broken window", idle=idle)
    conversation = _id(first)
    await hub.send()
    await hub.status(conversation, "idle")
    replied = hub.inbox_event("message_sent", conversation, message_id="m1", body="On my way",
                              author={"id": "ag_1", "name": "Ana"})  # fmt: skip
    answer, outcome = hub.message("thanks!")  # matches no rule: it goes to the conversation
    await hub.send()
    calls = await hub.calls(2)

    assert str(replied).endswith("relayed; reopened")
    assert outcome == f"message queued to conversation {conversation}"
    assert [(c.escalation_id, c.provider_conversation_id) for c in calls] == [
        (conversation, None), (conversation, "conv_1")]  # fmt: skip
    assert calls[1].message_id == escalation.message_id_for(answer)
    resumed = hub.client.get_workflow_handle(f"{workflow_id(conversation)}/r1")
    hub.inbox_event("conversation_closed", conversation, closed_by=None)
    await hub.send()
    assert await resumed.result() == "closed"


async def test_hub_tags_are_pushed_and_the_inbox_contact_recorded(hub: Hub) -> None:
    change = uuid.uuid4().hex
    with begin_write(hub.engine) as connection:
        for tag, source in (("vip", tag_rows.TagSource.HUB), ("late", tag_rows.TagSource.INBOX)):
            tag_rows.add_tag(connection, phone=PHONE, tag=tag, source=source, provider=INBOX)
        tag_rows.remember_contact(connection, provider=INBOX, provider_contact_id="ct_5",
                                  phone=PHONE)  # fmt: skip
        # This change removed "owner" and "vip"; "vip" was added again before the push ran.
        started = queue_tag_sync(connection, Outbox(), change_id=change,
                                 sync=TagSync(INBOX, PHONE, "Ana", remove=("owner", "vip")))  # fmt: skip
    await hub.send()

    assert await hub.client.get_workflow_handle(started).result() == "ct_7"
    assert started == f"support.sync_tags/{change}"  # no phone in a workflow id
    assert hub.inbox.tag_calls == [ContactTagsRequest(PHONE, "Ana", add=("vip",),
                                                      remove=("owner",),
                                                      provider_contact_id="ct_5")]  # fmt: skip
    with hub.engine.connect() as connection:
        assert tag_rows.phone_of_contact(connection, provider=INBOX, provider_contact_id="ct_7") == (
            PHONE)  # fmt: skip


async def test_a_long_conversation_continues_as_new_and_forgets_nothing(hub: Hub) -> None:
    conversation = f"sup_{uuid.uuid4().hex[:24]}"
    now = utcnow()
    with begin_write(hub.engine) as connection:
        rows.insert_conversation(connection, conversation_id=conversation, provider=INBOX,
                                 phone=PHONE, channel="sms", language="en", reasons=["urgent"],
                                 when=now)  # fmt: skip

    def message(n: int) -> ConversationMessage:
        return ConversationMessage(f"m{n}", f"message {n}", now.isoformat())

    # Three waiting at the start, two per run: the third goes on in the next run.
    start = ConversationStart(conversation, INBOX, PHONE, None, "en", "sms", idle_seconds=3600,
                              messages=tuple(message(n) for n in (1, 2, 3)),
                              messages_per_run=2)  # fmt: skip
    handle = await hub.client.start_workflow(
        SupportConversationWorkflow.run, start, id=workflow_id(conversation), task_queue=hub.queue
    )
    for n in (2, 4):  # m2 again after the new run began: still escalated once
        await handle.signal("message", message(n))
    await hub.calls(4)
    await handle.signal("closed", {"reason": "test over"})

    assert await handle.result() == "closed"
    assert [c.message_id for c in hub.inbox.calls] == ["m1", "m2", "m3", "m4"]
    assert [c.provider_conversation_id for c in hub.inbox.calls] == [None, *["conv_1"] * 3]
    assert (await handle.describe()).run_id != handle.first_execution_run_id
    first_run = hub.client.get_workflow_handle(
        workflow_id(conversation), run_id=handle.first_execution_run_id
    )
    escalated_first = [
        e for e in (await first_run.fetch_history()).events
        if e.activity_task_scheduled_event_attributes.activity_type.name
        == support_activity(INBOX, "escalate")
    ]  # fmt: skip
    assert len(escalated_first) == 2  # messages_per_run, however many were waiting


async def test_the_inboxs_echo_of_the_opening_message_does_not_keep_it_from_going_idle(
    hub: Hub,
) -> None:
    idle = timedelta(seconds=1)
    first, _ = hub.message("broken window", idle=idle)
    conversation = _id(first)
    await hub.send()
    await hub.opened(conversation)
    # The inbox sends back the hub's own imported message: the row's last_message_at moves.
    echoed = hub.inbox_event("message_received", conversation, message_id="x", body="b")

    assert echoed == f"conversation {conversation}: message received"
    await hub.status(conversation, "idle")
    assert await hub.client.get_workflow_handle(workflow_id(conversation)).result() == "idle"


async def test_the_open_retries_through_an_outage_and_later_messages_do_not(hub: Hub) -> None:
    idle = timedelta(hours=2)
    first, _ = hub.message("no hot water", idle=idle)
    conversation = _id(first)
    await hub.send()
    await hub.status(conversation, "open")
    hub.message("and no wifi", idle=idle)
    await hub.send()
    await hub.calls(2)
    await hub.inbox_event_closes(conversation)

    history = await hub.client.get_workflow_handle(workflow_id(conversation)).fetch_history()
    opening, later = [
        e.activity_task_scheduled_event_attributes for e in history.events
        if e.activity_task_scheduled_event_attributes.activity_type.name
        == support_activity(INBOX, "escalate")
    ]  # fmt: skip
    assert opening.retry_policy.maximum_attempts == 0  # unlimited...
    assert opening.schedule_to_close_timeout.ToTimedelta() == idle  # ...for the idle time
    assert opening.retry_policy.non_retryable_error_types == ["CallRefused"]
    assert later.retry_policy.maximum_attempts == 10
