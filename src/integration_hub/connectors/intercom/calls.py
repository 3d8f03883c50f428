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
call, in `outbound_messages` (the guard SendGrid and Twilio sends use): the contact found or
created for an escalation, the conversation it opened, each message it added. A retry reuses
them. An attempt whose answer was lost (sent, no response) leaves its row `unknown` and the
activity fails without a retry: a second conversation or a repeated message is worse than an
escalation an operator completes by hand. Setting the attribute and applying tags are
idempotent and simply run again.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.intercom import ACCESS_TOKEN, ESCALATION_ATTRIBUTE, PARTNER
from integration_hub.connectors.intercom.api import IntercomApi, NoAnswer
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
from integration_hub.errors import UnsafeConfiguration
from integration_hub.secrets import SecretSource
from integration_hub.storage import outbound_messages
from integration_hub.storage.engine import begin_write

NAME = PARTNER.name
CHANNEL = "support"  # outbound_messages.channel of what this module records
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
MAX_RECORDED_ID = 64  # outbound_messages.partner_message_id
MAX_CONTACT_ID = MAX_RECORDED_ID - len("lead:")  # recorded as "<role>:<id>"
MAX_FOUND = 5  # contacts read from a search answer
MAX_CONTACT_TAGS = 200  # tags read from a contact's list
MAX_CONTEXT_LINES = 20


def first_message(request: EscalationRequest) -> str:
    """The opening message: what the person wrote, then the context an agent needs (plain
    text: Intercom's create-conversation body takes no HTML)."""
    lines = [request.body, "", f"Channel: {request.channel} · Language: {request.language}"]
    if request.reasons:
        lines.append("Escalated for: " + ", ".join(request.reasons))
    lines += [line[:200] for line in request.context.lines[:MAX_CONTEXT_LINES]]
    lines.append(f"Hub reference: {request.escalation_id}")
    return "\n".join(lines)


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
        self._engine = engine
        self.api = IntercomApi(secrets, settings, http=http, clock=clock)
        self._admin_id: str | None = None
        self._admin_lock = threading.Lock()

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.escalate, self.sync_tags]

    def preflight(self) -> None:
        token = self.api.token()
        if token is not None and not re.fullmatch(PARTNER.secret(ACCESS_TOKEN).format, token):
            raise UnsafeConfiguration(f"{ACCESS_TOKEN} does not look like an Intercom token")

    # -- what earlier attempts made ------------------------------------------------------

    def _claim(self, key: str, phone: str, operation: str) -> str | None:
        """The id an earlier attempt recorded under `key`, or None after marking it `sending`
        (this attempt makes it); refuses when an earlier outcome was lost."""
        with begin_write(self._engine) as connection:
            record = outbound_messages.claim_outbound_message(
                connection, message_id=key, partner=NAME, channel=CHANNEL, to_address=phone
            )
            if record["to_address"] != phone or record["channel"] != CHANNEL:
                raise refuse(NAME, operation, f"{key} was made for another contact")
            if record["state"] == "sent":
                return str(record["partner_message_id"] or "")
            if record["state"] in ("sending", "unknown"):
                raise ApplicationError(
                    f"{key}: an earlier attempt's outcome is unknown; not making it again",
                    type=f"{NAME}.outcome_unknown",
                    non_retryable=True,
                )
            outbound_messages.update_outbound_message(
                connection, message_id=key, state="sending", attempts=record["attempts"] + 1
            )
        return None

    def _settle(
        self, key: str, state: str, made: str | None = None, note: str | None = None
    ) -> None:
        with begin_write(self._engine) as connection:
            outbound_messages.update_outbound_message(
                connection, message_id=key, state=state, partner_message_id=made, last_error=note
            )

    def _once(self, key: str, phone: str, operation: str, make: Callable[[], str]) -> str:
        """`make()` at most once for `key` across attempts; its id is recorded before the
        activity goes on."""
        earlier = self._claim(key, phone, operation)
        if earlier is not None:
            return earlier
        try:
            made = make()
        except NoAnswer as lost:
            self._settle(key, "unknown", note="no answer")
            raise lost.error from None
        except Exception as failed:  # nothing was made (Intercom answered with an error)
            self._settle(key, "failed", note=type(failed).__name__)
            raise
        self._settle(key, "sent", made)
        return made

    # -- Intercom requests ----------------------------------------------------------------

    def _call(self, operation: str, method: str, path: str, body: Any = None) -> Any:
        try:
            return self.api.call(operation, method, path, body)
        except NoAnswer as lost:  # nothing is created here: a retry is safe
            raise lost.error from None

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
        tag = self._call("tags.create", "POST", "/tags", {"name": name})
        tag_id = _intercom_id(_dict(tag).get("id"))
        if tag_id is None:
            raise refuse(NAME, "tags.create", "Intercom's answer has no tag id")
        return tag_id

    # -- activities ---------------------------------------------------------------------------

    @activity.defn(name=support_activity(NAME, "escalate"))
    def escalate(self, request: EscalationRequest) -> InboxConversation:
        operation = "escalate"
        _check(operation, request.phone, request.tags)
        if len(request.body) > MAX_BODY:
            raise refuse(NAME, operation, f"the message is over {MAX_BODY} characters")
        recorded = self._once(
            f"intercom.contact/{request.escalation_id}",
            request.phone,
            "contacts.find_or_create",
            lambda: ":".join(self._contact(request.phone, request.name)),
        )
        role, _, contact_id = recorded.partition(":")
        conversation_id = request.provider_conversation_id
        if conversation_id is None:
            conversation_id = self._once(
                f"intercom.open/{request.escalation_id}",
                request.phone,
                "conversations.create",
                lambda: self._open(request, role, contact_id),
            )
        else:
            self._once(
                f"intercom.message/{request.message_id}",
                request.phone,
                "conversations.reply",
                lambda: self._reply(request, contact_id, conversation_id),
            )
        path = f"/conversations/{conversation_id}"
        attributes = {"custom_attributes": {ESCALATION_ATTRIBUTE: request.escalation_id}}
        self._call("conversations.update", "PUT", path, attributes)
        for name in dict.fromkeys(request.tags):
            tag = {"id": self._tag_id(name), "admin_id": self._admin()}
            self._call("conversations.tag", "POST", f"{path}/tags", tag)
        return InboxConversation(conversation_id, contact_id)

    def _open(self, request: EscalationRequest, role: str, contact_id: str) -> str:
        body = {"from": {"type": role, "id": contact_id}, "body": first_message(request)}
        created = self.api.call("conversations.create", "POST", "/conversations", body)
        conversation_id = _intercom_id(_dict(created).get("conversation_id"))
        if conversation_id is None:
            raise refuse(NAME, "conversations.create", "Intercom's answer has no conversation id")
        return conversation_id

    def _reply(self, request: EscalationRequest, contact_id: str, conversation_id: str) -> str:
        body = {
            "message_type": "comment",
            "type": "user",
            "intercom_user_id": contact_id,
            "body": request.body,
        }
        answer = self.api.call(
            "conversations.reply", "POST", f"/conversations/{conversation_id}/reply", body
        )
        parts = _dict(_dict(answer).get("conversation_parts")).get("conversation_parts")
        last = parts[-1] if isinstance(parts, list) and parts else None
        return _intercom_id(_dict(last).get("id")) or ""

    @activity.defn(name=support_activity(NAME, "sync_tags"))
    def sync_tags(self, request: ContactTagsRequest) -> InboxContact:
        _check("sync_tags", request.phone, request.add + request.remove)
        _, contact_id = self._contact(request.phone, request.name)
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
