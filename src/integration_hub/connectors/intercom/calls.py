"""The support inbox activities on Intercom (connectors/support_inbox.py): `escalate` opens a
conversation from the guest's or cleaner's contact (or adds their message to it), tagged and
carrying the hub's escalation id; `sync_tags` mirrors the hub's tags on the contact.

Requests (REST API 2.11): the contact the hub knows `GET /contacts/{id}` (for its role; a 404,
a merged or deleted contact, falls back to the phone), else by phone `POST /contacts/search`,
else `POST /contacts` (a lead); `POST /conversations` with `from` the contact; later messages as the contact's
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
minutes, as Intercom's search may not show it yet; still missing after that, the lost attempt
made nothing, as in an outage's 5xx, and the conversation is opened again), and a message
whose outcome was lost fails the activity for good (a repeated message is worse than an
escalation an operator completes by hand). The attribute and the tags go on at open only,
best effort once the conversation is recorded (labels.py); a retry applies them again (both
are idempotent). `sync_tags` uses the contact the hub knows (a 404 falls back to the phone),
else the one recorded for the phone, so a lagging contact search makes no second lead.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Engine
from temporalio import activity

from integration_hub.connectors.intercom import ACCESS_TOKEN, PARTNER
from integration_hub.connectors.intercom.api import (
    IntercomApi,
    as_dict,
    intercom_id,
    unreadable,
)
from integration_hub.connectors.intercom.contacts import CONTACT_ID, Contacts
from integration_hub.connectors.intercom.guard import Recorder
from integration_hub.connectors.intercom.labels import Labels
from integration_hub.connectors.intercom.recovery import (
    SEARCH_LAG,
    opened_conversation,
    search_query,
)
from integration_hub.connectors.intercom.settings import IntercomSettings
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
from integration_hub.connectors.text import E164
from integration_hub.errors import UnsafeConfiguration
from integration_hub.secrets import SecretSource

NAME = PARTNER.name
MAX_CONTACT_TAGS = 200  # tags read from a contact's list
MAX_CONTEXT_LINES = 20
MAX_HUB_ID = 100  # keys `intercom.<what>/<hub id>` fit outbound_messages.message_id (128)


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
        self.labels = Labels(self.api)
        self.contacts = Contacts(self.api, self._recorder)

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

    # -- activities ---------------------------------------------------------------------------

    @activity.defn(name=support_activity(NAME, "escalate"))
    def escalate(self, request: EscalationRequest) -> InboxConversation:
        operation = "escalate"
        _check(operation, request.phone, request.tags)
        if len(request.body) > MAX_BODY:
            raise refuse(NAME, operation, f"the message is over {MAX_BODY} characters")
        if max(len(request.escalation_id), len(request.message_id)) > MAX_HUB_ID:
            raise refuse(NAME, operation, f"hub ids are at most {MAX_HUB_ID} characters")
        role, contact_id = self.contacts.for_escalation(
            request.escalation_id, request.provider_contact_id, request.phone, request.name
        )
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
            self.labels.label(conversation_id, request.escalation_id, request.tags)
        else:
            self._recorder.once(
                f"intercom.message/{request.message_id}",
                request.phone,
                "conversations.reply",
                lambda: self._reply(request, contact_id, conversation_id),
            )
        return InboxConversation(conversation_id, contact_id)

    def _open(self, request: EscalationRequest, role: str, contact_id: str) -> str:
        body = {"from": {"type": role, "id": contact_id}, "body": first_message(request)}
        created = self.api.call(
            "conversations.create", "POST", "/conversations", body, creates=True
        )
        conversation_id = intercom_id(as_dict(created).get("conversation_id"))
        if conversation_id is None:  # opened, but which one is unknown: looked for by a retry
            raise unreadable("conversations.create", 200)
        return conversation_id

    def _opened_before(
        self, request: EscalationRequest, contact_id: str, claimed_at: datetime
    ) -> str | None:
        """The conversation a lost attempt opened (recovery.py), or None."""
        query = search_query(contact_id, claimed_at)
        found = self._call("conversations.search", "POST", "/conversations/search", query)
        return opened_conversation(found, request.escalation_id)

    def _reply(self, request: EscalationRequest, contact_id: str, conversation_id: str) -> str:
        body = {
            "message_type": "comment",
            "type": "user",
            "intercom_user_id": contact_id,
            "body": request.body,
        }
        path = f"/conversations/{conversation_id}/reply"
        answer = self.api.call("conversations.reply", "POST", path, body, creates=True)
        parts = as_dict(as_dict(answer).get("conversation_parts")).get("conversation_parts")
        last = parts[-1] if isinstance(parts, list) and parts else None
        return intercom_id(as_dict(last).get("id")) or ""

    @activity.defn(name=support_activity(NAME, "sync_tags"))
    def sync_tags(self, request: ContactTagsRequest) -> InboxContact:
        _check("sync_tags", request.phone, request.add + request.remove)
        contact_id = request.provider_contact_id
        if contact_id is not None and not CONTACT_ID.fullmatch(contact_id):
            raise refuse(NAME, "sync_tags", "the contact id is not one of Intercom's")
        answer = None
        if contact_id is not None:  # None when Intercom no longer has it (merged, deleted)
            answer = self.api.call(
                "contacts.tags", "GET", f"/contacts/{contact_id}/tags", absent_ok=True
            )
        if contact_id is None or answer is None:
            contact_id = self.contacts.for_phone(request.phone, request.name)[1]
            answer = self._call("contacts.tags", "GET", f"/contacts/{contact_id}/tags")
        path = f"/contacts/{contact_id}/tags"
        listed = as_dict(answer).get("data")
        present: dict[str, str] = {}
        for tag in listed[:MAX_CONTACT_TAGS] if isinstance(listed, list) else []:
            name, tag_id = as_dict(tag).get("name"), intercom_id(as_dict(tag).get("id"))
            if isinstance(name, str) and tag_id is not None:
                present[name] = tag_id
        for name in dict.fromkeys(request.add):
            if name not in present:
                self._call("contacts.tag", "POST", path, {"id": self.labels.tag_id(name)})
        for name in dict.fromkeys(request.remove):
            if name in present and name not in request.add:
                self._call("contacts.untag", "DELETE", f"{path}/{present[name]}")
        return InboxContact(contact_id)


def _check(operation: str, phone: str, tags: Sequence[str]) -> None:
    if not E164.fullmatch(phone):
        raise refuse(NAME, operation, "the phone number is not E.164")
    if len(tags) > 2 * MAX_TAGS or any(not tag or len(tag) > MAX_TAG for tag in tags):
        raise refuse(NAME, operation, f"at most {MAX_TAGS} tags of 1 to {MAX_TAG} characters")
