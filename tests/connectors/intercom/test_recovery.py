"""A lost open found again (recovery.py, guard.py): Intercom's search lists the contact's
conversations created since the attempt, the escalation's id is checked in each first message,
a miss is looked for again while the index may lag, and a 2xx that cannot be read is an
unknown outcome. Against the stand-in (support.py), whose search matches as Intercom's does."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import Engine, update
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from integration_hub.connectors.support_inbox import (
    InboxConversation,
)
from integration_hub.orchestration.worker import workflow_runner
from integration_hub.storage import outbound_messages, tables
from integration_hub.storage.engine import begin_write
from tests.connectors.intercom.calls_setup import (
    Clock,
    build_calls,
    count,
    escalation,
)
from tests.connectors.intercom.escalation_workflow import EscalateWorkflow
from tests.connectors.intercom.support import FakeIntercom
from tests.partner_server import PartnerServer, RecordedRequest, Reply


def test_a_lost_answer_to_the_open_is_found_among_the_contacts_new_conversations(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    intercom.lose_answer_of.append(("POST", "/conversations"))
    calls = build_calls(server, engine)

    with pytest.raises(ApplicationError) as lost:
        calls.escalate(escalation())
    assert not lost.value.non_retryable
    with engine.connect() as connection:
        record = outbound_messages.get_outbound_message(
            connection, message_id=f"intercom.open/{escalation().escalation_id}"
        )
    assert record is not None and record["state"] == "unknown"

    opened = calls.escalate(escalation())

    (conversation_id,) = intercom.conversations
    assert opened.provider_conversation_id == conversation_id
    assert count(server, "POST", "/conversations") == 1
    search = next(r for r in server.requests if r.path == "/conversations/search")
    since = search.json()["query"]["value"][1]["value"]
    assert search.json() == {
        "query": {
            "operator": "AND",
            "value": [
                {"field": "contact_ids", "operator": "=", "value": opened.provider_contact_id},
                {"field": "created_at", "operator": ">", "value": since},
            ],
        },
        "pagination": {"per_page": 20},
    }
    assert since <= intercom.conversations[conversation_id]["created_at"] - 60


def test_a_lost_open_the_search_does_not_show_yet_is_looked_for_again_a_minute_later(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    intercom.lose_answer_of.append(("POST", "/conversations"))
    clock = Clock()
    calls = build_calls(server, engine, clock)
    with pytest.raises(ApplicationError):
        calls.escalate(escalation())
    intercom.unindexed.update(intercom.conversations)  # Intercom's index lags minutes

    clock.now += 5 * 60
    with pytest.raises(ApplicationError) as pending:
        calls.escalate(escalation())
    assert not pending.value.non_retryable
    assert pending.value.type == "intercom.outcome_pending"
    assert pending.value.next_retry_delay == timedelta(seconds=60)

    intercom.unindexed.clear()
    opened = calls.escalate(escalation())

    assert list(intercom.conversations) == [opened.provider_conversation_id]
    assert count(server, "POST", "/conversations") == 1


def test_a_lost_open_another_conversation_of_the_contact_is_not_taken_for(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    """The contact's other conversations since the attempt do not carry this escalation's id;
    once the search had time to show it, the lost open made nothing: it is opened anew."""
    clock = Clock()
    intercom.now = clock
    calls = build_calls(server, engine, clock)
    other = calls.escalate(escalation(escalation_id="sup_" + "b" * 32))
    intercom.lose_answer_of.append(("POST", "/conversations"))
    with pytest.raises(ApplicationError):
        calls.escalate(escalation())
    intercom.conversations = {
        other.provider_conversation_id: intercom.conversations[other.provider_conversation_id]
    }  # the lost open made nothing after all

    clock.now += 11 * 60
    opened = calls.escalate(escalation())

    assert opened.provider_conversation_id != other.provider_conversation_id
    assert set(intercom.conversations) == {
        other.provider_conversation_id,
        opened.provider_conversation_id,
    }
    assert (
        escalation().escalation_id
        in intercom.conversations[opened.provider_conversation_id]["source"]
    )


def test_an_open_lost_to_an_outage_is_made_once_the_search_lag_has_passed(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    """A 503 on open that made nothing: within the search lag a miss is looked for again
    (Intercom's index may not show it yet); past it, the conversation was never made, so it
    is opened, once, and a later retry finds the record."""
    clock = Clock()
    intercom.now = clock
    outage = [True]

    def unavailable(request: RecordedRequest) -> Reply | None:
        if (request.method, request.path) == ("POST", "/conversations") and outage:
            outage.pop()
            return Reply(503, {"type": "error.list", "errors": [{"code": "service_unavailable"}]})
        return None

    intercom.before = unavailable
    calls = build_calls(server, engine, clock)
    with pytest.raises(ApplicationError) as lost:
        calls.escalate(escalation())
    assert not lost.value.non_retryable
    clock.now += 5 * 60
    with pytest.raises(ApplicationError) as pending:
        calls.escalate(escalation())
    assert pending.value.type == "intercom.outcome_pending"

    clock.now += 6 * 60
    opened = calls.escalate(escalation())

    assert list(intercom.conversations) == [opened.provider_conversation_id]
    assert count(server, "POST", "/conversations") == 2  # the 503 and the one that opened it
    assert calls.escalate(escalation()) == opened
    assert count(server, "POST", "/conversations") == 2
    with engine.connect() as connection:
        record = outbound_messages.get_outbound_message(
            connection, message_id=f"intercom.open/{escalation().escalation_id}"
        )
    assert record is not None and record["state"] == "sent" and record["attempts"] == 2


async def test_temporal_retries_a_lost_open_and_the_retry_finds_the_conversation(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine, temporal: WorkflowEnvironment
) -> None:
    """On the session's dev server, under the shared retry policy: the first attempt's answer
    is lost (a 503 after Intercom opened it), the retry finds it among the contact's new conversations."""
    intercom.lose_answer_of.append(("POST", "/conversations"))
    calls, queue = build_calls(server, engine), f"test-{uuid.uuid4()}"

    with ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(
            temporal.client,
            task_queue=queue,
            workflows=[EscalateWorkflow],
            activities=calls.activities(),
            activity_executor=executor,
            workflow_runner=workflow_runner(),
        ):
            opened = await temporal.client.execute_workflow(
                EscalateWorkflow.run,
                escalation(),
                id=f"test.intercom/{uuid.uuid4()}",
                task_queue=queue,
                result_type=InboxConversation,
            )

    assert list(intercom.conversations) == [opened.provider_conversation_id]
    assert count(server, "POST", "/conversations") == 1
    assert count(server, "POST", "/conversations/search") == 1


@pytest.mark.parametrize("answer", [b"<html>OK</html>", b'{"type": "user_message"}'])
def test_an_open_answered_2xx_without_a_readable_id_is_found_by_the_retry(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine, answer: bytes
) -> None:
    """Intercom opened it but the answer does not say which: recorded `unknown` (not `failed`,
    which would let a retry open a second one), and the retry finds it."""
    garbled = [True]

    def garble(request: RecordedRequest) -> Reply | None:
        if request.path == "/conversations" and garbled:
            garbled.pop()
            intercom._route(request)  # Intercom opens it
            return Reply(200, answer, headers={"content-type": "application/json"})
        return None

    intercom.before = garble
    calls = build_calls(server, engine)

    with pytest.raises(ApplicationError) as lost:
        calls.escalate(escalation())
    assert not lost.value.non_retryable
    with engine.connect() as connection:
        record = outbound_messages.get_outbound_message(
            connection, message_id=f"intercom.open/{escalation().escalation_id}"
        )
    assert record is not None and record["state"] == "unknown"

    opened = calls.escalate(escalation())

    assert list(intercom.conversations) == [opened.provider_conversation_id]
    assert count(server, "POST", "/conversations") == 1


def test_an_open_made_again_whose_answer_is_lost_too_is_looked_for_not_made_a_third_time(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    """The search lag counts from the last attempt, not the first: an open made again past
    the lag whose answer is lost as well is looked for while the index may lag, never made a
    third time. (Time passes by moving the record's timestamps back, for the hub and the
    database alike.)"""
    key = f"intercom.open/{escalation().escalation_id}"
    outage = [True]

    def unavailable(request: RecordedRequest) -> Reply | None:
        if (request.method, request.path) == ("POST", "/conversations") and outage:
            outage.pop()
            return Reply(503, {"type": "error.list", "errors": [{"code": "service_unavailable"}]})
        return None

    intercom.before = unavailable
    calls = build_calls(server, engine)
    with pytest.raises(ApplicationError):
        calls.escalate(escalation())  # the outage: nothing made
    with begin_write(engine) as connection:
        record = outbound_messages.get_outbound_message(connection, message_id=key)
        assert record is not None
        connection.execute(
            update(tables.outbound_messages)
            .where(tables.outbound_messages.c.message_id == key)
            .values(
                created_at=record["created_at"] - timedelta(minutes=11),
                updated_at=record["updated_at"] - timedelta(minutes=11),
            )
        )
    intercom.lose_answer_of.append(("POST", "/conversations"))
    with pytest.raises(ApplicationError):
        calls.escalate(escalation())  # made again: opened, but its answer is lost
    intercom.unindexed.update(intercom.conversations)

    with pytest.raises(ApplicationError) as pending:
        calls.escalate(escalation())

    assert pending.value.type == "intercom.outcome_pending"
    assert count(server, "POST", "/conversations") == 2 and len(intercom.conversations) == 1
    intercom.unindexed.clear()
    opened = calls.escalate(escalation())
    assert list(intercom.conversations) == [opened.provider_conversation_id]
