"""The two support inboxes seen the same way by the round-trip tests: how a hub is pointed at
the inbox's local stand-in (tests/connectors/<inbox>/support.py), what the stand-in holds, and
the inbox's signed webhooks built from its package's samples with the ids of what the hub made."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from integration_hub.connectors.front.samples import GUEST_PHONE
from integration_hub.connectors.front.samples import sample_payload as front_payload
from integration_hub.connectors.intercom.samples import ADMIN, contact_tag, conversation, envelope
from integration_hub.testing import sign_as
from tests.connectors.front.support import INBOX as FRONT_INBOX
from tests.connectors.front.support import TOKEN as FRONT_TOKEN
from tests.connectors.front.support import FakeFront
from tests.connectors.intercom.support import TOKEN as INTERCOM_TOKEN
from tests.connectors.intercom.support import FakeIntercom
from tests.helpers import TWILIO_WHATSAPP_NUMBER, webhook_secret
from tests.partner_server import RecordedRequest, Reply

Delivery = tuple[str, bytes, dict[str, str]]  # the webhook path, the body, its signed headers


@dataclass(frozen=True)
class Opened:
    """One conversation in the stand-in, as the agent sees it."""

    conversation_id: str
    contact_id: str
    contact_phone: str
    first: str  # the opening message with its context
    later: list[str]  # the messages added to it afterwards
    tags: set[str]


class Inbox(Protocol):
    name: str
    reply_text: str  # the agent's reply as the guest should read it

    def __call__(self, request: RecordedRequest) -> Reply: ...
    def environment(self, api_url: str) -> dict[str, str]: ...
    def secrets(self) -> dict[str, str]: ...
    def opened(self) -> list[Opened]: ...
    def contact_tags(self, phone: str) -> set[str]: ...
    def contacts(self, phone: str) -> int: ...
    def reply(self, opened: Opened, escalation_id: str, event_id: str) -> Delivery: ...
    def note(self, opened: Opened, escalation_id: str, event_id: str) -> Delivery: ...
    def close(self, opened: Opened, escalation_id: str, event_id: str) -> Delivery: ...
    def tag(self, contact_id: str, phone: str, tag: str, event_id: str) -> Delivery: ...
    def conversation_tag(
        self, opened: Opened, escalation_id: str, tag: str, event_id: str
    ) -> Delivery: ...


def event_id() -> str:
    return f"evt_{uuid.uuid4().hex[:12]}"


@dataclass
class IntercomInbox:
    fake: FakeIntercom = field(default_factory=FakeIntercom)
    name: str = "intercom"
    reply_text: str = "Hola, te envío el código nuevo: 4821"

    def __call__(self, request: RecordedRequest) -> Reply:
        return self.fake(request)

    def environment(self, api_url: str) -> dict[str, str]:
        return {"HUB_INTERCOM_API_BASE_URL": api_url}

    def secrets(self) -> dict[str, str]:
        return {"INTERCOM_ACCESS_TOKEN": INTERCOM_TOKEN}

    def opened(self) -> list[Opened]:
        names = {tag_id: name for name, tag_id in self.fake.tags.items()}
        return [
            Opened(cid, c["contact"], self.fake.contacts[c["contact"]]["phone"], c["source"],
                   list(c["parts"]), {names[t] for t in c["tags"]})
            for cid, c in self.fake.conversations.items()
        ]  # fmt: skip

    def contacts(self, phone: str) -> int:
        return sum(c["phone"] == phone for c in self.fake.contacts.values())

    def contact_tags(self, phone: str) -> set[str]:
        names = {tag_id: name for name, tag_id in self.fake.tags.items()}
        return {
            names[t] for c in self.fake.contacts.values() if c["phone"] == phone for t in c["tags"]
        }

    def _signed(self, topic: str, item: dict[str, Any], notification_id: str) -> Delivery:
        body = envelope(topic, item, notification_id=notification_id, now=int(time.time()))
        secret = webhook_secret("intercom").encode()
        digest = hmac.new(secret, body, hashlib.sha1).hexdigest()
        headers = {"X-Hub-Signature": f"sha1={digest}", "Content-Type": "application/json"}
        return "/webhooks/intercom", body, headers

    def _conversation(self, topic: str, opened: Opened, escalation_id: str) -> dict[str, Any]:
        return conversation(
            topic, conversation_id=opened.conversation_id, contact_id=opened.contact_id,
            escalation_id=escalation_id, now=int(time.time()),
        )  # fmt: skip

    def reply(self, opened: Opened, escalation_id: str, event_id: str) -> Delivery:
        item = self._conversation("conversation.admin.replied", opened, escalation_id)
        return self._signed("conversation.admin.replied", item, event_id)

    def close(self, opened: Opened, escalation_id: str, event_id: str) -> Delivery:
        item = self._conversation("conversation.admin.closed", opened, escalation_id)
        return self._signed("conversation.admin.closed", item, event_id)

    def note(self, opened: Opened, escalation_id: str, event_id: str) -> Delivery:
        item = self._conversation("conversation.admin.noted", opened, escalation_id)
        now = int(time.time())
        note = {"type": "conversation_part", "id": "30000000999", "part_type": "note",
                "body": "<p>Llamé al huésped, no contesta</p>", "created_at": now,
                "updated_at": now, "notified_at": now, "assigned_to": None, "author": ADMIN,
                "attachments": [], "external_id": None, "redacted": False}  # fmt: skip
        item["conversation_parts"] = {"type": "conversation_part.list",
                                      "conversation_parts": [note], "total_count": 1}  # fmt: skip
        return self._signed("conversation.admin.noted", item, event_id)

    def tag(self, contact_id: str, phone: str, tag: str, event_id: str) -> Delivery:
        item = contact_tag("contact.lead.tag.created", contact_id=contact_id, tag=tag)
        item["contact"]["phone"] = f"{phone[:3]} {phone[3:6]} {phone[6:9]} {phone[9:]}"  # as typed
        return self._signed("contact.lead.tag.created", item, event_id)

    def conversation_tag(
        self, opened: Opened, escalation_id: str, tag: str, event_id: str
    ) -> Delivery:
        # The conversation names its contact by id only: the hub knows it from the escalation.
        item = conversation(
            "conversation_part.tag.created", conversation_id=opened.conversation_id,
            contact_id=opened.contact_id, escalation_id=escalation_id, now=int(time.time()),
            tags=(tag,),
        )  # fmt: skip
        return self._signed("conversation_part.tag.created", item, event_id)


@dataclass
class FrontInbox:
    fake: FakeFront = field(default_factory=FakeFront)
    name: str = "front"
    reply_text: str = "Hola María, te enviamos el código nuevo: 4821.\nSaludos"

    def __call__(self, request: RecordedRequest) -> Reply:
        return self.fake(request)

    def environment(self, api_url: str) -> dict[str, str]:
        self.fake.base_url = api_url
        return {
            "HUB_FRONT_API_BASE_URL": api_url,
            "HUB_FRONT_INBOX_ID": FRONT_INBOX,
            "HUB_FRONT_RECIPIENT_HANDLE": TWILIO_WHATSAPP_NUMBER,
            "HUB_FRONT_LOOKUP_DELAY_SECONDS": "0",  # the import's lookups: no waits in tests
        }

    def secrets(self) -> dict[str, str]:
        return {"FRONT_API_TOKEN": FRONT_TOKEN}

    def _phone(self, contact_id: str) -> str:
        handles = self.fake.contacts[contact_id]["handles"]
        return next(str(h["handle"]) for h in handles if h["source"] == "phone")

    def opened(self) -> list[Opened]:
        found = []
        for cid, c in self.fake.conversations.items():
            imports = [m["import"] for m in self.fake.messages.values() if m["conversation"] == cid]
            tags = set(self.fake.conversation_tags.get(cid, []))  # the import names its tags
            found.append(Opened(cid, c["contact"], self._phone(c["contact"]), imports[0]["body"],
                                [m["body"] for m in imports[1:]], tags))  # fmt: skip
        return found

    def contacts(self, phone: str) -> int:
        return sum(self._phone(contact_id) == phone for contact_id in self.fake.contacts)

    def contact_tags(self, phone: str) -> set[str]:
        return {
            entry["name"]
            for contact_id, contact in self.fake.contacts.items()
            if self._phone(contact_id) == phone
            for entry in contact["lists"]
        }

    def _signed(self, body: bytes, contact_id: str, phone: str) -> Delivery:
        # The samples' guest is crd_2njtoem at +13055550123: this conversation's is another.
        body = body.replace(b"crd_2njtoem", contact_id.encode())
        body = body.replace(GUEST_PHONE.encode(), phone.encode())
        return "/webhooks/front", body, sign_as("front", body, secret=webhook_secret("front"))

    def reply(self, opened: Opened, escalation_id: str, event_id: str) -> Delivery:
        body = front_payload("outbound_sent", event_id=event_id,
                             conversation_id=opened.conversation_id, escalation_id=escalation_id)  # fmt: skip
        return self._signed(body, opened.contact_id, opened.contact_phone)

    def close(self, opened: Opened, escalation_id: str, event_id: str) -> Delivery:
        body = front_payload("conversation_archived", event_id=event_id,
                             conversation_id=opened.conversation_id, escalation_id=escalation_id)  # fmt: skip
        return self._signed(body, opened.contact_id, opened.contact_phone)

    def note(self, opened: Opened, escalation_id: str, event_id: str) -> Delivery:
        body = front_payload("new_comment_added", event_id=event_id,
                             conversation_id=opened.conversation_id, escalation_id=escalation_id)  # fmt: skip
        return self._signed(body, opened.contact_id, opened.contact_phone)

    def tag(self, contact_id: str, phone: str, tag: str, event_id: str) -> Delivery:
        # Front tags conversations (tag_added), not contacts: the guest's conversation.
        (conversation_id,) = [c for c, v in self.fake.conversations.items()
                              if v["contact"] == contact_id]  # fmt: skip
        opened = Opened(conversation_id, contact_id, phone, "", [], set())
        return self._tagged(opened, None, tag, event_id)

    def conversation_tag(
        self, opened: Opened, escalation_id: str, tag: str, event_id: str
    ) -> Delivery:
        return self._tagged(opened, escalation_id, tag, event_id)

    def _tagged(
        self, opened: Opened, escalation_id: str | None, tag: str, event_id: str
    ) -> Delivery:
        body = front_payload("tag_added", event_id=event_id,
                             conversation_id=opened.conversation_id, escalation_id=escalation_id)  # fmt: skip
        payload = orjson.loads(body)
        payload["payload"]["target"]["data"]["name"] = tag
        return self._signed(orjson.dumps(payload), opened.contact_id, opened.contact_phone)


def make_inbox(name: str) -> Inbox:
    return IntercomInbox() if name == "intercom" else FrontInbox()
