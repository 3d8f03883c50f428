"""Sending e-mail through SendGrid's v3 Mail Send API (`POST /v3/mail/send`, Bearer API key;
202 with the message id in `X-Message-Id`). httpx, no SDK: one documented request.

SendGrid takes no idempotency key, so the `outbound_messages` row of our message id is the
guard (connectors/mail.py `send_once`): after an attempt whose outcome was lost, nothing is
sent again. Our message id travels as a custom arg, so the Event Webhook's events carry it. A
429 is retried when `X-RateLimit-Reset` (a unix time) says the window frees up.
"""

from __future__ import annotations

import re
import time
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
    Undelivered,
    compose,
    send_once,
)
from integration_hub.connectors.outbound import CallLimiter, call_failed, refuse, timed_call
from integration_hub.connectors.sendgrid import API_KEY, API_KEY_FORMAT
from integration_hub.connectors.sendgrid.settings import SendGridSettings
from integration_hub.errors import UnsafeConfiguration
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


class SendGridEmail:
    def __init__(
        self,
        settings: Settings,
        secrets: SecretSource,
        engine: Engine,
        sendgrid: SendGridSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings, self._secrets, self._engine, self._clock = settings, secrets, engine, clock
        self._base_url = sendgrid.api_base_url.rstrip("/")
        self._limiter = CallLimiter(PARTNER, {OPERATION: sendgrid.requests_per_minute})

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.send_email]

    def _key(self) -> str | None:
        versions = self._secrets.versions(API_KEY)
        return versions[0] if versions else None

    def preflight(self) -> None:
        key = self._key()
        if key is not None and not re.fullmatch(API_KEY_FORMAT, key):
            raise UnsafeConfiguration(f"{API_KEY} does not look like a SendGrid key (SG....)")

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
        try:
            email = compose(self._settings, input)
        except ValueError as error:
            raise refuse(PARTNER, OPERATION, str(error)) from None
        key = self._key()
        if key is None:
            raise refuse(PARTNER, OPERATION, f"{API_KEY} is not set")
        return send_once(
            self._engine,
            input,
            partner=PARTNER,
            idempotent=False,
            deliver=lambda: self._deliver(email, input, key),
        )


def _error_message(response: httpx.Response) -> str:
    """SendGrid's first error message (bounded), never the request."""
    try:
        errors = response.json().get("errors") or []
        message = errors[0].get("message") if errors and isinstance(errors[0], dict) else None
    except (ValueError, AttributeError):
        message = None
    return str(message or response.reason_phrase)[:200]
