"""Intercom's inbox activities against a local stand-in for its REST API (support.py) that
checks the token, the version header and each documented body: contact search hit and miss,
the opened conversation, a later message as the contact's reply, tags, the escalation id
attribute, rate limits, and a retried escalation that opens nothing and posts nothing twice.
Real SQLite file, PostgreSQL when configured."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.intercom.calls import first_message
from integration_hub.connectors.intercom.contacts import PHONE_KEY_LABEL, phone_key
from integration_hub.connectors.support_inbox import (
    ContactTagsRequest,
    InboxContact,
    support_activity,
)
from integration_hub.errors import CallRefused, UnsafeConfiguration
from integration_hub.storage import outbound_messages, tables
from integration_hub.storage.engine import begin_write
from tests.connectors.intercom.calls_setup import (
    CONTACT,
    PHONE,
    Clock,
    add_lead,
    build_calls,
    count,
    escalation,
    routes,
)
from tests.connectors.intercom.support import ADMIN_ID, TOKEN, FakeIntercom
from tests.partner_server import PartnerServer, RecordedRequest, Reply


def test_an_escalation_from_an_unknown_number_opens_a_conversation_from_a_newadd_lead(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    request = escalation()

    opened = build_calls(server, engine).escalate(request)

    (contact_id,) = intercom.contacts
    (conversation_id,) = intercom.conversations
    assert (opened.provider_contact_id, opened.provider_conversation_id) == (
        contact_id,
        conversation_id,
    )
    conversation_path = f"/conversations/{conversation_id}"
    assert routes(server) == [
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
    add_lead(intercom, role="user")

    opened = build_calls(server, engine).escalate(escalation(tags=()))

    assert opened.provider_contact_id == CONTACT
    assert count(server, "POST", "/contacts") == 0
    created = next(r for r in server.requests if r.path == "/conversations")
    assert created.json()["from"] == {"type": "user", "id": CONTACT}


def test_a_later_message_is_added_as_the_contacts_reply(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    calls = build_calls(server, engine)
    opened = calls.escalate(escalation())

    again = calls.escalate(
        escalation(
            message_id="msg_" + "2" * 32,
            body="Ya pasaron 20 minutos",
            provider_conversation_id=opened.provider_conversation_id,
        )
    )

    assert again == opened
    assert count(server, "POST", "/conversations") == 1
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
    calls = build_calls(server, engine)
    first = calls.escalate(escalation())
    # Intercom's contact search may miss a contact created minutes ago: the record, not the
    # search, keeps the retry on the same contact.
    intercom.unindexed.update(intercom.contacts)
    reply = escalation(
        message_id="msg_" + "3" * 32, provider_conversation_id=first.provider_conversation_id
    )
    calls.escalate(reply)

    assert calls.escalate(escalation()) == first
    assert calls.escalate(reply) == first

    assert len(intercom.contacts) == 1 and len(intercom.conversations) == 1
    assert count(server, "POST", "/contacts") == 1
    assert count(server, "POST", "/conversations") == 1
    assert intercom.conversations[first.provider_conversation_id]["parts"] == [reply.body]


def test_a_lost_answer_to_a_reply_is_never_posted_again(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    calls = build_calls(server, engine)
    opened = calls.escalate(escalation())
    path = f"/conversations/{opened.provider_conversation_id}/reply"
    intercom.lose_answer_of.append(("POST", path))
    reply = escalation(
        message_id="msg_" + "4" * 32, provider_conversation_id=opened.provider_conversation_id
    )

    with pytest.raises(ApplicationError):
        calls.escalate(reply)
    with pytest.raises(ApplicationError) as unknown:
        calls.escalate(reply)

    assert unknown.value.non_retryable and unknown.value.type == "intercom.outcome_unknown"
    assert count(server, "POST", path) == 1
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
    calls = build_calls(server, engine, clock)

    with pytest.raises(ApplicationError) as throttled:
        calls.escalate(escalation())
    assert not throttled.value.non_retryable
    assert throttled.value.type == "intercom.rate_limit_exceeded"
    assert throttled.value.next_retry_delay == timedelta(seconds=42)

    opened = calls.escalate(escalation())  # the 429 made nothing: this attempt opens it

    assert list(intercom.conversations) == [opened.provider_conversation_id]


def test_a_rejected_token_fails_without_a_retry(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    with pytest.raises(ApplicationError) as refused:
        build_calls(server, engine, token="not-the-token-intercom-issued").escalate(escalation())

    assert refused.value.non_retryable
    assert intercom.refused == ["Authorization is not the Bearer token"]
    intercom.refused.clear()


def test_a_phone_that_is_not_e164_is_refused_before_anyescalation(
    server: PartnerServer, engine: Engine
) -> None:
    with pytest.raises(ApplicationError) as refused:
        build_calls(server, engine).escalate(escalation(phone="305 555 0123"))

    assert refused.value.type == CallRefused.__name__
    assert server.requests == []


def test_sync_tags_adds_the_missing_and_removes_the_present(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    intercom.tags.update({"cleaner": "7100", "old": "7101"})
    add_lead(intercom, tags=["7100", "7101"])

    synced = build_calls(server, engine).sync_tags(
        ContactTagsRequest(phone=PHONE, name=None, add=("vip", "cleaner"), remove=("old", "gone"))
    )

    assert synced == InboxContact(CONTACT)
    assert intercom.contacts[CONTACT]["tags"] == ["7100", intercom.tags["vip"]]
    assert "gone" not in intercom.tags  # nothing created to remove it
    tags_path = f"/contacts/{CONTACT}/tags"
    assert routes(server) == [
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
    synced = build_calls(server, engine).sync_tags(
        ContactTagsRequest(phone=PHONE, name="Ana", add=("cleaner",))
    )

    (contact_id,) = intercom.contacts
    assert synced == InboxContact(contact_id)
    assert intercom.contacts[contact_id]["tags"] == [intercom.tags["cleaner"]]


def test_the_activities_carry_the_names_the_core_runs(
    server: PartnerServer, engine: Engine
) -> None:
    calls = build_calls(server, engine)

    names = [getattr(a, "__temporal_activity_definition").name for a in calls.activities()]

    assert names == [
        support_activity("intercom", "escalate"),
        support_activity("intercom", "sync_tags"),
    ]


def test_a_token_of_another_shape_stops_the_worker(server: PartnerServer, engine: Engine) -> None:
    build_calls(server, engine).preflight()
    with pytest.raises(UnsafeConfiguration):
        build_calls(server, engine, token="short").preflight()


def test_a_contact_step_cut_short_by_a_crash_is_simply_done_again(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    """A worker that died between marking the contact step and recording it leaves the row
    `sending`: finding or creating a contact again is harmless, so the escalation goes on."""
    add_lead(intercom)
    key = f"intercom.contact/{escalation().escalation_id}"
    with begin_write(engine) as connection:
        outbound_messages.claim_outbound_message(
            connection, message_id=key, partner="intercom", channel="support", to_address=PHONE
        )
        outbound_messages.update_outbound_message(connection, message_id=key, state="sending")

    opened = build_calls(server, engine).escalate(escalation())

    assert opened.provider_contact_id == CONTACT and len(intercom.conversations) == 1


def test_sync_tags_uses_the_contact_the_hub_knows_without_a_search(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    add_lead(intercom)
    intercom.unindexed.add(CONTACT)  # created minutes ago: the search misses it

    synced = build_calls(server, engine).sync_tags(
        ContactTagsRequest(phone=PHONE, name=None, add=("vip",), provider_contact_id=CONTACT)
    )

    assert synced == InboxContact(CONTACT)
    assert list(intercom.contacts) == [CONTACT]
    assert intercom.contacts[CONTACT]["tags"] == [intercom.tags["vip"]]
    assert count(server, "POST", "/contacts/search") == 0


def test_sync_tags_makes_one_lead_across_syncs_while_the_search_lags(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    calls = build_calls(server, engine)
    first = calls.sync_tags(ContactTagsRequest(phone=PHONE, name="Ana", add=("cleaner",)))
    intercom.unindexed.update(intercom.contacts)

    again = calls.sync_tags(ContactTagsRequest(phone=PHONE, name="Ana", remove=("cleaner",)))

    assert again == first and list(intercom.contacts) == [first.provider_contact_id]
    assert count(server, "POST", "/contacts") == 1
    assert intercom.contacts[first.provider_contact_id]["tags"] == []


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
        build_calls(server, engine).escalate(escalation())

    assert refused.value.type == "intercom.parameter_invalid"
    assert refused.value.message == "intercom contacts.create failed (400): parameter_invalid"
    assert PHONE not in str(refused.value) and "María" not in str(refused.value)


def test_sync_tags_refuses_a_contact_id_that_could_not_be_intercoms(
    server: PartnerServer, engine: Engine
) -> None:
    with pytest.raises(ApplicationError) as refused:
        build_calls(server, engine).sync_tags(
            ContactTagsRequest(phone=PHONE, name=None, add=("vip",), provider_contact_id="../me")
        )

    assert refused.value.type == CallRefused.__name__
    assert server.requests == []


def test_an_escalation_opens_from_the_contact_the_hub_knows_without_a_search(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    add_lead(intercom, role="user")
    intercom.unindexed.add(CONTACT)  # created minutes ago: the search misses it

    opened = build_calls(server, engine).escalate(escalation(tags=(), provider_contact_id=CONTACT))

    assert opened.provider_contact_id == CONTACT
    assert list(intercom.contacts) == [CONTACT]
    assert routes(server)[:2] == [("GET", f"/contacts/{CONTACT}"), ("POST", "/conversations")]
    assert count(server, "POST", "/contacts/search") + count(server, "POST", "/contacts") == 0
    created = next(r for r in server.requests if r.path == "/conversations")
    assert created.json()["from"] == {"type": "user", "id": CONTACT}


def test_a_known_contact_intercom_no_longer_has_falls_back_to_the_phone(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    add_lead(intercom)
    gone = f"{99:024x}"  # merged into another contact, or deleted

    opened = build_calls(server, engine).escalate(escalation(provider_contact_id=gone))

    assert opened.provider_contact_id == CONTACT
    assert routes(server)[:3] == [
        ("GET", f"/contacts/{gone}"),
        ("POST", "/contacts/search"),
        ("POST", "/conversations"),
    ]
    assert list(intercom.conversations) == [opened.provider_conversation_id]


def test_an_escalation_refuses_a_known_contact_id_that_could_not_be_intercoms(
    server: PartnerServer, engine: Engine
) -> None:
    with pytest.raises(ApplicationError) as refused:
        build_calls(server, engine).escalate(escalation(provider_contact_id="../me"))

    assert refused.value.type == CallRefused.__name__
    assert server.requests == []


def test_the_record_of_a_phones_contact_is_keyed_by_a_digest_only_the_hub_can_make(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    """A plain hash of a phone is undone by hashing every number: the key, which shows in
    rows and errors, is an HMAC under a key derived from the workspace's access token."""
    calls = build_calls(server, engine)
    synced = calls.sync_tags(ContactTagsRequest(phone=PHONE, name="Ana", add=("cleaner",)))

    with engine.connect() as connection:
        keys = [
            row.message_id
            for row in connection.execute(
                select(tables.outbound_messages.c.message_id).where(
                    tables.outbound_messages.c.partner == "intercom"
                )
            )
        ]
    secret = hmac.new(TOKEN.encode(), PHONE_KEY_LABEL, hashlib.sha256).digest()
    digest = hmac.new(secret, PHONE.encode(), hashlib.sha256).hexdigest()[:40]
    assert keys == [f"intercom.contact/phone-hmac-{digest}"]
    assert hashlib.sha256(PHONE.encode()).hexdigest()[:40] not in keys[0]
    assert phone_key("another workspace's token", PHONE) != keys[0]
    assert calls.sync_tags(ContactTagsRequest(phone=PHONE, name="Ana")) == synced
    assert count(server, "POST", "/contacts") == 1


def test_sync_tags_of_a_known_contact_intercom_no_longer_has_falls_back_to_the_phone(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    add_lead(intercom)
    gone = f"{99:024x}"  # merged into another contact, or deleted

    synced = build_calls(server, engine).sync_tags(
        ContactTagsRequest(phone=PHONE, name=None, add=("vip",), provider_contact_id=gone)
    )

    assert synced == InboxContact(CONTACT)
    assert intercom.contacts[CONTACT]["tags"] == [intercom.tags["vip"]]
    assert routes(server)[:3] == [
        ("GET", f"/contacts/{gone}/tags"),
        ("POST", "/contacts/search"),
        ("GET", f"/contacts/{CONTACT}/tags"),
    ]
