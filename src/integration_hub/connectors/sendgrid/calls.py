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
    OPERATION,
    EmailSender,
    OutgoingEmail,
    SendEmailInput,
    SendEmailResult,
    Undelivered,
)
from integration_hub.connectors.outbound import call_failed, timed_call
from integration_hub.connectors.sendgrid import API_KEY, API_KEY_FORMAT
from integration_hub.connectors.sendgrid.settings import SendGridSettings
from integration_hub.secrets import SecretSource
from integration_hub.settings import Settings

PARTNER = "sendgrid"
HTTP_TIMEOUT = httpx.Timeout(15.0, connect=5.0)  # well inside the activity's timeout
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
    key_shape, idempotent = "a SendGrid key (SG....)", False

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
        self._limiter.acquire(OPERATION)
        try:
            with timed_call(PARTNER, OPERATION), httpx.Client(timeout=HTTP_TIMEOUT) as client:
                response = client.post(
                    f"{self._base_url}/v3/mail/send",
                    headers={"Authorization": f"Bearer {key}"},
                    json=mail_send_body(email, input),
                )
        except httpx.ConnectError:
            error = call_failed(PARTNER, OPERATION, status=None, message="could not connect")
            raise Undelivered(error, state="failed", note="not connected") from None
        except httpx.TransportError:  # sent, perhaps: the answer was lost
            error = call_failed(
                PARTNER, OPERATION, status=None, message="no answer", retryable=False
            )
            raise Undelivered(error, state="unknown", note="no answer") from None
        if response.status_code != 202:
            error = call_failed(
                PARTNER,
                OPERATION,
                status=response.status_code,
                message=_error_message(response),
                retry_after=retry_after(response, now=self._clock()),
            )
            raise Undelivered(error, state="failed", note=f"{response.status_code}")
        return response.headers.get("x-message-id", "")[:MAX_MESSAGE_ID] or None

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
