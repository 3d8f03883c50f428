"""Sending e-mail through SendGrid's v3 Mail Send API (`POST /v3/mail/send`, Bearer API key;
202 with the message id in `X-Message-Id`). httpx, no SDK: one documented request.

SendGrid takes no idempotency key, so the `outbound_messages` row of our message id is the
guard (connectors/mail.py `send_once`): after an attempt whose outcome was lost, nothing is
sent again. Our message id travels as a custom arg, so the Event Webhook's events carry it. A
429 is retried when `X-RateLimit-Reset` (a unix time) says the window frees up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from sqlalchemy import Engine
from temporalio import activity

from integration_hub.connectors.mail import (
    OutgoingEmail,
    SendEmailInput,
    SendEmailResult,
)
from integration_hub.connectors.mail_sender import EmailSender
from integration_hub.connectors.sendgrid import API_KEY, API_KEY_FORMAT
from integration_hub.connectors.sendgrid.settings import SendGridSettings
from integration_hub.secrets import SecretSource
from integration_hub.settings import Settings

PARTNER = "sendgrid"
MAX_MESSAGE_ID = 64  # outbound_messages.partner_message_id


def mail_send_body(email: OutgoingEmail, input: SendEmailInput) -> dict[str, Any]:
    """The documented Mail Send body: text/plain before text/html, as SendGrid requires."""
    sender = {"email": email.sender, **({"name": email.sender_name} if email.sender_name else {})}
    body: dict[str, Any] = {
        "personalizations": [{"to": [{"email": email.to}]}],
        "from": sender,
        "subject": email.subject,
        "content": [
            {"type": "text/plain", "value": email.text},
            {"type": "text/html", "value": email.html},
        ],
        "custom_args": {"hub_message_id": input.message_id},
        "categories": [input.template],
    }
    if email.headers:
        body["headers"] = dict(email.headers)
    return body


def retry_after(response: httpx.Response, *, now: float) -> str | None:
    """Seconds until SendGrid's window resets (`X-RateLimit-Reset` is a unix time)."""
    reset = response.headers.get("x-ratelimit-reset", "")
    if reset.isdigit():
        return str(max(0, int(reset) - int(now)))
    value: str | None = response.headers.get("retry-after")
    return value


class SendGridEmail(EmailSender):
    partner, api_key, api_key_format = PARTNER, API_KEY, API_KEY_FORMAT
    key_shape, idempotent, accepted_status = "a SendGrid key (SG....)", False, 202

    def __init__(
        self,
        settings: Settings,
        secrets: SecretSource,
        engine: Engine,
        sendgrid: SendGridSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            settings,
            secrets,
            engine,
            base_url=sendgrid.api_base_url,
            requests_per_minute=sendgrid.requests_per_minute,
        )
        self._clock = clock

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.send_email]

    def _deliver(self, email: OutgoingEmail, input: SendEmailInput, key: str) -> str | None:
        response = self._post(
            "/v3/mail/send", {"Authorization": f"Bearer {key}"}, mail_send_body(email, input)
        )
        return response.headers.get("x-message-id", "")[:MAX_MESSAGE_ID] or None

    def _refusal(self, response: httpx.Response) -> tuple[str, str | None]:
        return _error_message(response), None

    def _retry_after(self, response: httpx.Response) -> str | None:
        return retry_after(response, now=self._clock())

    @activity.defn(name="sendgrid.send_email")
    def send_email(self, input: SendEmailInput) -> SendEmailResult:
        return self._send(input)


def _error_message(response: httpx.Response) -> str:
    """SendGrid's first error message (bounded), never the request."""
    try:
        errors = response.json().get("errors") or []
        message = errors[0].get("message") if errors and isinstance(errors[0], dict) else None
    except (ValueError, AttributeError):
        message = None
    return str(message or response.reason_phrase)[:200]
