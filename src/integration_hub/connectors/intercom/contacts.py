"""The Intercom contact an activity acts for: the one the hub knows (`GET /contacts/{id}`, for
its role; a 404, a merged or deleted contact, falls back to the phone), else the one found by
phone (`POST /contacts/search`), else a new lead (`POST /contacts`). What is found or created
for a phone is recorded (guard.py), since Intercom's contact search may miss a contact created
minutes ago: per escalation, or for a tag sync under a keyed digest of the phone.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

from integration_hub.connectors.intercom import ACCESS_TOKEN
from integration_hub.connectors.intercom.api import (
    MAX_RECORDED_ID,
    IntercomApi,
    as_dict,
    intercom_id,
)
from integration_hub.connectors.intercom.guard import Recorder
from integration_hub.connectors.outbound import refuse

NAME = "intercom"
CONTACT_ID = re.compile(r"[0-9A-Za-z_-]{1,59}")  # goes into a path (Intercom's: 24 hex)
MAX_CONTACT_ID = MAX_RECORDED_ID - len("lead:")  # recorded as "<role>:<id>"
MAX_FOUND = 5  # contacts read from a search answer
# Derives the phone-digest key from the access token's value: a plain hash of a phone number
# is undone by hashing every number, and the record's key shows in errors and rows.
PHONE_KEY_LABEL = b"integration-hub intercom.contact phone key"


def phone_key(token: str, phone: str) -> str:
    """The record key of the contact made for `phone`: an HMAC keyed by the workspace's access
    token, stable while the token is (a rotated token costs one more contact search)."""
    secret = hmac.new(token.encode(), PHONE_KEY_LABEL, hashlib.sha256).digest()
    digest = hmac.new(secret, phone.encode(), hashlib.sha256).hexdigest()[:40]
    return f"intercom.contact/phone-hmac-{digest}"


class Contacts:
    def __init__(self, api: IntercomApi, recorder: Recorder) -> None:
        self._api = api
        self._recorder = recorder

    def known(self, operation: str, contact_id: str) -> tuple[str, str] | None:
        """(role, id) of the contact the hub knows, or None when Intercom no longer has it."""
        if not CONTACT_ID.fullmatch(contact_id):
            raise refuse(NAME, operation, "the contact id is not one of Intercom's")
        found = self._api.call("contacts.get", "GET", f"/contacts/{contact_id}", absent_ok=True)
        if found is None:
            return None
        if intercom_id(as_dict(found).get("id")) != contact_id:
            raise refuse(NAME, "contacts.get", "Intercom's answer is not the contact asked for")
        return ("user" if as_dict(found).get("role") == "user" else "lead"), contact_id

    def for_escalation(
        self, escalation_id: str, known: str | None, phone: str, name: str | None
    ) -> tuple[str, str]:
        """(role, id): the contact the hub knows first, else the one found or created for the
        phone (recorded per escalation)."""
        if known is not None and (found := self.known("escalate", known)) is not None:
            return found
        return self.recorded(f"intercom.contact/{escalation_id}", phone, name)

    def for_phone(self, phone: str, name: str | None) -> tuple[str, str]:
        """(role, id) found or created for the phone, recorded under its keyed digest: a retry,
        or the next sync, reuses it while Intercom's contact search does not show it yet."""
        token = self._api.token()
        if token is None:
            raise refuse(NAME, "contacts.find_or_create", f"{ACCESS_TOKEN} is not set")
        return self.recorded(phone_key(token, phone), phone, name)

    def recorded(self, key: str, phone: str, name: str | None) -> tuple[str, str]:
        def find_or_create() -> str:
            return ":".join(self._find_or_create(phone, name))

        recorded = self._recorder.once(
            key,
            phone,
            "contacts.find_or_create",
            find_or_create,
            # A lost contact step runs again: at worst a duplicate lead, never a conversation.
            recover=lambda _: find_or_create(),
        )
        role, _, contact_id = recorded.partition(":")
        return role, contact_id

    def _find(self, phone: str) -> tuple[str, str] | None:
        query = {"query": {"field": "phone", "operator": "=", "value": phone}}
        found = self._api.call("contacts.search", "POST", "/contacts/search", query)
        data = as_dict(found).get("data")
        for contact in data[:MAX_FOUND] if isinstance(data, list) else []:
            contact_id = intercom_id(as_dict(contact).get("id"))
            if contact_id is not None and len(contact_id) <= MAX_CONTACT_ID:
                role = "user" if contact.get("role") == "user" else "lead"
                return role, contact_id
        return None

    def _find_or_create(self, phone: str, name: str | None) -> tuple[str, str]:
        """(role, id) of the contact with this phone; a new lead when there is none."""
        found = self._find(phone)
        if found is not None:
            return found
        body: dict[str, Any] = {"role": "lead", "phone": phone}
        if name:
            body["name"] = name[:255]
        created = self._api.call("contacts.create", "POST", "/contacts", body)
        contact_id = intercom_id(as_dict(created).get("id"))
        if contact_id is None or len(contact_id) > MAX_CONTACT_ID:
            raise refuse(NAME, "contacts.create", "Intercom's answer has no contact id")
        return "lead", contact_id
