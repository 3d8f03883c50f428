"""Front application webhooks: the signature as Front documents it, the setup challenge, and
the mapping of every relayed type to its support.* event."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson
import pytest

from integration_hub import events
from integration_hub.connectors.base import Delivery, PartnerEvent
from integration_hub.connectors.front import PARTNER
from integration_hub.connectors.front.samples import sample_payload
from integration_hub.connectors.front.webhook import EVENT_MAP, FrontConnector
from integration_hub.connectors.partner import WebhookContext
from integration_hub.errors import MalformedPayload, SignatureError

SECRET = "3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e"
OLD_SECRET = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
NOW = 1_750_000_000.0
CONNECTOR = FrontConnector(tolerance_seconds=300)


def front_signature(body: bytes, secret: str, timestamp_ms: str) -> str:
    """Written from dev.frontapp.com/docs/application-webhooks, not from the hub's scheme:
    the timestamp header, a colon and the raw body, HMAC-SHA256 with the signing key, base64."""
    message = (timestamp_ms + ":").encode() + body
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def delivery(body: bytes, *, secret: str = SECRET, stamp: str | None = None,
             extra: dict[str, str] | None = None) -> Delivery:  # fmt: skip
    stamp = stamp if stamp is not None else str(int(NOW * 1000))
    headers = {
        "x-front-signature": front_signature(body, secret, stamp),
        "x-front-request-timestamp": stamp,
        "content-type": "application/json",
        **(extra or {}),
    }
    return Delivery(body, headers, "https://hub.example.com/webhooks/front", NOW)


def normalized(event_type: str, **options: Any) -> list[events.InternalEventDraft]:
    body = sample_payload(event_type, **options)
    (event,) = CONNECTOR.split(delivery(body))
    drafts = CONNECTOR.normalize(event)
    for index, draft in enumerate(drafts):
        built = events.build_event(
            partner="front", partner_event_id=event.partner_event_id, index=index, draft=draft
        )
        events.validate_event(built)
    return drafts


# --- signature ---------------------------------------------------------------------------


def test_a_delivery_signed_as_front_documents_verifies() -> None:
    CONNECTOR.verify(delivery(sample_payload("inbound_received")), [SECRET], now=NOW)


def test_the_hubs_own_signing_matches_the_reference() -> None:
    body = sample_payload("tag_added")
    signed = CONNECTOR.sign(body, SECRET, timestamp=int(NOW), url="")
    assert signed["x-front-request-timestamp"] == str(int(NOW) * 1000)
    assert signed["x-front-signature"] == front_signature(body, SECRET, str(int(NOW) * 1000))


@pytest.mark.parametrize(
    ("case", "change"),
    [
        ("wrong key", lambda d: delivery(d.body, secret="another-signing-key-00")),
        ("tampered body", lambda d: Delivery(d.body + b" ", d.headers, d.url, NOW)),
        (
            "no signature",
            lambda d: Delivery(d.body, {"x-front-request-timestamp": "1"}, d.url, NOW),
        ),
    ],
)
def test_a_bad_signature_is_refused(case: str, change: Any) -> None:
    with pytest.raises(SignatureError):
        CONNECTOR.verify(change(delivery(sample_payload("inbound_received"))), [SECRET], now=NOW)


def test_a_missing_timestamp_is_refused() -> None:
    signed = delivery(sample_payload("inbound_received"))
    headers = {"x-front-signature": signed.headers["x-front-signature"]}
    with pytest.raises(SignatureError) as refused:
        CONNECTOR.verify(Delivery(signed.body, headers, signed.url, NOW), [SECRET], now=NOW)
    assert refused.value.reason == "missing_signature"


@pytest.mark.parametrize("offset_seconds", [-301, 301])
def test_a_stale_or_future_timestamp_is_refused(offset_seconds: int) -> None:
    stamp = str(int((NOW + offset_seconds) * 1000))
    with pytest.raises(SignatureError) as refused:
        CONNECTOR.verify(delivery(b"{}", stamp=stamp), [SECRET], now=NOW)
    assert refused.value.reason == "timestamp_out_of_tolerance"


def test_a_timestamp_within_the_window_in_milliseconds_verifies() -> None:
    stamp = str(int((NOW - 299.5) * 1000))
    CONNECTOR.verify(delivery(b"{}", stamp=stamp), [SECRET], now=NOW)


@pytest.mark.parametrize(
    "stamp", ["1750000000000.5", "abc", "-1750000000000", "\uff11\uff17\uff15\uff10"]
)
def test_a_timestamp_that_is_not_a_number_is_refused(stamp: str) -> None:
    with pytest.raises(SignatureError) as refused:
        CONNECTOR.verify(delivery(b"{}", stamp=stamp), [SECRET], now=NOW)
    assert refused.value.reason == "malformed_signature"


def test_a_delivery_signed_with_the_previous_secret_verifies_while_it_is_current() -> None:
    signed = delivery(sample_payload("outbound_sent"), secret=OLD_SECRET)
    CONNECTOR.verify(signed, [SECRET, OLD_SECRET], now=NOW)
    with pytest.raises(SignatureError):
        CONNECTOR.verify(signed, [SECRET], now=NOW)


# --- the setup challenge -----------------------------------------------------------------


def test_the_signed_challenge_is_echoed_as_plain_text_and_stores_nothing() -> None:
    challenge = {"x-front-challenge": "Zr3kP9qLw2Xy"}
    signed = delivery(sample_payload("sync"), extra=challenge)
    CONNECTOR.verify(signed, [SECRET], now=NOW)

    stored = CONNECTOR.split(signed)

    assert stored == []
    assert CONNECTOR.respond(signed, stored) == ("text/plain; charset=utf-8", b"Zr3kP9qLw2Xy")


def test_an_unsigned_challenge_is_refused_before_anything_answers_it() -> None:
    body = sample_payload("sync")
    forged = Delivery(body, {"x-front-challenge": "abc", "x-front-request-timestamp":
                             str(int(NOW * 1000))}, "", NOW)  # fmt: skip
    with pytest.raises(SignatureError):
        CONNECTOR.verify(forged, [SECRET], now=NOW)
    with pytest.raises(SignatureError):
        CONNECTOR.verify(delivery(body, secret="not-the-key-0000", extra={"x-front-challenge":
                                                                          "abc"}), [SECRET], now=NOW)  # fmt: skip


@pytest.mark.parametrize("challenge", ["", "a b", "<script>", "x" * 257, "é"])
def test_a_challenge_the_hub_would_not_echo_is_refused(challenge: str) -> None:
    signed = delivery(sample_payload("sync"), extra={"x-front-challenge": challenge})
    with pytest.raises(MalformedPayload) as refused:
        CONNECTOR.split(signed)
    assert refused.value.reason == "malformed_challenge"


def test_an_event_is_answered_with_the_edges_summary() -> None:
    signed = delivery(sample_payload("inbound_received"))
    assert CONNECTOR.respond(signed, CONNECTOR.split(signed)) is None


# --- the company (HUB_FRONT_COMPANY_ID) ---------------------------------------------------


OURS = FrontConnector(tolerance_seconds=300, company_id="cmp_3f8a2")  # the samples' company


def _from_company(event_type: str, company: object) -> bytes:
    document = orjson.loads(sample_payload(event_type))
    document["authorization"] = {"id": company} if company is not None else None
    return orjson.dumps(document)


@pytest.mark.parametrize("company", ["cmp_other", None, 7])
def test_an_event_from_another_company_is_refused_when_one_is_set(company: object) -> None:
    with pytest.raises(MalformedPayload) as refused:
        OURS.split(delivery(_from_company("inbound_received", company)))
    assert refused.value.reason == "foreign_company"
    # Any company, when none is set.
    assert CONNECTOR.split(delivery(_from_company("inbound_received", company)))


def test_the_companys_own_events_and_challenge_are_taken() -> None:
    (event,) = OURS.split(delivery(sample_payload("tag_added")))
    assert OURS.normalize(event)
    challenge = delivery(sample_payload("sync"), extra={"x-front-challenge": "Zr3kP9qLw2Xy"})
    assert OURS.split(challenge) == []


def test_another_companys_setup_challenge_is_refused() -> None:
    challenge = delivery(_from_company("sync", "cmp_other"), extra={"x-front-challenge": "Zr3k"})
    with pytest.raises(MalformedPayload) as refused:
        OURS.split(challenge)
    assert refused.value.reason == "foreign_company"


def test_the_declared_connector_reads_hub_front_company_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_FRONT_COMPANY_ID", "cmp_3f8a2")
    connector = PARTNER.webhook(WebhookContext(tolerance_seconds=300))
    assert isinstance(connector, FrontConnector) and connector.company_id == "cmp_3f8a2"
    with pytest.raises(MalformedPayload):
        connector.split(delivery(_from_company("inbound_received", "cmp_other")))


# --- split -------------------------------------------------------------------------------


def test_the_dedup_key_is_the_events_id() -> None:
    body = sample_payload("inbound_received", event_id="evt_55c8c149")
    (event,) = CONNECTOR.split(delivery(body))
    assert (event.partner_event_id, event.event_type, event.body) == (
        "evt_55c8c149",
        "inbound_received",
        body,
    )


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"payload": {"id": "evt_1"}}',
        b'{"type": "inbound_received"}',
        b'{"type": "inbound_received", "payload": {"id": 7}}',
        b'{"type": "inbound_received", "payload": {"id": "evt 1"}}',
        orjson.dumps({"type": "x" * 65, "payload": {"id": "evt_1"}}),
    ],
)
def test_a_malformed_payload_is_refused_with_a_reason(body: bytes) -> None:
    with pytest.raises(MalformedPayload) as refused:
        CONNECTOR.split(delivery(body))
    assert refused.value.reason


def test_an_unknown_type_and_a_comment_are_stored_but_relay_nothing() -> None:
    for kind in ("new_comment_added", "link_added"):
        body = sample_payload(kind)
        (event,) = CONNECTOR.split(delivery(body))
        assert event.event_type == kind
        assert CONNECTOR.normalize(event) == []


# --- mapping -----------------------------------------------------------------------------


def test_an_inbound_message_is_a_message_received_in_plain_text() -> None:
    (draft,) = normalized("inbound_received")
    data = draft.data
    assert draft.type == "support.message_received"
    assert data["body"] == "Estoy afuera y la cerradura no abre, ¿me ayudan? Urgente"
    assert data["message_id"].startswith("msg_")
    assert data["contact"] == {"id": "crd_2njtoem", "phone": "+13055550123", "email": None,
                               "name": "María González"}  # fmt: skip
    assert data["hub_escalation_id"] == "sup_01jcx4k9m2"
    assert draft.subject == data["conversation_id"]


def test_the_first_message_of_a_conversation_also_opens_it() -> None:
    opened, received = normalized("inbound_received", first_message=True)
    assert (opened.type, received.type) == ("support.conversation_opened",
                                            "support.message_received")  # fmt: skip
    assert opened.data["body"] == received.data["body"]


def test_an_agents_reply_is_a_message_sent_with_its_author() -> None:
    (draft,) = normalized("outbound_sent", escalation_id=None)
    assert draft.type == "support.message_sent"
    assert draft.data["body"] == "Hola María, te enviamos el código nuevo: 4821.\nSaludos"
    assert draft.data["author"] == {"id": "tea_6r55a", "name": "Lucía Pérez"}
    assert draft.data["hub_escalation_id"] is None
    assert draft.data["contact"]["phone"] == "+13055550123"


def _outbound(change: Any) -> list[events.InternalEventDraft]:
    (event,) = CONNECTOR.split(delivery(_changed("outbound_sent", change)))
    return CONNECTOR.normalize(event)


def _recipients(message: dict[str, Any], handle: str, role: str = "to") -> None:
    message["recipients"] = [{"handle": handle, "role": role, "name": None},
                             {"handle": "+13055550100", "role": "from", "name": "Escalations"}]  # fmt: skip


def test_an_agents_message_to_someone_else_is_not_relayed_to_the_guest() -> None:
    """A forward to the owner, a message to another number or an e-mail: the core would
    relay any message_sent to the guest's phone."""
    for handle in ("+13055550999", "owner@example.com"):
        assert _outbound(lambda e, h=handle: _recipients(e["target"]["data"], h)) == []
    # The guest only in copy, not a `to` recipient: not a reply to the guest either.
    assert _outbound(lambda e: _recipients(e["target"]["data"], "+13055550123", "cc")) == []
    (relayed,) = _outbound(lambda e: _recipients(e["target"]["data"], "+13055550123"))
    assert relayed.type == "support.message_sent"


def test_a_conversation_without_a_phone_guest_relays_no_message() -> None:
    def change(event: dict[str, Any]) -> None:
        event["conversation"]["recipient"]["handle"] = "maria@example.org"
        _recipients(event["target"]["data"], "maria@example.org")

    assert _outbound(change) == []


def test_a_message_with_no_teammate_author_is_not_relayed() -> None:
    """A rule's auto-reply (or an API-sent message) has no teammate author."""
    assert _outbound(lambda e: e["target"]["data"].update(author=None)) == []


def test_archive_reopen_assign_and_tag() -> None:
    (closed,) = normalized("conversation_archived")
    assert (closed.type, closed.data["closed_by"]) == (
        "support.conversation_closed", {"id": "tea_6r55a", "name": "Lucía Pérez"})  # fmt: skip
    (reopened,) = normalized("conversation_reopened")
    assert (reopened.type, reopened.data["body"]) == ("support.conversation_opened", None)
    (assigned,) = normalized("assignee_changed")
    assert assigned.data["assignee"] == {"id": "tea_6r55a", "name": "Lucía Pérez"}
    (tagged,) = normalized("tag_added")
    assert (tagged.data["tag"], tagged.data["target"]) == ("vip", "conversation")


def _changed(event_type: str, change: Any) -> bytes:
    document = orjson.loads(sample_payload(event_type))
    change(document["payload"])
    return orjson.dumps(document)


@pytest.mark.parametrize(
    "source",
    [
        {"_meta": {"type": "api"}, "data": None},  # the hub's API token
        {"_meta": {"type": "rule"}, "data": {"id": "rul_1", "name": "Tag escalations"}},
        None,
    ],
)
def test_a_tag_no_teammate_added_is_not_relayed(source: dict[str, Any] | None) -> None:
    """The hub's own conversation tags would come back as tag_added (and a rule's tags are
    no agent's): only a teammate's tag is relayed."""
    (event,) = CONNECTOR.split(delivery(_changed("tag_added", lambda e: e.update(source=source))))
    assert CONNECTOR.normalize(event) == []


def test_an_unassignment_has_no_assignee() -> None:
    body = _changed("assignee_changed", lambda e: e.update(type="unassign", target=None))
    (event,) = CONNECTOR.split(delivery(body))
    (draft,) = CONNECTOR.normalize(event)
    assert draft.data["assignee"] is None


def test_a_handle_that_is_not_e164_is_no_phone_and_an_email_is_kept() -> None:
    def change(event: dict[str, Any]) -> None:
        event["target"]["data"]["recipients"][0]["handle"] = "maria@example.org"

    (event,) = CONNECTOR.split(delivery(_changed("inbound_received", change)))
    (draft,) = CONNECTOR.normalize(event)
    assert draft.data["contact"]["phone"] is None
    assert draft.data["contact"]["email"] == "maria@example.org"


def test_a_huge_html_body_is_bounded_plain_text() -> None:
    def change(event: dict[str, Any]) -> None:
        event["target"]["data"]["body"] = (
            "<p>" + "<b>ayuda</b> " * 50_000 + "</p><script>x</script>"
        )

    (event,) = CONNECTOR.split(delivery(_changed("inbound_received", change)))
    (draft,) = CONNECTOR.normalize(event)
    assert len(draft.data["body"]) == 4096
    assert "<" not in draft.data["body"]


def test_an_event_of_another_shape_relays_nothing() -> None:
    """A payload whose Front type is not what its webhook type carries, or with no
    conversation, is stored and ignored (never a half-filled support event)."""
    for body in (
        _changed("inbound_received", lambda e: e.update(type="comment")),
        _changed("tag_added", lambda e: e.pop("conversation")),
        _changed("tag_added", lambda e: e["target"]["data"].pop("name")),
    ):
        (event,) = CONNECTOR.split(delivery(body))
        assert CONNECTOR.normalize(event) == []


def test_every_mapped_type_has_a_sample() -> None:
    for event_type in EVENT_MAP:
        (event,) = CONNECTOR.split(delivery(sample_payload(event_type)))
        assert isinstance(event, PartnerEvent)
        assert CONNECTOR.normalize(event)
