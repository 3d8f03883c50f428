"""Sending e-mail through Resend (`POST /emails`, Bearer API key; 200 with the email's `id`).
httpx, no SDK: one documented request.

Resend takes an `Idempotency-Key` (kept 24 hours): derived from our message id, so a retry
after an attempt whose outcome was lost is safe and Resend answers it with the first send's
result. The `outbound_messages` row still guards the message for good (connectors/mail.py).
Our message id travels as a tag, so Resend's events carry it. A 429 is retried after its
`retry-after`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from sqlalchemy import Engine
from temporalio import activity

from integration_hub.connectors.mail import (
    OPERATION,
    OutgoingEmail,
    SendEmailInput,
    SendEmailResult,
)
from integration_hub.connectors.mail_sender import EmailSender
from integration_hub.connectors.outbound import idempotency_key
from integration_hub.connectors.resend import API_KEY, API_KEY_FORMAT
from integration_hub.connectors.resend.settings import ResendSettings
from integration_hub.secrets import SecretSource
from integration_hub.settings import Settings

PARTNER = "resend"
MAX_MESSAGE_ID = 64  # outbound_messages.partner_message_id
TAG_VALUE = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what Resend accepts in a tag


def emails_body(email: OutgoingEmail, input: SendEmailInput) -> dict[str, Any]:
    sender = f"{email.sender_name} <{email.sender}>" if email.sender_name else email.sender
    body: dict[str, Any] = {
        "from": sender,
        "to": [email.to],
        "subject": email.subject,
        "html": email.html,
        "text": email.text,
        "tags": [{"name": "template", "value": input.template}],
    }
    if TAG_VALUE.fullmatch(input.message_id):
        body["tags"].append({"name": "hub_message_id", "value": input.message_id})
    if email.headers:
        body["headers"] = dict(email.headers)
    return body


class ResendEmail(EmailSender):
    partner, api_key, api_key_format = PARTNER, API_KEY, API_KEY_FORMAT
    key_shape, idempotent, accepted_status = "a Resend key (re_...)", True, 200

    def __init__(
        self, settings: Settings, secrets: SecretSource, engine: Engine, resend: ResendSettings
    ) -> None:
        super().__init__(
            settings,
            secrets,
            engine,
            base_url=resend.api_base_url,
            requests_per_minute=resend.requests_per_minute,
        )

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.send_email]

    def _deliver(self, email: OutgoingEmail, input: SendEmailInput, key: str) -> str | None:
        headers = {
            "Authorization": f"Bearer {key}",
            "Idempotency-Key": idempotency_key(PARTNER, OPERATION, input.message_id),
        }
        response = self._post("/emails", headers, emails_body(email, input))
        try:
            sent_id = response.json().get("id")
        except (ValueError, AttributeError):
            sent_id = None
        return sent_id[:MAX_MESSAGE_ID] if isinstance(sent_id, str) else None

    def _refusal(self, response: httpx.Response) -> tuple[str, str | None]:
        return _error_message(response), _error_name(response)

    @activity.defn(name="resend.send_email")
    def send_email(self, input: SendEmailInput) -> SendEmailResult:
        return self._send(input)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_message(response: httpx.Response) -> str:
    return str(_json(response).get("message") or response.reason_phrase)[:200]


def _error_name(response: httpx.Response) -> str | None:
    name = _json(response).get("name")
    return name[:64] if isinstance(name, str) and re.fullmatch(r"[a-z_]{1,64}", name) else None
