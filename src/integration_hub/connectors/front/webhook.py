"""Front application webhooks (dev.frontapp.com/docs/application-webhooks).

Signing: `x-front-signature` is the base64 HMAC-SHA256, keyed with the app's signing key, of
`x-front-request-timestamp` (milliseconds), ":" and the raw body; the hub refuses a timestamp
outside HUB_SIGNATURE_TOLERANCE_SECONDS (Front recommends 5 minutes, docs/security-1). The
shared HMAC scheme does all of it, against every current secret version.

Setup: when the webhook is saved, Front posts a signed `{"type": "sync", "authorization":
{...}}` with an `x-front-challenge` header and expects a 200 echoing the challenge (plain text
is one of the answers it takes) within 10 seconds: `split` stores nothing for it and `respond`
answers the challenge, after the signature checked like any delivery.

Events: `{"type": <app webhook type>, "authorization": {"id": "cmp_..."}, "payload": <Front
event>}` (with HUB_FRONT_COMPANY_ID set, another company's are refused), deduplicated on the event's `id` (evt_..., the same across Front's retries). Mapped:
`inbound_received` (plus support.conversation_opened when the conversation began with that
message), `outbound_sent` (a teammate's message or reply, Front's `outbound` / `out_reply`, relayed only
when one of its `to` recipients is the conversation's guest: rules' auto-replies and messages
to anyone else are stored and never relayed),
`conversation_archived`, `conversation_reopened` (opened again), `assignee_changed` (assign or
unassign) and `tag_added` (on the conversation, by a teammate: the hub's own tags and rules'
are not relayed). Internal comments (`new_comment_added`) and
every other type are stored and never relayed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson
import structlog

from integration_hub.connectors.base import Delivery, InternalEventDraft, Manifest, PartnerEvent
from integration_hub.connectors.front import WEBHOOK_SECRET
from integration_hub.connectors.front import payloads as p
from integration_hub.connectors.front.samples import sample_payload
from integration_hub.connectors.schemes.common import DEFAULT_TOLERANCE_SECONDS
from integration_hub.connectors.schemes.hmac import HmacScheme
from integration_hub.errors import MalformedPayload

log = structlog.get_logger(__name__)

CHALLENGE_HEADER = "x-front-challenge"
SIGNATURE_HEADER = "x-front-signature"
TIMESTAMP_HEADER = "x-front-request-timestamp"
JSON = "application/json"
SETUP_TYPE = "sync"  # the validation request's body type
MAX_TYPE = 64
_EVENT_ID = re.compile(r"[A-Za-z0-9_]{1,128}")  # evt_ + base 36
# What the hub echoes: Front's challenge is a random token; anything else is not echoed.
_CHALLENGE = re.compile(r"[A-Za-z0-9._~+/=-]{1,256}")

EVENT_MAP = {
    "inbound_received": "support.message_received",  # first: `hub send front` and doctor
    "outbound_sent": "support.message_sent",
    "conversation_archived": "support.conversation_closed",
    "conversation_reopened": "support.conversation_opened",
    "assignee_changed": "support.assignee_changed",
    "tag_added": "support.tag_added",
}
# Front's event types (payload.type) an app webhook type may carry; another one is not what
# the type maps to (a rule webhook's preview, a payload of another shape): nothing relayed.
_CORE_TYPES = {
    "inbound_received": {"inbound"},
    "outbound_sent": {"outbound", "out_reply"},
    "conversation_archived": {"archive"},
    "conversation_reopened": {"reopen"},
    "assignee_changed": {"assign", "unassign"},
    "tag_added": {"tag"},
}


class FrontConnector:
    """Verifies and signs on the shared HMAC scheme; answers the challenge itself (a
    `SchemeSigned` answers the edge's JSON only)."""

    manifest = Manifest(
        name="front",
        webhook_secret=WEBHOOK_SECRET,
        kept_headers=frozenset({"content-type", "user-agent", TIMESTAMP_HEADER}),
        event_map=EVENT_MAP,
    )

    def __init__(
        self, *, tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS, company_id: str | None = None
    ) -> None:
        self.company_id = company_id
        self.scheme = HmacScheme(
            header=SIGNATURE_HEADER,
            algorithm="sha256",
            encoding="base64",
            timestamp_header=TIMESTAMP_HEADER,
            separator=b":",
            timestamp_unit="ms",
            tolerance_seconds=tolerance_seconds,
        )

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: float) -> None:
        self.scheme.verify(delivery.headers, delivery.body, secrets, now=now)

    def sign(self, body: bytes, secret: str, *, timestamp: int, url: str) -> dict[str, str]:
        return {**self.scheme.sign(body, secret, timestamp=timestamp), "Content-Type": JSON}

    def split(self, delivery: Delivery) -> list[PartnerEvent]:
        if CHALLENGE_HEADER in delivery.headers:
            if not _CHALLENGE.fullmatch(delivery.headers[CHALLENGE_HEADER]):
                raise MalformedPayload(
                    "x-front-challenge is not a token the hub echoes", reason="malformed_challenge"
                )
            if self.company_id is not None:
                self._check_company(_envelope(delivery.body))
            return []  # the setup request: answered by `respond`, stored nowhere
        envelope = _envelope(delivery.body)
        self._check_company(envelope)
        kind = envelope.get("type")
        if not isinstance(kind, str) or not 0 < len(kind) <= MAX_TYPE:
            raise MalformedPayload(f"the webhook needs a string `type` of {MAX_TYPE} at most")
        if kind == SETUP_TYPE:
            return []  # a validation request without its challenge: nothing to store
        event = envelope.get("payload")
        event_id = event.get("id") if isinstance(event, dict) else None
        if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
            raise MalformedPayload("the webhook needs a `payload` event with its `id` (evt_...)")
        return [PartnerEvent(event_id, kind, delivery.body)]

    def _check_company(self, envelope: dict[str, Any]) -> None:
        """With HUB_FRONT_COMPANY_ID set, the webhook's `authorization.id` must be it: the app
        installed in another company signs with the same key, and its events are no hub's."""
        if self.company_id is None:
            return
        if p.part(envelope, "authorization").get("id") != self.company_id:
            raise MalformedPayload(
                "the webhook is from another Front company than HUB_FRONT_COMPANY_ID",
                reason="foreign_company",
            )

    def respond(
        self, delivery: Delivery, events: Sequence[PartnerEvent]
    ) -> tuple[str, bytes] | None:
        """The setup challenge echoed as plain text (split checked its shape); else the
        edge's JSON summary."""
        challenge = delivery.headers.get(CHALLENGE_HEADER)
        if challenge is None or events:
            return None
        return ("text/plain; charset=utf-8", challenge.encode("ascii"))

    def normalize(self, event: PartnerEvent) -> list[InternalEventDraft]:
        internal_type = EVENT_MAP.get(event.event_type)
        if internal_type is None:
            return []
        front = orjson.loads(event.body).get("payload")
        core_type = front.get("type") if isinstance(front, dict) else None
        if not isinstance(core_type, str) or core_type not in _CORE_TYPES[event.event_type]:
            return []
        assert isinstance(front, dict)  # checked with its type
        target = p.part(p.part(front, "target"), "data")
        conversation_id = p.text(p.part(front, "conversation").get("id"), p.MAX_ID)
        message = target if event.event_type in ("inbound_received", "outbound_sent") else None
        common: dict[str, Any] = {
            "provider_event_id": event.partner_event_id,
            "conversation_id": conversation_id,
            "contact": p.contact_of(
                front, message if event.event_type == "inbound_received" else None
            ),
            "hub_escalation_id": p.escalation_id(front, message),
        }
        if conversation_id is None:  # every mapped Front event is about a conversation
            return []
        drafts = _drafts(event.event_type, front, target, common)
        return [
            InternalEventDraft(type=kind, subject=conversation_id, time=p.time_of(front), data=data)
            for kind, data in drafts
        ]

    def sample(self, event_type: str) -> bytes:
        return sample_payload(event_type)


def _envelope(body: bytes) -> dict[str, Any]:
    try:
        envelope = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedPayload("body is not JSON") from None
    if not isinstance(envelope, dict):
        raise MalformedPayload("an application webhook is a JSON object")
    return envelope


def _drafts(
    kind: str, front: dict[str, Any], target: p.Obj, common: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    """(internal type, data) for one mapped event; empty when it lacks what its type needs."""
    if kind in ("inbound_received", "outbound_sent"):
        message_id = p.text(target.get("id"), p.MAX_ID)
        if message_id is None:
            return []
        body = p.plain_text(target)
        message = {**common, "message_id": message_id, "body": body}
        if kind == "outbound_sent":
            author = p.teammate(target.get("author"))
            if author is None or not p.to_guest(front, target):
                # A rule's auto-reply has no teammate author; a message to someone else is
                # not for the guest: the core would relay either to the guest's phone.
                reason = "no teammate author" if author is None else "not addressed to the guest"
                log.info("front_outbound_not_relayed", reason=reason)
                return []
            return [("support.message_sent", {**message, "author": author})]
        drafts = [("support.message_received", message)]
        if p.is_first_message(front, target):
            drafts.insert(0, ("support.conversation_opened", {**common, "body": body or None}))
        return drafts
    if kind == "conversation_archived":
        source = p.part(front, "source")
        closer = source.get("data") if p.part(source, "_meta").get("type") == "teammate" else None
        return [("support.conversation_closed", {**common, "closed_by": p.teammate(closer)})]
    if kind == "conversation_reopened":
        return [("support.conversation_opened", {**common, "body": None})]
    if kind == "assignee_changed":
        assignee = p.teammate(target) if front.get("type") == "assign" else None
        return [("support.assignee_changed", {**common, "assignee": assignee})]
    tag = p.text(target.get("name"), p.MAX_TAG)
    if tag is None:
        return []
    # A tag event's source is a teammate or a rule (dev.frontapp.com/reference/events), and
    # the hub's own tags, put on with its API token, are no teammate's: only what an agent
    # tagged is news for the core; the hub's tags and rules' would echo back as tag_added.
    if p.part(p.part(front, "source"), "_meta").get("type") != "teammate":
        log.info("front_tag_not_relayed", reason="not tagged by a teammate")
        return []
    return [("support.tag_added", {**common, "tag": tag, "target": "conversation"})]
