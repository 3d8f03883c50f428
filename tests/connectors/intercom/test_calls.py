"""Intercom's inbox activities against a local stand-in for its REST API (support.py) that
checks the token, the version header and each documented body: contact search hit and miss,
the opened conversation, a later message as the contact's reply, tags, the escalation id
attribute, rate limits, and a retried escalation that opens nothing and posts nothing twice.
Real SQLite file, PostgreSQL when configured."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from integration_hub.connectors.intercom import labels
from integration_hub.connectors.intercom.calls import IntercomCalls, first_message
from integration_hub.connectors.intercom.settings import IntercomSettings
from integration_hub.connectors.support_inbox import (
    ContactTagsRequest,
    EscalationContext,
    EscalationRequest,
    InboxContact,
    InboxConversation,
    support_activity,
)
from integration_hub.errors import CallRefused, UnsafeConfiguration
from integration_hub.orchestration.worker import workflow_runner
from integration_hub.secrets import EnvSecretSource
from integration_hub.storage import outbound_messages
from integration_hub.storage.engine import begin_write
from tests.connectors.intercom.escalation_workflow import EscalateWorkflow
from tests.connectors.intercom.support import ADMIN_ID, TOKEN, FakeIntercom
from tests.partner_server import PartnerServer, RecordedRequest, Reply

PHONE = "+13055550123"
CONTACT = f"{7:024x}"
_BUILT: list[IntercomCalls] = []


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def intercom() -> Iterator[FakeIntercom]:
    fake = FakeIntercom()
    yield fake
    assert fake.refused == []  # every request was the documented one


@pytest.fixture
def server(intercom: FakeIntercom) -> Iterator[PartnerServer]:
    with PartnerServer(intercom) as running:
        yield running
    while _BUILT:
        _BUILT.pop().close()


def _calls(
    server: PartnerServer, engine: Engine, clock: Clock | None = None, token: str = TOKEN
) -> IntercomCalls:
    settings = IntercomSettings(_env_file=None, api_base_url=server.url)  # type: ignore[call-arg]
    source = EnvSecretSource(environ={"INTERCOM_ACCESS_TOKEN": token})
    _BUILT.append(IntercomCalls(source, settings, engine=engine, clock=clock or time.time))
    return _BUILT[-1]


def _request(**changes: object) -> EscalationRequest:
    fields: dict[str, object] = {
        "escalation_id": "sup_" + "a" * 32,
        "message_id": "msg_" + "1" * 32,
        "phone": PHONE,
        "name": "María González",
        "language": "es",
        "channel": "whatsapp",
        "body": "No puedo entrar, el código de la puerta no funciona",
        "reasons": ("lockout",),
        "tags": ("escalation", "lockout"),
        "context": EscalationContext(property_id="prp_1", lines=("Property: Brickell 12B",)),
    }
    return EscalationRequest(**{**fields, **changes})  # type: ignore[arg-type]


def _routes(server: PartnerServer) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in server.requests]


def _count(server: PartnerServer, method: str, path: str) -> int:
    return _routes(server).count((method, path))


def _lead(intercom: FakeIntercom, role: str = "lead", tags: list[str] | None = None) -> None:
    intercom.contacts[CONTACT] = {"role": role, "phone": PHONE, "name": "María", "tags": tags or []}


def test_an_escalation_from_an_unknown_number_opens_a_conversation_from_a_new_lead(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    request = _request()

    opened = _calls(server, engine).escalate(request)

    (contact_id,) = intercom.contacts
    (conversation_id,) = intercom.conversations
    assert (opened.provider_contact_id, opened.provider_conversation_id) == (
        contact_id,
        conversation_id,
    )
    conversation_path = f"/conversations/{conversation_id}"
    assert _routes(server) == [
        ("POST", "/contacts/search"),
        ("POST", "/contacts"),
        ("POST", "/conversations"),
        ("PUT", conversation_path),
        ("POST", "/tags"),
        ("GET", "/me"),
        ("POST", f"{conversation_path}/tags"),
        ("POST", "/tags"),
        ("POST", f"{conversation_path}/tags"),
    ]
    bodies = [r.json() if r.body else None for r in server.requests]
    assert bodies[0] == {"query": {"field": "phone", "operator": "=", "value": PHONE}}
    assert bodies[1] == {"role": "lead", "phone": PHONE, "name": "María González"}
    assert bodies[2] == {"from": {"type": "lead", "id": contact_id}, "body": first_message(request)}
    assert bodies[3] == {"custom_attributes": {"hub_escalation_id": request.escalation_id}}
    assert bodies[4] == {"name": "escalation"}
    assert bodies[6] == {"id": intercom.tags["escalation"], "admin_id": ADMIN_ID}
    conversation = intercom.conversations[conversation_id]
    assert conversation["custom_attributes"] == {"hub_escalation_id": request.escalation_id}
    assert conversation["tags"] == [intercom.tags["escalation"], intercom.tags["lockout"]]
    assert conversation["source"].startswith(request.body)
    assert "Property: Brickell 12B" in conversation["source"]
    assert f"Hub reference: {request.escalation_id}" in conversation["source"]


def test_a_known_number_is_found_by_search_and_a_user_writes_as_a_user(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    _lead(intercom, role="user")

    opened = _calls(server, engine).escalate(_request(tags=()))

    assert opened.provider_contact_id == CONTACT
    assert _count(server, "POST", "/contacts") == 0
    created = next(r for r in server.requests if r.path == "/conversations")
    assert created.json()["from"] == {"type": "user", "id": CONTACT}


def test_a_later_message_is_added_as_the_contacts_reply(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    calls = _calls(server, engine)
    opened = calls.escalate(_request())

    again = calls.escalate(
        _request(
            message_id="msg_" + "2" * 32,
            body="Ya pasaron 20 minutos",
            provider_conversation_id=opened.provider_conversation_id,
        )
    )

    assert again == opened
    assert _count(server, "POST", "/conversations") == 1
    reply = next(r for r in server.requests if r.path.endswith("/reply"))
    assert reply.json() == {
        "message_type": "comment",
        "type": "user",
        "intercom_user_id": opened.provider_contact_id,
        "body": "Ya pasaron 20 minutos",
    }
    assert intercom.conversations[opened.provider_conversation_id]["parts"] == [
        "Ya pasaron 20 minutos"
    ]


def test_a_retried_escalation_opens_nothing_and_posts_nothing_twice(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    calls = _calls(server, engine)
    first = calls.escalate(_request())
    # Intercom's contact search may miss a contact created minutes ago: the record, not the
    # search, keeps the retry on the same contact.
    intercom.unindexed.update(intercom.contacts)
    reply = _request(
        message_id="msg_" + "3" * 32, provider_conversation_id=first.provider_conversation_id
    )
    calls.escalate(reply)

    assert calls.escalate(_request()) == first
    assert calls.escalate(reply) == first

    assert len(intercom.contacts) == 1 and len(intercom.conversations) == 1
    assert _count(server, "POST", "/contacts") == 1
    assert _count(server, "POST", "/conversations") == 1
    assert intercom.conversations[first.provider_conversation_id]["parts"] == [reply.body]


def test_a_lost_answer_to_the_open_is_found_among_the_contacts_new_conversations(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    intercom.lose_answer_of.append(("POST", "/conversations"))
    calls = _calls(server, engine)

    with pytest.raises(ApplicationError) as lost:
        calls.escalate(_request())
    assert not lost.value.non_retryable
    with engine.connect() as connection:
        record = outbound_messages.get_outbound_message(
            connection, message_id=f"intercom.open/{_request().escalation_id}"
        )
    assert record is not None and record["state"] == "unknown"

    opened = calls.escalate(_request())

    (conversation_id,) = intercom.conversations
    assert opened.provider_conversation_id == conversation_id
    assert _count(server, "POST", "/conversations") == 1
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
    calls = _calls(server, engine, clock)
    with pytest.raises(ApplicationError):
        calls.escalate(_request())
    intercom.unindexed.update(intercom.conversations)  # Intercom's index lags minutes

    clock.now += 5 * 60
    with pytest.raises(ApplicationError) as pending:
        calls.escalate(_request())
    assert not pending.value.non_retryable
    assert pending.value.type == "intercom.outcome_pending"
    assert pending.value.next_retry_delay == timedelta(seconds=60)

    intercom.unindexed.clear()
    opened = calls.escalate(_request())

    assert list(intercom.conversations) == [opened.provider_conversation_id]
    assert _count(server, "POST", "/conversations") == 1


def test_a_lost_open_another_conversation_of_the_contact_is_not_taken_for(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    """The contact's other conversations since the attempt do not carry this escalation's id;
    once the search had time to show it, the activity fails for an operator."""
    clock = Clock()
    calls = _calls(server, engine, clock)
    other = calls.escalate(_request(escalation_id="sup_" + "b" * 32))
    key = f"intercom.open/{_request().escalation_id}"
    intercom.lose_answer_of.append(("POST", "/conversations"))
    with pytest.raises(ApplicationError):
        calls.escalate(_request())
    intercom.conversations = {
        other.provider_conversation_id: intercom.conversations[other.provider_conversation_id]
    }  # the lost open made nothing after all

    clock.now += 11 * 60
    with pytest.raises(ApplicationError) as unknown:
        calls.escalate(_request())

    assert unknown.value.non_retryable and unknown.value.type == "intercom.outcome_unknown"
    with engine.connect() as connection:
        record = outbound_messages.get_outbound_message(connection, message_id=key)
    assert record is not None and record["state"] == "unknown"


def test_a_lost_answer_to_a_reply_is_never_posted_again(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    calls = _calls(server, engine)
    opened = calls.escalate(_request())
    path = f"/conversations/{opened.provider_conversation_id}/reply"
    intercom.lose_answer_of.append(("POST", path))
    reply = _request(
        message_id="msg_" + "4" * 32, provider_conversation_id=opened.provider_conversation_id
    )

    with pytest.raises(ApplicationError):
        calls.escalate(reply)
    with pytest.raises(ApplicationError) as unknown:
        calls.escalate(reply)

    assert unknown.value.non_retryable and unknown.value.type == "intercom.outcome_unknown"
    assert _count(server, "POST", path) == 1
    assert intercom.conversations[opened.provider_conversation_id]["parts"] == [reply.body]


@pytest.mark.parametrize("header", ["retry-after", "x-ratelimit-reset"])
def test_a_429_is_retried_when_intercom_says_and_nothing_was_made(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine, header: str
) -> None:
    clock = Clock()
    limited = [True]

    def throttle(request: RecordedRequest) -> Reply | None:
        if request.path == "/conversations" and limited.pop(0) if limited else False:
            value = "42" if header == "retry-after" else str(int(clock.now) + 42)
            return Reply(
                429,
                {
                    "type": "error.list",
                    "errors": [{"code": "rate_limit_exceeded", "message": "Exceeded rate limit"}],
                },
                headers={header: value, "x-ratelimit-remaining": "0"},
            )
        return None

    intercom.before = throttle
    calls = _calls(server, engine, clock)

    with pytest.raises(ApplicationError) as throttled:
        calls.escalate(_request())
    assert not throttled.value.non_retryable
    assert throttled.value.type == "intercom.rate_limit_exceeded"
    assert throttled.value.next_retry_delay == timedelta(seconds=42)

    opened = calls.escalate(_request())  # the 429 made nothing: this attempt opens it

    assert list(intercom.conversations) == [opened.provider_conversation_id]


def test_a_rejected_token_fails_without_a_retry(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    with pytest.raises(ApplicationError) as refused:
        _calls(server, engine, token="not-the-token-intercom-issued").escalate(_request())

    assert refused.value.non_retryable
    assert intercom.refused == ["Authorization is not the Bearer token"]
    intercom.refused.clear()


def test_a_phone_that_is_not_e164_is_refused_before_any_request(
    server: PartnerServer, engine: Engine
) -> None:
    with pytest.raises(ApplicationError) as refused:
        _calls(server, engine).escalate(_request(phone="305 555 0123"))

    assert refused.value.type == CallRefused.__name__
    assert server.requests == []


def test_sync_tags_adds_the_missing_and_removes_the_present(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    intercom.tags.update({"cleaner": "7100", "old": "7101"})
    _lead(intercom, tags=["7100", "7101"])

    synced = _calls(server, engine).sync_tags(
        ContactTagsRequest(phone=PHONE, name=None, add=("vip", "cleaner"), remove=("old", "gone"))
    )

    assert synced == InboxContact(CONTACT)
    assert intercom.contacts[CONTACT]["tags"] == ["7100", intercom.tags["vip"]]
    assert "gone" not in intercom.tags  # nothing created to remove it
    tags_path = f"/contacts/{CONTACT}/tags"
    assert _routes(server) == [
        ("POST", "/contacts/search"),
        ("GET", tags_path),
        ("POST", "/tags"),
        ("POST", tags_path),
        ("DELETE", f"{tags_path}/7101"),
    ]
    assert server.requests[3].json() == {"id": intercom.tags["vip"]}


def test_sync_tags_creates_the_contact_of_an_unknown_number(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    synced = _calls(server, engine).sync_tags(
        ContactTagsRequest(phone=PHONE, name="Ana", add=("cleaner",))
    )

    (contact_id,) = intercom.contacts
    assert synced == InboxContact(contact_id)
    assert intercom.contacts[contact_id]["tags"] == [intercom.tags["cleaner"]]


def test_the_activities_carry_the_names_the_core_runs(
    server: PartnerServer, engine: Engine
) -> None:
    calls = _calls(server, engine)

    names = [getattr(a, "__temporal_activity_definition").name for a in calls.activities()]

    assert names == [
        support_activity("intercom", "escalate"),
        support_activity("intercom", "sync_tags"),
    ]


def test_a_token_of_another_shape_stops_the_worker(server: PartnerServer, engine: Engine) -> None:
    _calls(server, engine).preflight()
    with pytest.raises(UnsafeConfiguration):
        _calls(server, engine, token="short").preflight()


async def test_temporal_retries_a_lost_open_and_the_retry_finds_the_conversation(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine, temporal: WorkflowEnvironment
) -> None:
    """On the session's dev server, under the shared retry policy: the first attempt's answer
    is lost (a 503 after Intercom opened it), the retry finds it among the contact's new conversations."""
    intercom.lose_answer_of.append(("POST", "/conversations"))
    calls, queue = _calls(server, engine), f"test-{uuid.uuid4()}"

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
                _request(),
                id=f"test.intercom/{uuid.uuid4()}",
                task_queue=queue,
                result_type=InboxConversation,
            )

    assert list(intercom.conversations) == [opened.provider_conversation_id]
    assert _count(server, "POST", "/conversations") == 1
    assert _count(server, "POST", "/conversations/search") == 1


def test_a_contact_step_cut_short_by_a_crash_is_simply_done_again(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    """A worker that died between marking the contact step and recording it leaves the row
    `sending`: finding or creating a contact again is harmless, so the escalation goes on."""
    _lead(intercom)
    key = f"intercom.contact/{_request().escalation_id}"
    with begin_write(engine) as connection:
        outbound_messages.claim_outbound_message(
            connection, message_id=key, partner="intercom", channel="support", to_address=PHONE
        )
        outbound_messages.update_outbound_message(connection, message_id=key, state="sending")

    opened = _calls(server, engine).escalate(_request())

    assert opened.provider_contact_id == CONTACT and len(intercom.conversations) == 1


def _failures(step: str) -> float:
    return REGISTRY.get_sample_value("hub_intercom_step_failures_total", {"step": step}) or 0.0


def test_an_open_whose_attribute_and_tags_are_refused_still_returns_the_conversation(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    """The workspace has no hub_escalation_id attribute and refuses a tag: the conversation
    exists, so the activity returns it (recorded `sent`), and counts what it could not do."""

    def refuse_labels(request: RecordedRequest) -> Reply | None:
        if request.method == "PUT" or request.path.endswith("/tags"):
            return Reply(400, {"type": "error.list", "errors": [{"code": "parameter_invalid"}]})
        return None

    intercom.before = refuse_labels
    before = _failures("attribute"), _failures("tag")

    opened = _calls(server, engine).escalate(_request())

    assert list(intercom.conversations) == [opened.provider_conversation_id]
    assert (_failures("attribute"), _failures("tag")) == (before[0] + 1, before[1] + 2)
    with engine.connect() as connection:
        record = outbound_messages.get_outbound_message(
            connection, message_id=f"intercom.open/{_request().escalation_id}"
        )
    assert record is not None and record["state"] == "sent"
    assert record["partner_message_id"] == opened.provider_conversation_id


def test_tags_go_on_at_open_only_and_tag_ids_are_asked_once(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    calls = _calls(server, engine)
    first = calls.escalate(_request())
    calls.escalate(_request(escalation_id="sup_" + "c" * 32))
    requests_before = len(server.requests)

    calls.escalate(
        _request(
            message_id="msg_" + "5" * 32, provider_conversation_id=first.provider_conversation_id
        )
    )

    assert _count(server, "POST", "/tags") == 2  # "escalation" and "lockout", once each
    later = [(r.method, r.path) for r in server.requests[requests_before:]]
    assert later == [("POST", f"/conversations/{first.provider_conversation_id}/reply")]


def test_tags_left_when_the_time_for_them_is_up_do_not_fail_the_open(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(labels, "STEPS_TIME", -1.0)  # the time is up before any tag
    before = _failures("out_of_time")

    opened = _calls(server, engine).escalate(_request(tags=tuple(f"t{i}" for i in range(20))))

    assert list(intercom.conversations) == [opened.provider_conversation_id]
    assert intercom.conversations[opened.provider_conversation_id]["tags"] == []
    assert _failures("out_of_time") == before + 1


def test_sync_tags_uses_the_contact_the_hub_knows_without_a_search(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    _lead(intercom)
    intercom.unindexed.add(CONTACT)  # created minutes ago: the search misses it

    synced = _calls(server, engine).sync_tags(
        ContactTagsRequest(phone=PHONE, name=None, add=("vip",), provider_contact_id=CONTACT)
    )

    assert synced == InboxContact(CONTACT)
    assert list(intercom.contacts) == [CONTACT]
    assert intercom.contacts[CONTACT]["tags"] == [intercom.tags["vip"]]
    assert _count(server, "POST", "/contacts/search") == 0


def test_sync_tags_makes_one_lead_across_syncs_while_the_search_lags(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    calls = _calls(server, engine)
    first = calls.sync_tags(ContactTagsRequest(phone=PHONE, name="Ana", add=("cleaner",)))
    intercom.unindexed.update(intercom.contacts)

    again = calls.sync_tags(ContactTagsRequest(phone=PHONE, name="Ana", remove=("cleaner",)))

    assert again == first and list(intercom.contacts) == [first.provider_contact_id]
    assert _count(server, "POST", "/contacts") == 1
    assert intercom.contacts[first.provider_contact_id]["tags"] == []


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
    calls = _calls(server, engine)

    with pytest.raises(ApplicationError) as lost:
        calls.escalate(_request())
    assert not lost.value.non_retryable
    with engine.connect() as connection:
        record = outbound_messages.get_outbound_message(
            connection, message_id=f"intercom.open/{_request().escalation_id}"
        )
    assert record is not None and record["state"] == "unknown"

    opened = calls.escalate(_request())

    assert list(intercom.conversations) == [opened.provider_conversation_id]
    assert _count(server, "POST", "/conversations") == 1


def test_intercoms_error_text_is_not_copied_into_the_error(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    def refuse_contact(request: RecordedRequest) -> Reply | None:
        if request.path == "/contacts":
            message = f"Phone {PHONE} of María González is invalid"
            return Reply(
                400,
                {
                    "type": "error.list",
                    "errors": [{"code": "parameter_invalid", "message": message}],
                },
            )
        return None

    intercom.before = refuse_contact

    with pytest.raises(ApplicationError) as refused:
        _calls(server, engine).escalate(_request())

    assert refused.value.type == "intercom.parameter_invalid"
    assert refused.value.message == "intercom contacts.create failed (400): parameter_invalid"
    assert PHONE not in str(refused.value) and "María" not in str(refused.value)


def test_sync_tags_refuses_a_contact_id_that_could_not_be_intercoms(
    server: PartnerServer, engine: Engine
) -> None:
    with pytest.raises(ApplicationError) as refused:
        _calls(server, engine).sync_tags(
            ContactTagsRequest(phone=PHONE, name=None, add=("vip",), provider_contact_id="../me")
        )

    assert refused.value.type == CallRefused.__name__
    assert server.requests == []
