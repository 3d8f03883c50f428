"""The guard and the request every e-mail provider's send goes through: `send_once` claims the
message's `outbound_messages` row before any request (a message is sent once whatever retries),
and `EmailSender` is what each provider's calls class builds on (compose, key, one request).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import ClassVar

import httpx
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.mail import (
    OPERATION,
    OutgoingEmail,
    SendEmailInput,
    SendEmailResult,
    compose,
)
from integration_hub.connectors.outbound import CallLimiter, call_failed, refuse, timed_call
from integration_hub.errors import UnsafeConfiguration
from integration_hub.secrets import SecretSource
from integration_hub.settings import Settings
from integration_hub.storage import email_suppressions, outbound_messages
from integration_hub.storage.engine import begin_write

HTTP_TIMEOUT = httpx.Timeout(15.0, connect=5.0)  # well inside the activity's timeout


class Undelivered(Exception):
    """A provider call that did not send: `state` is "failed" (nothing sent, a retry is safe)
    or "unknown" (the outcome was lost), `error` what the activity raises."""

    def __init__(self, error: ApplicationError, *, state: str, note: str) -> None:
        super().__init__(note)
        self.error, self.state, self.note = error, state, note


def send_once(
    engine: Engine,
    input: SendEmailInput,
    *,
    partner: str,
    idempotent: bool,
    deliver: Callable[[], str | None],
) -> SendEmailResult:
    """Send through `deliver` (the provider's one request; returns its message id) at most
    once per message id. `idempotent`: the provider dedups a repeated request itself (an
    idempotency key), so an attempt whose outcome was lost may be retried."""
    with begin_write(engine) as connection:
        suppressed = email_suppressions.get_suppression(connection, address=input.to)
        if suppressed is not None and suppressed["suppressed"]:
            raise refuse(
                partner,
                OPERATION,
                f"the address is suppressed ({suppressed['reason']}) since "
                f"{suppressed['since']:%Y-%m-%d}; nothing is sent to it",
            )
        record = outbound_messages.claim_outbound_message(
            connection,
            message_id=input.message_id,
            partner=partner,
            channel="email",
            to_address=input.to,
        )
        if record["to_address"] != input.to or record["channel"] != "email":
            raise refuse(
                partner, OPERATION, f"message {input.message_id} went to another recipient"
            )
        if record["state"] == "sent":
            return SendEmailResult(input.message_id, record["partner_message_id"], "sent", True)
        if record["state"] in ("sending", "unknown") and not idempotent:
            raise ApplicationError(
                f"message {input.message_id}: an earlier attempt's outcome is unknown; "
                "not sending again",
                type=f"{partner}.outcome_unknown",
                non_retryable=True,
            )
        outbound_messages.update_outbound_message(
            connection,
            message_id=input.message_id,
            state="sending",
            attempts=record["attempts"] + 1,
        )
    try:
        provider_id = deliver()
    except Undelivered as failure:
        with begin_write(engine) as connection:
            outbound_messages.update_outbound_message(
                connection,
                message_id=input.message_id,
                state=failure.state,
                last_error=failure.note,
            )
        raise failure.error from None
    with begin_write(engine) as connection:
        outbound_messages.update_outbound_message(
            connection, message_id=input.message_id, state="sent", partner_message_id=provider_id
        )
    return SendEmailResult(input.message_id, provider_id, "sent", already_sent=False)


class EmailSender:
    """What every e-mail provider's send activity does around its one request: compose the
    message, read the key, and send it once (`send_once`). A provider subclass sets the class
    attributes, implements `_deliver`, and declares its activity (`<partner>.send_email`)
    calling `_send`."""

    partner: ClassVar[str]
    api_key: ClassVar[str]  # the secret's name
    api_key_format: ClassVar[str]  # its shape (regex), checked at preflight
    key_shape: ClassVar[str]  # how such a key looks, for the refusal
    idempotent: ClassVar[bool]  # a lost outcome may be retried (the provider dedupes)
    accepted_status: ClassVar[int]  # the answer to a message the provider accepted

    def __init__(
        self,
        settings: Settings,
        secrets: SecretSource,
        engine: Engine,
        *,
        base_url: str,
        requests_per_minute: int,
    ) -> None:
        self._settings, self._secrets, self._engine = settings, secrets, engine
        self._base_url = base_url.rstrip("/")
        self._limiter = CallLimiter(self.partner, {OPERATION: requests_per_minute})

    def _key(self) -> str | None:
        versions = self._secrets.versions(self.api_key)
        return versions[0] if versions else None

    def preflight(self) -> None:
        key = self._key()
        if key is not None and not re.fullmatch(self.api_key_format, key):
            raise UnsafeConfiguration(f"{self.api_key} does not look like {self.key_shape}")

    def _deliver(self, email: OutgoingEmail, input: SendEmailInput, key: str) -> str | None:
        """The provider's request (through `_post`): its message id, or raise `Undelivered`."""
        raise NotImplementedError

    def _refusal(self, response: httpx.Response) -> tuple[str, str | None]:
        """A refused request's error message and code as the provider names them (bounded),
        never the request."""
        raise NotImplementedError

    def _retry_after(self, response: httpx.Response) -> str | None:
        """How long the provider asks us to wait (seconds or an HTTP date), if it says."""
        value: str | None = response.headers.get("retry-after")
        return value

    def _post(self, path: str, headers: Mapping[str, str], body: object) -> httpx.Response:
        """The one request under the provider's limit, answered `accepted_status`; every other
        outcome raises `Undelivered`. A lost answer (the message may have left) is retried only
        by a provider that dedupes (`idempotent`); otherwise its row stays `unknown`."""
        self._limiter.acquire(OPERATION)
        try:
            with timed_call(self.partner, OPERATION), httpx.Client(timeout=HTTP_TIMEOUT) as client:
                response = client.post(f"{self._base_url}{path}", headers=headers, json=body)
        except httpx.ConnectError:
            error = call_failed(self.partner, OPERATION, status=None, message="could not connect")
            raise Undelivered(error, state="failed", note="not connected") from None
        except httpx.TransportError:
            error = call_failed(
                self.partner,
                OPERATION,
                status=None,
                message="no answer",
                retryable=None if self.idempotent else False,
            )
            raise Undelivered(error, state="unknown", note="no answer") from None
        if response.status_code != self.accepted_status:
            message, code = self._refusal(response)
            error = call_failed(
                self.partner,
                OPERATION,
                status=response.status_code,
                message=message,
                code=code,
                retry_after=self._retry_after(response),
            )
            raise Undelivered(error, state="failed", note=f"{response.status_code}")
        return response

    def _send(self, input: SendEmailInput) -> SendEmailResult:
        try:
            email = compose(self._settings, input)
        except ValueError as error:
            raise refuse(self.partner, OPERATION, str(error)) from None
        key = self._key()
        if key is None:
            raise refuse(self.partner, OPERATION, f"{self.api_key} is not set")
        return send_once(
            self._engine,
            input,
            partner=self.partner,
            idempotent=self.idempotent,
            deliver=lambda: self._deliver(email, input, key),
        )
