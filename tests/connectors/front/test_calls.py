"""Front's support activities against a local stand-in for its Core API (support.py): the
contact by phone, the import (external id, thread_ref, subject), the asynchronous conversation
lookup, tags in the import, contact lists as hub tags, Front's rate limits, and a retried escalation
that imports nothing twice."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from integration_hub.connectors.front.calls import FrontCalls
from integration_hub.connectors.front.settings import FrontSettings
from integration_hub.connectors.support_inbox import (
    ContactTagsRequest,
    EscalationContext,
    EscalationRequest,
    InboxContact,
    InboxConversation,
    support_activity,
)
from integration_hub.errors import CallRefused
from integration_hub.orchestration.worker import workflow_runner
from integration_hub.secrets import EnvSecretSource
from tests.connectors.front.probe import SupportProbeWorkflow
from tests.connectors.front.support import INBOX, TOKEN, FakeFront
from tests.partner_server import PartnerServer, Reply

PHONE = "+13055550123"
_BUILT: list[FrontCalls] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _BUILT:
        _BUILT.pop().close()


@pytest.fixture
def front() -> FakeFront:
    return FakeFront()


@pytest.fixture(scope="module")
def _shared() -> Iterator[tuple[PartnerServer, list[FakeFront]]]:
    """One server for the module (stopping one takes its 0.5 s poll); each test its fake."""
    current: list[FakeFront] = []
    with PartnerServer(lambda request: current[-1](request)) as running:
        yield running, current


@pytest.fixture
def server(front: FakeFront, _shared: tuple[PartnerServer, list[FakeFront]]) -> PartnerServer:
    running, current = _shared
    current.append(front)
    front.base_url = running.url
    running.requests.clear()
    return running


class Waits:
    """The lookup's waits, recorded instead of slept."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def _calls(server: PartnerServer, waits: Waits | None = None, *, inbox: str | None = INBOX,
           token: str | None = TOKEN, clock: float | None = None) -> FrontCalls:  # fmt: skip
    settings = FrontSettings(_env_file=None, api_base_url=server.url, inbox_id=inbox,  # type: ignore[call-arg]
                             recipient_handle="+13055550100")  # fmt: skip
    source = EnvSecretSource(environ={"FRONT_API_TOKEN": token} if token else {})
    now = clock
    _BUILT.append(FrontCalls(source, settings, sleep=waits or Waits(),
                             clock=(lambda: now) if now is not None else time.time))  # fmt: skip
    return _BUILT[-1]


def _request(**changes: object) -> EscalationRequest:
    base = EscalationRequest(
        escalation_id="sup_01jcx4k9m2", message_id="msg_twilio_SM8f2c", phone=PHONE,
        name="María González", language="es", channel="whatsapp",
        body="Estoy afuera y la cerradura no abre. Urgente", reasons=("lockout",),
        tags=("escalation", "lockout"),
        context=EscalationContext(property_id="prop_12b", lines=("Property: Brickell 12B",)),
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_the_activities_are_registered_under_the_contracts_names(server: PartnerServer) -> None:
    calls = _calls(server)
    names = [getattr(a, "__temporal_activity_definition").name for a in calls.activities()]
    assert names == [support_activity("front", "escalate"), support_activity("front", "sync_tags")]


def test_a_new_escalation_creates_the_contact_imports_finds_and_tags(
    server: PartnerServer, front: FakeFront
) -> None:
    front.tags["escalation"] = "tag_77"
    waits = Waits()

    result = _calls(server, waits, clock=1_764_633_600.5).escalate(_request())

    assert result == InboxConversation("cnv_1", "crd_1")
    routes = [(r.method, r.path) for r in server.requests]
    assert routes == [
        ("GET", "/contacts/alt:phone:%2B13055550123"),
        ("POST", "/contacts"),
        ("POST", f"/inboxes/{INBOX}/imported_messages"),
        ("GET", "/messages/alt:uid:uid0001"),
        ("GET", "/messages/alt:uid:uid0001"),
        ("GET", "/messages/alt:uid:uid0001"),
    ]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in server.requests)
    assert server.requests[1].json() == {
        "name": "María González", "handles": [{"source": "phone", "handle": PHONE}]}  # fmt: skip
    assert server.requests[2].json() == {
        "sender": {"handle": PHONE, "name": "María González"},
        "to": ["+13055550100"],
        "subject": "[sup_01jcx4k9m2] Escalation: lockout",
        "body": "Estoy afuera y la cerradura no abre. Urgente\n\n---\nProperty: Brickell 12B\n"
                "Channel: whatsapp\nLanguage: es",
        "external_id": "msg_twilio_SM8f2c",
        "created_at": 1_764_633_600,
        "type": "sms",
        "tags": ["escalation", "lockout"],
        "metadata": {"thread_ref": "sup_01jcx4k9m2", "is_inbound": True, "is_archived": False,
                     "should_skip_rules": True},
    }  # fmt: skip
    assert waits.seconds == [0.5, 1.0]  # two misses, a growing wait, then found
    assert front.conversation_tags == {"cnv_1": ["escalation", "lockout"]}


def test_a_known_contact_is_not_created_again(server: PartnerServer, front: FakeFront) -> None:
    contact_id = front.add_contact(PHONE)
    front.lookups_before_visible = 0

    result = _calls(server).escalate(_request(tags=()))

    assert result == InboxConversation("cnv_1", contact_id)
    assert ("POST", "/contacts") not in [(r.method, r.path) for r in server.requests]
    assert "tags" not in server.requests[1].json()  # no tags: none in the import


def test_a_message_for_an_open_conversation_is_threaded_into_it(
    server: PartnerServer, front: FakeFront
) -> None:
    front.add_contact(PHONE)
    front.lookups_before_visible = 0
    first = _calls(server).escalate(_request(tags=()))

    later = _calls(server).escalate(_request(message_id="msg_twilio_SM9a01", tags=("vip",),
                                             provider_conversation_id=first.provider_conversation_id))  # fmt: skip

    assert later == first
    imported = [r.json() for r in server.requests if r.path.endswith("/imported_messages")]
    assert imported[1]["conversation_id"] == first.provider_conversation_id
    assert "tags" not in imported[1]  # tags go on at open only
    assert front.conversation_tags[first.provider_conversation_id] == []
    assert len(front.conversations) == 1 and len(front.messages) == 2
    # The conversation is known: no lookup of the second message.
    assert sum(r.path.startswith("/messages/") for r in server.requests) == 1


def test_a_message_for_a_conversation_front_no_longer_has_opens_a_new_one(
    server: PartnerServer, front: FakeFront
) -> None:
    """Merged or deleted in Front: the known id answers 404, the message is imported by its
    thread_ref alone, and the new conversation's id comes back for the workflow to record."""
    front.add_contact(PHONE)
    front.lookups_before_visible = 0
    front.conversations["cnv_gone"] = {"id": "cnv_gone", "subject": "", "contact": "crd_1",
                                       "thread_ref": "sup_other"}  # fmt: skip
    del front.conversations["cnv_gone"]

    result = _calls(server).escalate(_request(provider_conversation_id="cnv_gone", tags=()))

    assert result == InboxConversation("cnv_1", "crd_1")
    imported = [r.json() for r in server.requests if r.path.endswith("/imported_messages")]
    assert [body.get("conversation_id") for body in imported] == ["cnv_gone", None]
    assert {body["external_id"] for body in imported} == {"msg_twilio_SM8f2c"}
    assert imported[1]["metadata"]["thread_ref"] == "sup_01jcx4k9m2"
    assert len(front.messages) == 1


def test_a_404_for_a_new_conversation_is_not_retried_as_another_import(
    server: PartnerServer, front: FakeFront
) -> None:
    """Only a known conversation's 404 is taken as merged or deleted (a wrong inbox is not)."""
    front.add_contact(PHONE)

    with pytest.raises(ApplicationError) as failed:
        _calls(server, inbox="inb_missing").escalate(_request())

    assert failed.value.type == "front.404"
    assert sum(r.path.endswith("/imported_messages") for r in server.requests) == 1


def test_a_retried_escalation_imports_nothing_twice(
    server: PartnerServer, front: FakeFront
) -> None:
    """The same request again (an activity retried after its answer was lost): the same
    external id, which Front never imports twice; the conversation is found by the escalation
    id in its subject, and the same ids come back."""
    front.lookups_before_visible = 0
    first = _calls(server).escalate(_request())
    front.lookups_before_visible = 10**6  # the duplicate's uid never shows up

    again = _calls(server).escalate(_request())

    assert again == first
    assert len(front.messages) == 1 and len(front.conversations) == 1
    external_ids = [
        r.json()["external_id"] for r in server.requests if r.path.endswith("/imported_messages")
    ]
    assert external_ids == ["msg_twilio_SM8f2c", "msg_twilio_SM8f2c"]
    assert ("GET", "/contacts/crd_1/conversations") in [(r.method, r.path) for r in server.requests]
    assert front.conversation_tags["cnv_1"] == ["escalation", "lockout"]  # tagged once


def test_a_conversation_that_never_shows_up_is_a_retryable_failure(
    server: PartnerServer, front: FakeFront
) -> None:
    front.processing_paused = True
    front.add_contact(PHONE)
    front.conversations["cnv_9"] = {"id": "cnv_9", "subject": "Other", "contact": "crd_1",
                                    "thread_ref": None}  # fmt: skip
    waits = Waits()

    with pytest.raises(ApplicationError) as failed:
        _calls(server, waits).escalate(_request())

    assert not failed.value.non_retryable
    assert len(waits.seconds) == 4  # HUB_FRONT_LOOKUP_ATTEMPTS (5) lookups, waits between


def test_a_429_waits_for_retry_after(server: PartnerServer) -> None:
    server.reply(Reply(429, {"_error": {"status": 429, "title": "Too many requests"}},
                       {"Retry-After": "7"}))  # fmt: skip

    with pytest.raises(ApplicationError) as limited:
        _calls(server).escalate(_request())

    assert not limited.value.non_retryable
    assert limited.value.next_retry_delay == timedelta(seconds=7)


def test_no_call_is_made_while_front_says_none_remain(server: PartnerServer) -> None:
    """Front's answer says no call remains until its reset: the next call (creating the
    missing contact) waits for it, retryable, and never reaches Front; so does a new attempt."""
    now = 1_764_633_600.0
    server.reply(Reply(404, {"_error": {"status": 404, "title": "Not found"}},
                       {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(now + 12)}))  # fmt: skip
    calls = _calls(server, clock=now)

    for _ in range(2):
        with pytest.raises(ApplicationError) as gated:
            calls.escalate(_request())
        assert gated.value.type == "front.rate_limited" and not gated.value.non_retryable
        assert gated.value.next_retry_delay == timedelta(seconds=12)

    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("kwargs", "changes", "refusal"),
    [
        ({"inbox": None}, {}, "HUB_FRONT_INBOX_ID is not set"),
        ({"token": None}, {}, "FRONT_API_TOKEN is not set"),
        ({}, {"phone": "3055550123"}, "not an E.164 number"),
        ({}, {"tags": ("x" * 65,)}, "at most 20 tags"),
    ],
)
def test_what_cannot_be_sent_is_refused_before_any_call(
    server: PartnerServer, kwargs: dict[str, object], changes: dict[str, object], refusal: str
) -> None:
    with pytest.raises(ApplicationError) as refused:
        _calls(server, **kwargs).escalate(_request(**changes))  # type: ignore[arg-type]

    assert refused.value.type == CallRefused.__name__ and refused.value.non_retryable
    assert refusal in refused.value.message
    assert server.requests == []


def test_hub_tags_become_contact_list_memberships(server: PartnerServer, front: FakeFront) -> None:
    front.lists.update({"vip": "grp_1", "former-cleaner": "grp_2"})
    contact_id = front.add_contact(PHONE, lists=("former-cleaner",))
    request = ContactTagsRequest(PHONE, "María González", add=("vip", "cleaner"),
                                 remove=("former-cleaner", "never-had"))  # fmt: skip

    assert _calls(server).sync_tags(request) == InboxContact(contact_id)

    routes = [(r.method, r.path) for r in server.requests]
    assert routes == [
        ("GET", "/contacts/alt:phone:%2B13055550123"),
        ("GET", "/contact_lists"),
        ("POST", "/contact_lists"),
        ("GET", "/contact_lists"),
        ("POST", "/contact_lists/grp_1/contacts"),
        ("POST", "/contact_lists/grp_3/contacts"),
        ("DELETE", "/contact_lists/grp_2/contacts"),
    ]
    assert server.requests[2].json() == {"name": "cleaner"}
    assert all(r.json() == {"contact_ids": [contact_id]} for r in server.requests[4:])
    assert {e["name"] for e in front.contacts[contact_id]["lists"]} == {"vip", "cleaner"}

    server.requests.clear()
    _calls(server).sync_tags(request)  # again: nothing left to change
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/contacts/alt:phone:%2B13055550123"), ("GET", "/contact_lists")]  # fmt: skip


def test_a_tag_sync_for_an_unknown_phone_creates_the_contact(
    server: PartnerServer, front: FakeFront
) -> None:
    result = _calls(server).sync_tags(ContactTagsRequest(PHONE, None, add=()))

    assert result == InboxContact("crd_1")
    assert server.requests[1].json() == {"handles": [{"source": "phone", "handle": PHONE}]}


def test_the_tags_travel_in_the_import_with_no_write_after_it(
    server: PartnerServer, front: FakeFront
) -> None:
    """The tags travel in the import: once Front accepted it, the only calls left are the
    lookups, which a retried activity repeats without importing anything twice."""
    front.lookups_before_visible = 0

    result = _calls(server).escalate(_request())

    assert [r.method for r in server.requests if r.method != "GET"] == ["POST", "POST"]
    assert [r.path for r in server.requests if r.method == "POST"] == [
        "/contacts", f"/inboxes/{INBOX}/imported_messages"]  # fmt: skip
    assert front.conversation_tags[result.provider_conversation_id] == ["escalation", "lockout"]


@pytest.mark.parametrize("conversation_id", ["cnv_1/../../teammates", "cnv_1?x=1", "CNV_1", ""])
def test_a_conversation_id_that_is_not_fronts_is_refused(
    server: PartnerServer, conversation_id: str
) -> None:
    with pytest.raises(ApplicationError) as refused:
        _calls(server).escalate(_request(provider_conversation_id=conversation_id))

    assert refused.value.type == CallRefused.__name__
    assert server.requests == []


def test_an_answer_with_an_id_that_is_not_fronts_goes_into_no_path(
    server: PartnerServer, front: FakeFront
) -> None:
    front.contacts["crd_1/../x"] = {"id": "crd_1/../x", "name": None, "lists": [],
                                    "handles": [{"source": "phone", "handle": PHONE}]}  # fmt: skip

    with pytest.raises(ApplicationError) as refused:
        _calls(server).sync_tags(ContactTagsRequest(PHONE, None, add=("vip",)))

    assert refused.value.type == CallRefused.__name__
    assert [r.path for r in server.requests] == ["/contacts/alt:phone:%2B13055550123"]


async def test_the_core_reaches_both_activities_by_name_through_temporal(
    server: PartnerServer, front: FakeFront, temporal: WorkflowEnvironment
) -> None:
    """The session's Temporal dev server: the dataclasses cross the data converter both ways
    and a lookup miss is waited out inside the activity."""
    queue = f"test-front-{uuid.uuid4()}"
    calls = _calls(server)
    with ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(temporal.client, task_queue=queue, workflows=[SupportProbeWorkflow],
                          activities=calls.activities(), activity_executor=executor,
                          workflow_runner=workflow_runner()):  # fmt: skip
            opened, contact = await temporal.client.execute_workflow(
                SupportProbeWorkflow.run,
                args=["front", _request(), ContactTagsRequest(PHONE, None, add=("vip",))],
                id=f"test.support_probe/{uuid.uuid4()}",
                task_queue=queue,
            )

    assert opened == InboxConversation("cnv_1", "crd_1")
    assert contact == InboxContact("crd_1")
    assert front.conversation_tags == {"cnv_1": ["escalation", "lockout"]}
    assert {e["name"] for e in front.contacts["crd_1"]["lists"]} == {"vip"}


def test_a_contact_made_meanwhile_by_another_escalation_is_used(
    server: PartnerServer, front: FakeFront
) -> None:
    """Our lookup missed, then another worker created the contact: Front refuses the second
    creation (409, the handle is taken) and the contact is read again."""
    front.lookups_before_visible = 0
    server.reply(Reply(404, {"_error": {"status": 404, "title": "Not found"}}))
    contact_id = front.add_contact(PHONE)
    server.reply(Reply(409, {"_error": {"status": 409, "title": "Conflict"}}))

    result = _calls(server).sync_tags(ContactTagsRequest(PHONE, None))

    assert result == InboxContact(contact_id)
    assert [(r.method, r.path) for r in server.requests][:3] == [
        ("GET", "/contacts/alt:phone:%2B13055550123"), ("POST", "/contacts"),
        ("GET", "/contacts/alt:phone:%2B13055550123")]  # fmt: skip


def test_the_contact_the_hub_knows_is_used_before_any_phone_lookup(
    server: PartnerServer, front: FakeFront
) -> None:
    """Front's search may lag its writes: the id the hub already has comes first."""
    contact_id = front.add_contact(PHONE)

    result = _calls(server).sync_tags(
        ContactTagsRequest(PHONE, None, provider_contact_id=contact_id)
    )

    assert result == InboxContact(contact_id)
    assert [r.path for r in server.requests] == [f"/contacts/{contact_id}"]


def test_a_known_contact_front_no_longer_has_is_found_by_phone(
    server: PartnerServer, front: FakeFront
) -> None:
    contact_id = front.add_contact(PHONE)

    result = _calls(server).sync_tags(
        ContactTagsRequest(PHONE, None, provider_contact_id="crd_gone")
    )

    assert result == InboxContact(contact_id)
    assert [r.path for r in server.requests] == [
        "/contacts/crd_gone", "/contacts/alt:phone:%2B13055550123"]  # fmt: skip


def test_every_page_of_contact_lists_is_read_and_names_match_whatever_their_case(
    server: PartnerServer, front: FakeFront
) -> None:
    front.lists.update({"owners": "grp_1", "cleaners": "grp_2", "VIP": "grp_3"})
    front.list_page_size = 1
    contact_id = front.add_contact(PHONE)

    _calls(server).sync_tags(ContactTagsRequest(PHONE, None, add=("vip",)))

    routes = [(r.method, r.path) for r in server.requests]
    assert routes.count(("GET", "/contact_lists")) == 3  # three pages
    assert ("POST", "/contact_lists") not in routes
    assert front.lists == {"owners": "grp_1", "cleaners": "grp_2", "VIP": "grp_3"}
    assert front.contacts[contact_id]["lists"] == [{"id": "grp_3", "name": "VIP"}]


def test_a_list_front_says_exists_is_used_not_a_failure(
    server: PartnerServer, front: FakeFront
) -> None:
    """The listing missed the list (made by another sync a moment ago): Front refuses the
    creation (409) and the list is read again."""
    front.lists["vip"] = "grp_1"
    front.unlisted_once.add("vip")
    contact_id = front.add_contact(PHONE)

    assert _calls(server).sync_tags(ContactTagsRequest(PHONE, None, add=("vip",))) == InboxContact(
        contact_id
    )

    assert [(r.method, r.path) for r in server.requests][1:] == [
        ("GET", "/contact_lists"), ("POST", "/contact_lists"), ("GET", "/contact_lists"),
        ("POST", "/contact_lists/grp_1/contacts")]  # fmt: skip
    assert front.lists == {"vip": "grp_1"}


def test_the_lists_are_read_again_before_each_creation(
    server: PartnerServer, front: FakeFront
) -> None:
    """Another sync makes "cleaner" while this one makes "vip": it is not made twice."""
    front.made_elsewhere_on_create["vip"] = ("cleaner",)
    contact_id = front.add_contact(PHONE)

    _calls(server).sync_tags(ContactTagsRequest(PHONE, None, add=("vip", "cleaner")))

    created = [
        r.json() for r in server.requests if r.method == "POST" and r.path == "/contact_lists"
    ]
    assert created == [{"name": "vip"}]
    assert front.lists == {"vip": "grp_1", "cleaner": "grp_2"}
    assert {e["name"] for e in front.contacts[contact_id]["lists"]} == {"vip", "cleaner"}
