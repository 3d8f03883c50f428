"""The support inbox's activities for Front (connectors/support_inbox.py's contract).

Escalate: find the contact by its phone handle (`GET /contacts/alt:phone:...`, else
`POST /contacts`), then import the person's message into HUB_FRONT_INBOX_ID
(`POST /inboxes/{inbox}/imported_messages`, dev.frontapp.com/reference/import-inbox-message).
Import, rather than a custom channel's `incoming_messages`, because it takes an `external_id`
(Front never imports two messages with one external id: the hub message id makes a retried
activity import nothing twice) and threads by `metadata.thread_ref` (the escalation id: every
message of an escalation lands in one conversation) or by `conversation_id` once Front's id is
known (a 404 for it: merged or deleted, so the message goes in by thread_ref alone and the new
conversation's id is returned). The escalation id is also written in the subject (`[sup_...]`), which the webhook reads
back (payloads.escalation_id). Front answers 202 with the message's `message_uid`: the
conversation is found by looking the message up (`GET /messages/alt:uid:...`, a few times with
a growing wait, then the activity is retried), else among the contact's conversations by that
subject. The escalation's tags go in the opening import itself (`tags`: "tag names to add to
the conversation", unknown ones created by Front): no call after the import that could fail an
open whose message is already in Front, and none on a later message (tags go on at open).

Sync tags: Front has no tags on contacts; its contact lists are the contact's groupings, so a
hub tag is the contact list of that name (created when missing): `add` makes the contact a
member, `remove` takes it out (`/contact_lists/{id}/contacts`). Idempotent: membership is read
from the contact (`lists`) first; the contact is the one the hub knows
(`provider_contact_id`) when Front still has it, else found by phone; list names match
whatever their case.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.front.api import MAX_RESULTS, PARTNER, FrontApi, is_front_id
from integration_hub.connectors.front.contact_lists import lists_with
from integration_hub.connectors.front.payloads import last_segment
from integration_hub.connectors.front.settings import FrontSettings
from integration_hub.connectors.outbound import call_failed, refuse
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
from integration_hub.secrets import SecretSource

MAX_SUBJECT = 200
MAX_LINES = 10  # context lines shown to the agent
MAX_ID = 128


def import_body(request: EscalationRequest, *, recipient: str, now: float) -> dict[str, Any]:
    """The import: the person's message as received (inbound, not archived), with the
    escalation's context under it for the agent. Front's rules are skipped (its default for an
    import): the hub already answered the person, and an auto-reply rule would answer every
    imported message again through the inbox's channel; assignment is the inbox's own (its
    round robin or a teammate), and the hub's tags say what the escalation is about."""
    reasons = ", ".join(request.reasons) or "escalation"
    context = [*request.context.lines[:MAX_LINES], f"Channel: {request.channel}",
               f"Language: {request.language}"]  # fmt: skip
    body: dict[str, Any] = {
        "sender": {"handle": request.phone, **({"name": request.name} if request.name else {})},
        "to": [recipient],
        "subject": f"[{request.escalation_id}] Escalation: {reasons}"[:MAX_SUBJECT],
        "body": request.body[:MAX_BODY] + "\n\n---\n" + "\n".join(context),
        "external_id": request.message_id,
        "created_at": int(now),
        "type": "sms",
        "metadata": {
            "thread_ref": request.escalation_id,
            "is_inbound": True,
            "is_archived": False,
            "should_skip_rules": True,
        },
    }
    if request.provider_conversation_id is not None:
        body["conversation_id"] = request.provider_conversation_id
    elif request.tags:
        body["tags"] = list(request.tags)
    return body


class FrontCalls:
    """Front's support activities; built once per worker. `http`, `clock` and `sleep` are
    for tests (the lookup's waits)."""

    def __init__(
        self,
        secrets: SecretSource,
        settings: FrontSettings,
        *,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._sleep = sleep
        self.api = FrontApi(secrets, settings, http=http, clock=clock)

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.escalate, self.sync_tags]

    def preflight(self) -> None:
        """Nothing can be unsafe here: a missing inbox or token refuses the calls, not the hub."""

    def close(self) -> None:
        self.api.close()

    @activity.defn(name=support_activity("front", "escalate"))
    def escalate(self, request: EscalationRequest) -> InboxConversation:
        operation = "escalate"
        inbox = self._settings.inbox_id
        if inbox is None:
            raise refuse(PARTNER, operation, "HUB_FRONT_INBOX_ID is not set")
        _check(operation, request.phone, request.tags)
        if request.provider_conversation_id is not None:
            _path_id(operation, request.provider_conversation_id)
        contact_id = self._contact(request.phone, request.name)
        try:
            accepted = self._import(inbox, request)
        except ApplicationError as error:
            if request.provider_conversation_id is None or error.type != f"{PARTNER}.404":
                raise
            # The conversation the hub knows is gone (merged into another, or deleted): the
            # message goes in by its thread_ref alone and the id Front gives it comes back,
            # which the workflow records in place of the old one.
            request = dataclasses.replace(request, provider_conversation_id=None)
            accepted = self._import(inbox, request)
        conversation_id = request.provider_conversation_id or self._conversation_of(
            accepted, contact_id, request.escalation_id
        )
        return InboxConversation(conversation_id, contact_id)

    def _import(self, inbox: str, request: EscalationRequest) -> Any:
        return self.api.call(
            "messages.import", "POST", f"/inboxes/{inbox}/imported_messages",
            json=import_body(request, recipient=self._settings.recipient_handle, now=self._clock()),
        )  # fmt: skip

    @activity.defn(name=support_activity("front", "sync_tags"))
    def sync_tags(self, request: ContactTagsRequest) -> InboxContact:
        operation = "sync_tags"
        _check(operation, request.phone, (*request.add, *request.remove))
        contact = None
        if request.provider_contact_id is not None:  # first: Front's search may lag its writes
            contact = self._contact_by_id(_path_id(operation, request.provider_contact_id))
        contact = contact or self._contact_record(request.phone, request.name)
        contact_id = str(contact["id"])
        member_of = {str(entry.get("id")) for entry in _entries(contact.get("lists"))}
        lists = lists_with(self.api, request.add) if request.add or request.remove else {}
        body = {"contact_ids": [contact_id]}
        for tag in request.add:
            list_id = lists.get(tag.casefold())
            if list_id is None:
                raise call_failed(
                    PARTNER, operation, status=None, message="a new list is not listed yet"
                )
            if list_id not in member_of:
                self.api.call(
                    "contact_lists.add", "POST", f"/contact_lists/{list_id}/contacts", json=body
                )
                member_of.add(list_id)  # "VIP" and "vip" are one list: added once
        for tag in request.remove:
            list_id = lists.get(tag.casefold())
            if list_id is not None and list_id in member_of:
                self.api.call(
                    "contact_lists.remove",
                    "DELETE",
                    f"/contact_lists/{list_id}/contacts",
                    json=body,
                )
                member_of.discard(list_id)
        return InboxContact(contact_id)

    def _contact_by_id(self, contact_id: str) -> dict[str, Any] | None:
        """The contact the hub knows (from an earlier escalation or sync), None when Front no
        longer has it (deleted or merged): then it is found by its phone like a new one."""
        found = self.api.call("contacts.get", "GET", f"/contacts/{contact_id}", missing_ok=True)
        if not _has_id(found):
            return None
        assert isinstance(found, dict)  # checked above
        _path_id("contacts.get", found["id"])
        return found

    def _contact(self, phone: str, name: str | None) -> str:
        return str(self._contact_record(phone, name)["id"])

    def _contact_record(self, phone: str, name: str | None) -> dict[str, Any]:
        """The contact whose phone handle is `phone`, created when Front has none."""
        path = "/contacts/alt:phone:" + quote(phone, safe="")
        found = self.api.call("contacts.get", "GET", path, missing_ok=True)
        if not _has_id(found):
            handle = {"handles": [{"source": "phone", "handle": phone}]}
            try:
                found = self.api.call("contacts.create", "POST", "/contacts",
                                      json={**({"name": name} if name else {}), **handle})  # fmt: skip
            except ApplicationError as error:
                if error.type != f"{PARTNER}.409":
                    raise
                # Another escalation made it since our lookup (Front: the handle is taken).
                found = self.api.call("contacts.get", "GET", path)
        if not _has_id(found):
            raise call_failed(
                PARTNER, "contacts.get", status=None, message="no contact id in Front's answer"
            )
        assert isinstance(found, dict)  # checked above
        _path_id("contacts.get", found["id"])
        return found

    def _conversation_of(self, accepted: Any, contact_id: str, escalation_id: str) -> str:
        """The conversation Front's asynchronous import made: the message by its uid, a few
        times with a growing wait; else the contact's conversation that carries the escalation
        id in its subject (a retried import that Front deduplicated); else a retryable error."""
        uid = accepted.get("message_uid") if isinstance(accepted, dict) else None
        delay = self._settings.lookup_delay_seconds
        for attempt in range(self._settings.lookup_attempts if isinstance(uid, str) else 0):
            if attempt:
                self._sleep(delay * 2 ** (attempt - 1))
            message = self.api.call(
                "messages.get",
                "GET",
                "/messages/alt:uid:" + quote(str(uid), safe=""),
                missing_ok=True,
            )
            links = message.get("_links") if isinstance(message, dict) else None
            related = links.get("related") if isinstance(links, dict) else None
            found = last_segment(related.get("conversation")) if isinstance(related, dict) else None
            if found is not None and found.startswith("cnv_"):
                return _path_id("messages.get", found)
        marker = f"[{escalation_id}]"
        for conversation in self.api.listing(
            "contacts.conversations", f"/contacts/{contact_id}/conversations?limit={MAX_RESULTS}"
        ):
            subject, found = conversation.get("subject"), conversation.get("id")
            if isinstance(subject, str) and marker in subject and isinstance(found, str):
                return _path_id("contacts.conversations", found)
        raise call_failed(
            PARTNER,
            "messages.get",
            status=None,
            message="the imported message's conversation is not there yet",
        )


def _entries(value: Any) -> list[dict[str, Any]]:
    return (
        [e for e in value[:MAX_RESULTS] if isinstance(e, dict)] if isinstance(value, list) else []
    )


def _has_id(value: Any) -> bool:
    found = value.get("id") if isinstance(value, dict) else None
    return isinstance(found, str) and 0 < len(found) <= MAX_ID


def _path_id(operation: str, value: str) -> str:
    """`value` when it is one of Front's ids, else a refusal: it goes into a request path."""
    if not is_front_id(value):
        raise refuse(PARTNER, operation, "an id that is not one of Front's")
    return value


def _check(operation: str, phone: str, tags: Sequence[str]) -> None:
    """Refused before any call: what the contract bounds (the core bounds it first)."""
    if not E164.fullmatch(phone):
        raise refuse(PARTNER, operation, "the phone is not an E.164 number")
    if len(tags) > 2 * MAX_TAGS or any(not 0 < len(tag) <= MAX_TAG for tag in tags):
        raise refuse(PARTNER, operation, f"at most {MAX_TAGS} tags of {MAX_TAG} characters each")
