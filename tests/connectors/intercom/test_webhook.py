"""Intercom's signed notifications: the X-Hub-Signature cross-checked against the documented
algorithm computed independently (no official Python SDK verifies it), one test per failure
mode, the dedup key, each topic's support.* event and its fields, and the bounds and refusals
of `split` and `normalize` (a malformed notification is refused or dead-lettered alone)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson
import pytest

from integration_hub import events
from integration_hub.connectors.base import Delivery, PartnerEvent
from integration_hub.connectors.intercom.samples import conversation, envelope, notification
from integration_hub.connectors.intercom.webhook import EVENT_MAP, MAX_PARTS, IntercomConnector
from integration_hub.connectors.text import e164
from integration_hub.connectors.text import html_text as plain_text
from integration_hub.errors import MalformedPayload, SignatureError

CONNECTOR = IntercomConnector()
SECRET = "5f0c1e2d-3a4b-4c5d-8e9f-0a1b2c3d4e5f"  # a client secret's shape
PREVIOUS = "0d9e8f7a-6b5c-4d3e-9f2a-1b0c9d8e7f6a"
NOW = 1_764_600_000
CONVERSATION = "64619700005694"
CONTACT = "6961d897719c606240178da8"
ESCALATION = "sup_" + "c" * 32


def _documented(secret: str, body: bytes) -> str:
    """Intercom's signed notifications: `sha1=` + the hex HMAC-SHA1 of the raw body keyed with
    the client secret (RFC 2104). Intercom publishes no test vector: its "Signed
    Notifications" example shows a signature but neither the secret nor the exact bytes."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def _delivery(body: bytes, headers: dict[str, str] | None = None) -> Delivery:
    return Delivery(
        body=body,
        headers=headers or {},
        url="https://hub.example.com/webhooks/intercom",
        received_at=NOW,
    )


def _body(topic: str, **item_changes: Any) -> bytes:
    item = conversation(
        topic, conversation_id=CONVERSATION, contact_id=CONTACT, escalation_id=ESCALATION, now=NOW
    )
    item.update(item_changes)
    return envelope(
        topic, item, notification_id="notif_5a1c2b3d-0000-4000-8000-000000000001", now=NOW
    )


def _normalize(body: bytes) -> list[dict[str, Any]]:
    (event,) = CONNECTOR.split(_delivery(body))
    drafts = CONNECTOR.normalize(event)
    for index, draft in enumerate(drafts):  # every event is valid against its schema
        events.validate_event(
            events.build_event(
                partner="intercom",
                partner_event_id=event.partner_event_id,
                index=index,
                draft=draft,
            )
        )
    return [{"type": d.type, "subject": d.subject, "time": d.time, **d.data} for d in drafts]


# -- signature -----------------------------------------------------------------------------


def test_the_signature_is_the_documented_hmac_sha1_of_the_raw_body() -> None:
    body = _body("conversation.user.created") + b"\n"  # every byte is signed

    headers = CONNECTOR.sign(body, SECRET, timestamp=0, url="")

    assert headers["x-hub-signature"] == _documented(SECRET, body)
    assert len(headers["x-hub-signature"]) == len("sha1=") + 40
    CONNECTOR.verify(
        _delivery(body, {"x-hub-signature": _documented(SECRET, body)}), [SECRET], now=NOW
    )


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing_signature"),
        ({"x-hub-signature": ""}, "missing_signature"),
        ({"x-hub-signature": _documented(PREVIOUS, b"{}")}, "signature_mismatch"),  # another body
        ({"x-hub-signature": "sha256=" + "0" * 64}, "signature_mismatch"),  # wrong prefix
    ],
    ids=["missing", "empty", "wrong", "wrong-prefix"],
)
def test_a_missing_wrong_or_misprefixed_signature_is_refused(
    headers: dict[str, str], reason: str
) -> None:
    with pytest.raises(SignatureError) as refused:
        CONNECTOR.verify(_delivery(_body("conversation.user.created"), headers), [SECRET], now=NOW)

    assert refused.value.reason == reason


def test_the_right_digest_without_its_prefix_or_in_upper_case_is_refused() -> None:
    body = _body("conversation.user.created")
    digest = _documented(SECRET, body).removeprefix("sha1=")

    for presented in (digest, f"sha1={digest.upper()}", f"SHA1={digest}"):
        with pytest.raises(SignatureError):
            CONNECTOR.verify(_delivery(body, {"x-hub-signature": presented}), [SECRET], now=NOW)


def test_a_delivery_signed_with_the_previous_secret_verifies_during_a_rotation() -> None:
    body = _body("conversation.admin.closed")
    signed = _delivery(body, {"x-hub-signature": _documented(PREVIOUS, body)})

    CONNECTOR.verify(signed, [SECRET, PREVIOUS], now=NOW)
    with pytest.raises(SignatureError):
        CONNECTOR.verify(signed, [SECRET], now=NOW)


def test_nothing_is_timestamped_so_an_old_notification_still_verifies() -> None:
    """Intercom signs no time: the dedup key on the notification id stops a replay."""
    body = _body("conversation.user.created")

    CONNECTOR.verify(
        _delivery(body, {"x-hub-signature": _documented(SECRET, body)}),
        [SECRET],
        now=NOW + 86_400 * 30,
    )

    assert CONNECTOR.manifest.signs_timestamp is False


# -- split -----------------------------------------------------------------------------------


def test_the_dedup_key_is_the_notification_id_kept_across_retries() -> None:
    body = _body("conversation.user.replied")
    retried = orjson.loads(body) | {"delivery_attempts": 3, "first_sent_at": NOW - 60}

    (event,) = CONNECTOR.split(_delivery(body))
    (again,) = CONNECTOR.split(_delivery(orjson.dumps(retried)))

    assert (event.partner_event_id, event.event_type) == (
        "notif_5a1c2b3d-0000-4000-8000-000000000001",
        "conversation.user.replied",
    )
    assert again.partner_event_id == event.partner_event_id


def test_a_ping_is_acknowledged_and_nothing_is_kept() -> None:
    assert CONNECTOR.split(_delivery(notification("ping"))) == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        orjson.dumps(
            {
                "type": "event",
                "id": "notif_1",
                "topic": "conversation.user.created",
                "data": {"item": {}},
            }
        ),
        orjson.dumps(
            {
                "type": "notification_event",
                "topic": "conversation.user.created",
                "data": {"item": {}},
            }
        ),
        orjson.dumps(
            {
                "type": "notification_event",
                "id": "notif_1",
                "topic": "x" * 256,
                "data": {"item": {}},
            }
        ),
        orjson.dumps({"type": "notification_event", "id": "notif_\x00", "topic": "ping"}),
        orjson.dumps(
            {
                "type": "notification_event",
                "id": "notif_1",
                "topic": "conversation.user.created",
                "data": {"item": []},
            }
        ),
    ],
    ids=["not-json", "not-object", "not-notification", "no-id", "long-topic", "nul-id", "no-item"],
)
def test_a_body_that_is_not_a_notification_is_refused(body: bytes) -> None:
    with pytest.raises(MalformedPayload) as refused:
        CONNECTOR.split(_delivery(body))

    assert refused.value.reason == "malformed_payload"


# -- normalize -------------------------------------------------------------------------------


def test_every_subscribed_topic_is_mapped() -> None:
    assert EVENT_MAP == {
        "conversation.user.created": "support.conversation_opened",
        "conversation.user.replied": "support.message_received",
        "conversation.admin.replied": "support.message_sent",
        "conversation.admin.closed": "support.conversation_closed",
        "conversation.admin.assigned": "support.assignee_changed",
        "conversation_part.tag.created": "support.tag_added",
        "contact.user.tag.created": "support.tag_added",
        "contact.lead.tag.created": "support.tag_added",
    }


def test_a_conversation_opened_carries_the_first_message_as_text_and_the_hubs_id() -> None:
    (opened,) = _normalize(_body("conversation.user.created"))

    assert opened == {
        "type": "support.conversation_opened",
        "subject": CONVERSATION,
        "time": "2025-12-01T14:40:00Z",
        "provider_event_id": "notif_5a1c2b3d-0000-4000-8000-000000000001",
        "conversation_id": CONVERSATION,
        "contact": {"id": CONTACT, "phone": None, "email": None, "name": "Guest +1 305-555-0123"},
        "hub_escalation_id": ESCALATION,
        "body": "No puedo abrir la puerta, el código no funciona\nChannel: sms · Language: es\n"
        f"Escalated for: lockout\nHub reference: {ESCALATION}",
    }


def test_a_customer_reply_is_a_message_received_with_its_part_id() -> None:
    body = _body("conversation.user.replied")

    (received,) = _normalize(body)

    item = orjson.loads(body)["data"]["item"]
    part = item["conversation_parts"]["conversation_parts"][-1]
    assert received["type"] == "support.message_received"
    assert (received["message_id"], received["body"]) == (part["id"], "Sigo sin poder entrar")


def test_an_agents_reply_is_a_message_sent_with_its_author() -> None:
    (sent,) = _normalize(_body("conversation.admin.replied"))

    assert sent["type"] == "support.message_sent"
    assert sent["body"] == "Hola, te envío el código nuevo: 4821"
    assert sent["author"] == {"id": "7441023", "name": "Lucía Romero"}
    assert sent["hub_escalation_id"] == ESCALATION


def test_an_agents_reply_followed_by_a_close_without_a_message_is_the_reply() -> None:
    item = conversation(
        "conversation.admin.replied",
        conversation_id=CONVERSATION,
        contact_id=CONTACT,
        escalation_id=ESCALATION,
        now=NOW,
    )
    parts = item["conversation_parts"]["conversation_parts"]
    reply = next(p for p in reversed(parts) if p["author"]["type"] == "admin")
    closing = {**reply, "id": "31000000001", "part_type": "close", "body": None}
    parts.append(closing)
    body = envelope("conversation.admin.replied", item, notification_id="notif_c", now=NOW)

    (sent,) = _normalize(body)

    assert sent["message_id"] == reply["id"]
    assert sent["body"] == "Hola, te envío el código nuevo: 4821"


def test_an_internal_note_is_never_relayed() -> None:
    item = conversation(
        "conversation.admin.replied",
        conversation_id=CONVERSATION,
        contact_id=CONTACT,
        escalation_id=ESCALATION,
        now=NOW,
    )
    for part in item["conversation_parts"]["conversation_parts"]:
        part["part_type"] = "note"
    noted = envelope("conversation.admin.noted", item, notification_id="notif_n", now=NOW)
    as_reply = envelope("conversation.admin.replied", item, notification_id="notif_r", now=NOW)

    assert _normalize(noted) == []  # the topic is not mapped
    with pytest.raises(MalformedPayload):  # a "reply" whose only part is a note: dead-lettered
        _normalize(as_reply)


def test_closed_and_assigned_name_the_agent() -> None:
    (closed,) = _normalize(_body("conversation.admin.closed"))
    (assigned,) = _normalize(_body("conversation.admin.assigned"))
    (unassigned,) = _normalize(
        _body(
            "conversation.admin.assigned",
            admin_assignee_id=None,
            conversation_parts={"type": "conversation_part.list", "conversation_parts": []},
        )
    )

    assert closed["closed_by"] == {"id": "7441023", "name": "Lucía Romero"}
    assert assigned["assignee"] == {"id": "7441023", "name": None}
    assert unassigned["assignee"] is None


def test_each_tag_added_to_a_conversation_is_one_event() -> None:
    tagged = _normalize(_body("conversation_part.tag.created"))

    assert [(t["tag"], t["target"], t["conversation_id"]) for t in tagged] == [
        ("escalation", "conversation", CONVERSATION),
        ("lockout", "conversation", CONVERSATION),
    ]


@pytest.mark.parametrize("topic", ["contact.user.tag.created", "contact.lead.tag.created"])
def test_a_tag_added_to_a_contact_targets_the_contact_with_its_phone_in_e164(topic: str) -> None:
    (tagged,) = _normalize(notification(topic))

    assert (tagged["tag"], tagged["target"], tagged["conversation_id"]) == ("vip", "contact", None)
    assert tagged["contact"]["phone"] == "+13055550123"
    assert tagged["contact"]["email"] == "maria.gonzalez@example.org"


def test_an_unknown_topic_is_stored_and_ignored() -> None:
    body = envelope(
        "contact.user.created",
        {"type": "contact", "id": CONTACT},
        notification_id="notif_u",
        now=NOW,
    )

    (event,) = CONNECTOR.split(_delivery(body))

    assert event.event_type == "contact.user.created"
    assert CONNECTOR.normalize(event) == []


@pytest.mark.parametrize(
    ("topic", "changes"),
    [
        ("conversation.user.created", {"id": None}),
        ("conversation.user.created", {"id": "9" * 129}),
        ("conversation.user.replied", {"conversation_parts": {"conversation_parts": []}}),
        ("conversation_part.tag.created", {"tags_added": {"tags": [{"name": "x" * 65}]}}),
    ],
    ids=["no-id", "long-id", "no-part", "tag-too-long"],
)
def test_a_notification_missing_what_its_topic_needs_is_dead_lettered_alone(
    topic: str, changes: dict[str, Any]
) -> None:
    (event,) = CONNECTOR.split(_delivery(_body(topic, **changes)))

    with pytest.raises(MalformedPayload):  # the normalizer dead-letters this row only
        CONNECTOR.normalize(event)


def test_only_the_latest_parts_and_the_first_tags_are_read() -> None:
    customer = {"type": "lead", "id": CONTACT}
    parts = [
        {
            "type": "conversation_part",
            "id": str(i),
            "part_type": "comment",
            "body": f"<p>{i}</p>",
            "author": customer,
        }
        for i in range(5 * MAX_PARTS)
    ]
    tags = [{"type": "tag", "id": str(i), "name": f"t{i}"} for i in range(1000)]

    (received,) = _normalize(
        _body("conversation.user.replied", conversation_parts={"conversation_parts": parts})
    )
    tagged = _normalize(_body("conversation_part.tag.created", tags_added={"tags": tags}))

    assert received["message_id"] == str(5 * MAX_PARTS - 1)
    assert len(tagged) == 20


def test_a_contact_field_past_its_bound_is_left_out_rather_than_cut() -> None:
    body = orjson.loads(notification("contact.lead.tag.created"))
    body["data"]["item"]["contact"] |= {"email": "a" * 400 + "@example.org", "phone": "12"}

    (tagged,) = _normalize(orjson.dumps(body))

    assert (tagged["contact"]["email"], tagged["contact"]["phone"]) == (None, None)


def test_the_event_holds_what_the_store_kept() -> None:
    body = _body("conversation.user.created")
    event = PartnerEvent("notif_x", "conversation.user.created", body)

    assert CONNECTOR.normalize(event)[0].data["provider_event_id"] == "notif_x"


# -- text ------------------------------------------------------------------------------------


def test_html_becomes_bounded_plain_text() -> None:
    assert plain_text("<p>Hola &amp; <b>bienvenida</b></p><p>Línea&nbsp;2<br>3</p>") == (
        "Hola & bienvenida\nLínea 2\n3"
    )
    assert plain_text("<script>alert(1)</script><p>ok</p>") == "ok"
    assert plain_text(None) == "" and plain_text("") == ""
    assert len(plain_text("<p>" + "palabra " * 10_000 + "</p>")) == 4096


def test_a_links_address_is_kept_after_its_text() -> None:
    assert plain_text(
        '<p>El código está <a href="https://example.com/door?id=12&amp;x=1">aquí</a>.</p>'
        '<p><a href="https://example.com/a">https://example.com/a</a></p>'
        '<p><a href="javascript:alert(1)">mal</a> <a href="https://x.io/'
        + "a" * 3000
        + '">largo</a></p>'
    ) == (
        "El código está aquí (https://example.com/door?id=12&x=1).\n"
        "https://example.com/a\n"
        "mal largo"
    )


@pytest.mark.parametrize(
    ("written", "normalized"),
    [
        ("+1 (305) 555-0123", "+13055550123"),
        ("0034 612 34 56 78", "+34612345678"),
        ("+52.55.1234.5678", "+525512345678"),
        ("305-555-0123", None),  # no country: not guessed
        ("+0123456789", None),
        ("call me", None),
        (None, None),
        ("+1" + "2" * 50, None),
    ],
)
def test_phone_numbers_become_e164_or_nothing(written: object, normalized: str | None) -> None:
    assert e164(written) == normalized
