"""The support inbox activities on Intercom (connectors/support_inbox.py): `escalate` opens a
conversation from the guest's or cleaner's contact (or adds their message to it), tagged and
carrying the hub's escalation id; `sync_tags` mirrors the hub's tags on the contact.

Requests (REST API 2.11): contacts by phone `POST /contacts/search`, else `POST /contacts`
(a lead); `POST /conversations` with `from` the contact; later messages as the contact's
replies `POST /conversations/{id}/reply` (type user); the escalation id in the conversation's
custom attribute `hub_escalation_id` (`PUT /conversations/{id}`); tags by name `POST /tags`
(creates it or returns the existing one), on the conversation with an admin id (`GET /me`) and
on the contact (`POST /contacts/{id}/tags`, `DELETE /contacts/{id}/tags/{tag_id}`).

Intercom takes no idempotency key, so the hub records what each attempt made before the next
call (guard.py): the contact found or created for an escalation (recorded, since Intercom's
contact search may miss a contact created minutes ago), the conversation it opened, each
message it added. A retry reuses them. An attempt whose answer was lost (no response, or a
5xx) leaves its row `unknown`: the retry looks among the contact's conversations created
since for the one whose first message names the escalation (looked for again for a few
minutes, as Intercom's search may not show it yet), and a message whose outcome was lost fails
the activity for good (a repeated message, or a second conversation, is worse than an
escalation an operator completes by hand). The attribute and the tags go on at open only, best effort once the conversation
is recorded (steps.py), and are simply applied again by a retry (both are idempotent).
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine
from temporalio import activity

from integration_hub.connectors.intercom import ACCESS_TOKEN, ESCALATION_ATTRIBUTE, PARTNER
from integration_hub.connectors.intercom.api import IntercomApi, unreadable
from integration_hub.connectors.intercom.guard import Recorder
from integration_hub.connectors.intercom.settings import IntercomSettings
from integration_hub.connectors.intercom.steps import best_effort, step_failed
from integration_hub.connectors.outbound import refuse
from integration_hub.connectors.support_inbox import (
    MAX_BODY,
    MAX_TAG,
    MAX_TAGS,
    ContactTagsRequest,
    EscalationRequest,
    InboxContact,
    InboxConversation,
    support_activity,
)
from integration_hub.errors import UnsafeConfiguration
from integration_hub.secrets import SecretSource

NAME = PARTNER.name
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
CONTACT_ID = re.compile(r"[0-9A-Za-z_-]{1,59}")  # goes into a path (Intercom's: 24 hex)
MAX_RECORDED_ID = 64  # outbound_messages.partner_message_id
MAX_CONTACT_ID = MAX_RECORDED_ID - len("lead:")  # recorded as "<role>:<id>"
MAX_FOUND = 5  # contacts read from a search answer
MAX_CONTACT_TAGS = 200  # tags read from a contact's list
MAX_CONTEXT_LINES = 20
MAX_HUB_ID = 100  # keys `intercom.<what>/<hub id>` fit outbound_messages.message_id (128)
MAX_SEARCHED = 20  # conversations read from a search answer (Intercom's default page)
MAX_SOURCE = 64 * 1024  # characters of a first message searched for the reference
CLOCK_SKEW = 60  # seconds: Intercom's created_at against the hub's clock
# Intercom's search "may take a few minutes" to show a new conversation: a lost open that is
# not found yet is looked for again until then (guard.py).
SEARCH_LAG = timedelta(minutes=10)
# The steps after an open are best effort and must leave the activity time to return (the
# core's CALL_TIMEOUT is 30 s): a short timeout per request, and no new tag after STEPS_TIME.
STEP_TIMEOUT = httpx.Timeout(5.0, connect=3.0)
STEPS_TIME = 8.0
MAX_CACHED_TAGS = 1000


def first_message(request: EscalationRequest) -> str:
    """The opening message: what the person wrote, then the context an agent needs (plain
    text: Intercom's create-conversation body takes no HTML)."""
    lines = [request.body, "", f"Channel: {request.channel} · Language: {request.language}"]
    if request.reasons:
        lines.append("Escalated for: " + ", ".join(request.reasons))
    lines += [line[:200] for line in request.context.lines[:MAX_CONTEXT_LINES]]
    lines.append(reference(request))
    return "\n".join(lines)


def reference(request: EscalationRequest) -> str:
    """The line of the first message that names the escalation (a lost attempt is found by it)."""
    return f"Hub reference: {request.escalation_id}"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _intercom_id(value: Any) -> str | None:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    ok = isinstance(text, str) and 0 < len(text) <= MAX_RECORDED_ID and text.isprintable()
    return text if ok else None


class IntercomCalls:
    """Intercom's inbox activities; built once per worker. `http` and `clock` are for tests."""

    def __init__(
        self,
        secrets: SecretSource,
        settings: IntercomSettings,
        *,
        engine: Engine,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._recorder = Recorder(engine, clock)
        self.api = IntercomApi(secrets, settings, http=http, clock=clock)
        self._admin_id: str | None = None
        self._admin_lock = threading.Lock()
        self._tag_ids: dict[str, str] = {}
        self._tags_lock = threading.Lock()

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.escalate, self.sync_tags]

    def close(self) -> None:
        self.api.close()

    def preflight(self) -> None:
        token = self.api.token()
        if token is not None and not re.fullmatch(PARTNER.secret(ACCESS_TOKEN).format, token):
            raise UnsafeConfiguration(f"{ACCESS_TOKEN} does not look like an Intercom token")

    # -- Intercom requests ----------------------------------------------------------------

    def _call(self, operation: str, method: str, path: str, body: Any = None) -> Any:
        return self.api.call(operation, method, path, body)  # finds, or idempotent

    def _find_contact(self, phone: str) -> tuple[str, str] | None:
        query = {"query": {"field": "phone", "operator": "=", "value": phone}}
        found = self._call("contacts.search", "POST", "/contacts/search", query)
        data = _dict(found).get("data")
        for contact in data[:MAX_FOUND] if isinstance(data, list) else []:
            contact_id = _intercom_id(_dict(contact).get("id"))
            if contact_id is not None and len(contact_id) <= MAX_CONTACT_ID:
                role = "user" if contact.get("role") == "user" else "lead"
                return role, contact_id
        return None

    def _contact(self, phone: str, name: str | None) -> tuple[str, str]:
        """(role, id) of the contact with this phone; a new lead when there is none."""
        found = self._find_contact(phone)
        if found is not None:
            return found
        body: dict[str, Any] = {"role": "lead", "phone": phone}
        if name:
            body["name"] = name[:255]
        created = self._call("contacts.create", "POST", "/contacts", body)
        contact_id = _intercom_id(_dict(created).get("id"))
        if contact_id is None or len(contact_id) > MAX_CONTACT_ID:
            raise refuse(NAME, "contacts.create", "Intercom's answer has no contact id")
        return "lead", contact_id

    def _recorded_contact(self, key: str, phone: str, name: str | None) -> str:
        """The contact found or created for `key` as "<role>:<id>", recorded (Intercom's
        contact search may miss a contact created minutes ago; the record does not)."""

        def find_or_create() -> str:
            return ":".join(self._contact(phone, name))

        return self._recorder.once(
            key,
            phone,
            "contacts.find_or_create",
            find_or_create,
            # A lost contact step runs again: at worst a duplicate lead, never a conversation.
            recover=lambda _: find_or_create(),
        )

    def _admin(self) -> str:
        with self._admin_lock:
            if self._admin_id is None:
                me = self._call("me", "GET", "/me")
                admin_id = _intercom_id(_dict(me).get("id"))
                if admin_id is None:
                    raise refuse(NAME, "me", "Intercom's answer has no admin id")
                self._admin_id = admin_id
            return self._admin_id

    def _tag_id(self, name: str) -> str:
        """The id of the tag named `name` (created when Intercom has none), kept by this
        instance: a tag's id never changes."""
        with self._tags_lock:
            if (cached := self._tag_ids.get(name)) is not None:
                return cached
        tag = self._call("tags.create", "POST", "/tags", {"name": name})
        tag_id = _intercom_id(_dict(tag).get("id"))
        if tag_id is None:
            raise refuse(NAME, "tags.create", "Intercom's answer has no tag id")
        with self._tags_lock:
            if len(self._tag_ids) >= MAX_CACHED_TAGS:
                self._tag_ids.clear()
            self._tag_ids[name] = tag_id
        return tag_id

    # -- activities ---------------------------------------------------------------------------

    @activity.defn(name=support_activity(NAME, "escalate"))
    def escalate(self, request: EscalationRequest) -> InboxConversation:
        operation = "escalate"
        _check(operation, request.phone, request.tags)
        if len(request.body) > MAX_BODY:
            raise refuse(NAME, operation, f"the message is over {MAX_BODY} characters")
        if max(len(request.escalation_id), len(request.message_id)) > MAX_HUB_ID:
            raise refuse(NAME, operation, f"hub ids are at most {MAX_HUB_ID} characters")
        recorded = self._recorded_contact(
            f"intercom.contact/{request.escalation_id}", request.phone, request.name
        )
        role, _, contact_id = recorded.partition(":")
        conversation_id = request.provider_conversation_id
        if conversation_id is None:
            conversation_id = self._recorder.once(
                f"intercom.open/{request.escalation_id}",
                request.phone,
                "conversations.create",
                lambda: self._open(request, role, contact_id),
                recover=lambda claimed_at: self._opened_before(request, contact_id, claimed_at),
                search_lag=SEARCH_LAG,
            )
            self._label(request, conversation_id)
        else:
            self._recorder.once(
                f"intercom.message/{request.message_id}",
                request.phone,
                "conversations.reply",
                lambda: self._reply(request, contact_id, conversation_id),
            )
        return InboxConversation(conversation_id, contact_id)

    def _label(self, request: EscalationRequest, conversation_id: str) -> None:
        """The escalation id attribute and the tags on a conversation just opened (or found
        opened): best effort (steps.py), in at most STEPS_TIME seconds, tags only at open."""
        deadline = time.monotonic() + STEPS_TIME
        path = f"/conversations/{conversation_id}"
        attributes = {"custom_attributes": {ESCALATION_ATTRIBUTE: request.escalation_id}}
        best_effort(
            "attribute", lambda: self._step("conversations.update", "PUT", path, attributes)
        )
        for name in list(dict.fromkeys(request.tags))[:MAX_TAGS]:
            if time.monotonic() > deadline:
                step_failed("out_of_time", "tags left unapplied")
                return
            best_effort("tag", functools.partial(self._tag, path, name))

    def _tag(self, path: str, name: str) -> None:
        tag = {"id": self._tag_id(name), "admin_id": self._admin()}
        self._step("conversations.tag", "POST", f"{path}/tags", tag)

    def _step(self, operation: str, method: str, path: str, body: Any = None) -> Any:
        return self.api.call(operation, method, path, body, timeout=STEP_TIMEOUT)

    def _open(self, request: EscalationRequest, role: str, contact_id: str) -> str:
        body = {"from": {"type": role, "id": contact_id}, "body": first_message(request)}
        created = self.api.call(
            "conversations.create", "POST", "/conversations", body, creates=True
        )
        conversation_id = _intercom_id(_dict(created).get("conversation_id"))
        if conversation_id is None:  # opened, but which one is unknown: looked for by a retry
            raise unreadable("conversations.create", 200)
        return conversation_id

    def _opened_before(
        self, request: EscalationRequest, contact_id: str, claimed_at: datetime
    ) -> str | None:
        """The conversation a lost attempt opened: the contact's, created since the attempt
        was claimed, whose first message carries this escalation's id (checked here: Intercom's
        `~` on `source.body` matches single words, not a line; "Search conversations",
        REST API 2.11). The search index lags new conversations by minutes, so the caller
        retries a miss for a while (guard.py)."""
        since = int(claimed_at.timestamp()) - CLOCK_SKEW
        query = {
            "query": {
                "operator": "AND",
                "value": [
                    {"field": "contact_ids", "operator": "=", "value": contact_id},
                    {"field": "created_at", "operator": ">", "value": since},
                ],
            },
            "pagination": {"per_page": MAX_SEARCHED},
        }
        found = self._call("conversations.search", "POST", "/conversations/search", query)
        listed = _dict(found).get("conversations")
        for conversation in listed[:MAX_SEARCHED] if isinstance(listed, list) else []:
            body = _dict(_dict(conversation).get("source")).get("body")
            conversation_id = _intercom_id(_dict(conversation).get("id"))
            if conversation_id is None or not isinstance(body, str):
                continue
            if re.search(rf"\b{re.escape(request.escalation_id)}\b", body[:MAX_SOURCE]):
                return conversation_id
        return None

    def _reply(self, request: EscalationRequest, contact_id: str, conversation_id: str) -> str:
        body = {
            "message_type": "comment",
            "type": "user",
            "intercom_user_id": contact_id,
            "body": request.body,
        }
        path = f"/conversations/{conversation_id}/reply"
        answer = self.api.call("conversations.reply", "POST", path, body, creates=True)
        parts = _dict(_dict(answer).get("conversation_parts")).get("conversation_parts")
        last = parts[-1] if isinstance(parts, list) and parts else None
        return _intercom_id(_dict(last).get("id")) or ""

    @activity.defn(name=support_activity(NAME, "sync_tags"))
    def sync_tags(self, request: ContactTagsRequest) -> InboxContact:
        _check("sync_tags", request.phone, request.add + request.remove)
        contact_id = request.provider_contact_id
        if contact_id is not None and not CONTACT_ID.fullmatch(contact_id):
            raise refuse(NAME, "sync_tags", "the contact id is not one of Intercom's")
        if contact_id is None:
            # Keyed by the phone's digest: a retry, or the next sync, reuses the contact made
            # for this phone even while Intercom's contact search does not show it yet.
            digest = hashlib.sha256(request.phone.encode()).hexdigest()[:40]
            recorded = self._recorded_contact(
                f"intercom.contact/phone-{digest}", request.phone, request.name
            )
            contact_id = recorded.partition(":")[2]
        path = f"/contacts/{contact_id}/tags"
        listed = _dict(self._call("contacts.tags", "GET", path)).get("data")
        present: dict[str, str] = {}
        for tag in listed[:MAX_CONTACT_TAGS] if isinstance(listed, list) else []:
            name, tag_id = _dict(tag).get("name"), _intercom_id(_dict(tag).get("id"))
            if isinstance(name, str) and tag_id is not None:
                present[name] = tag_id
        for name in dict.fromkeys(request.add):
            if name not in present:
                self._call("contacts.tag", "POST", path, {"id": self._tag_id(name)})
        for name in dict.fromkeys(request.remove):
            if name in present and name not in request.add:
                self._call("contacts.untag", "DELETE", f"{path}/{present[name]}")
        return InboxContact(contact_id)


def _check(operation: str, phone: str, tags: Sequence[str]) -> None:
    if not E164.fullmatch(phone):
        raise refuse(NAME, operation, "the phone number is not E.164")
    if len(tags) > 2 * MAX_TAGS or any(not tag or len(tag) > MAX_TAG for tag in tags):
        raise refuse(NAME, operation, f"at most {MAX_TAGS} tags of 1 to {MAX_TAG} characters")
