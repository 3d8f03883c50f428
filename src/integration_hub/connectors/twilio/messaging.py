"""Sending SMS and WhatsApp messages: a Temporal activity over Twilio's Messages API (SDK).

Before any call: an opted-out contact is refused, and WhatsApp outside the 24-hour window that
the contact's last inbound message opened goes out only as an approved Content template in the
contact's language (HUB_WHATSAPP_TEMPLATES). Twilio takes no idempotency key, so the
`outbound_messages` row of our message id is the guard (see storage/tables.py). The SDK never
retries (Temporal does); a failure becomes `call_failed`, honouring Twilio's Retry-After.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import ConnectTimeoutError

from integration_hub.connectors.outbound import call_failed, refuse, timed_call
from integration_hub.connectors.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    E164_PATTERN,
    SECRET_FORMATS,
    SMS_FROM,
    WHATSAPP_NUMBER,
)
from integration_hub.connectors.twilio import PARTNER as DECLARATION
from integration_hub.connectors.twilio.settings import TwilioSettings
from integration_hub.errors import UnsafeConfiguration
from integration_hub.secrets import SecretSource
from integration_hub.settings import Settings
from integration_hub.storage import contacts, outbound_messages
from integration_hub.storage.engine import begin_write

PARTNER, OPERATION = "twilio", "send_message"
WHATSAPP_WINDOW = timedelta(hours=24)
HTTP_TIMEOUT_SECONDS = 15.0  # well inside the activity's start-to-close timeout
E164 = re.compile(E164_PATTERN)
CONTENT_SID = re.compile(r"HX[0-9a-f]{32}")
LOCALES = frozenset({"en", "es"})


@dataclass(frozen=True)
class SendMessageInput:
    message_id: str  # our own id: the workflow id and the outbound guard derive from it
    to: str  # E.164, without a channel prefix
    channel: str  # "sms" or "whatsapp"
    body: str | None = None  # free text; WhatsApp only inside the 24-hour window
    template: str | None = None  # a name in HUB_WHATSAPP_TEMPLATES (any channel, any time)
    variables: dict[str, str] = field(default_factory=dict)  # {"1": "Lucía", "2": "15:00"}


@dataclass(frozen=True)
class SendMessageResult:
    message_id: str
    message_sid: str
    status: str
    already_sent: bool  # a retried activity found the message sent and did not call again


def _sender(value: str) -> dict[str, str]:
    """TWILIO_SMS_FROM is a number or a Messaging Service (MG...)."""
    return {"messaging_service_sid": value} if value.startswith("MG") else {"from_": value}


class TwilioMessaging:
    def __init__(
        self,
        settings: Settings,
        secrets: SecretSource,
        engine: Engine,
        *,
        twilio: TwilioSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings, self._secrets, self._engine, self._clock = settings, secrets, engine, clock
        self._api_base_url = twilio.api_base_url

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.send_message]

    def _secret(self, name: str) -> str | None:
        versions = self._secrets.versions(name)
        # Calls out use the newest version, in its canonical form (a pasted
        # `whatsapp:+1...` number is read as `+1...`: the prefix is added per channel below).
        return DECLARATION.secret(name).canonical(versions[0]) if versions else None

    def preflight(self) -> None:
        for name, pattern in SECRET_FORMATS.items():
            value = self._secret(name)
            if value is not None and not re.fullmatch(pattern, value):
                raise UnsafeConfiguration(f"{name} does not look like a Twilio value ({pattern})")
        for name, versions in self._settings.whatsapp_templates.items():
            for locale, sid in versions.items():
                if locale not in LOCALES or not CONTENT_SID.fullmatch(sid):
                    raise UnsafeConfiguration(
                        f"HUB_WHATSAPP_TEMPLATES[{name!r}] needs en/es Content SIDs (HX...)"
                    )

    def _content(self, input: SendMessageInput, contact: dict[str, Any] | None) -> dict[str, str]:
        """What the message says: a template in the contact's language, or the free text."""
        if input.template is not None:
            locale = contact["locale"] if contact else "en"
            versions = self._settings.whatsapp_templates.get(input.template)
            if versions is None:
                raise refuse(PARTNER, OPERATION, f"no template {input.template!r} is registered")
            if locale not in versions:
                raise refuse(
                    PARTNER, OPERATION, f"template {input.template!r} has no {locale!r} version"
                )
            content = {"content_sid": versions[locale]}
            if input.variables:
                content["content_variables"] = json.dumps(input.variables, ensure_ascii=False)
            return content
        if not input.body:
            raise refuse(PARTNER, OPERATION, "a message needs a body or a template")
        if input.channel == "whatsapp":
            last = contact["last_whatsapp_inbound_at"] if contact else None
            if last is None or self._clock() - last >= WHATSAPP_WINDOW:
                raise refuse(
                    PARTNER,
                    OPERATION,
                    f"{input.to} has not written on WhatsApp in the last 24 hours: "
                    "only an approved template may be sent (pass `template`)",
                )
        return {"body": input.body}

    def _request(self, input: SendMessageInput) -> dict[str, str]:
        """The Messages.create arguments, or a refusal that never reaches Twilio."""
        if input.channel not in ("sms", "whatsapp"):
            raise refuse(PARTNER, OPERATION, f"unknown channel {input.channel!r}")
        if not E164.fullmatch(input.to):
            raise refuse(PARTNER, OPERATION, "`to` must be an E.164 number (+ and digits)")
        with self._engine.connect() as connection:
            contact = contacts.get_contact(connection, phone=input.to)
        if contact is not None and contact["opted_out"]:
            raise refuse(
                PARTNER,
                OPERATION,
                f"{input.to} opted out of messages at {contact['consent_changed_at']}; "
                "nothing is sent until they opt in again",
            )
        request = self._content(input, contact)
        whatsapp_number = self._secret(WHATSAPP_NUMBER)
        if input.channel == "whatsapp":
            if whatsapp_number is None:
                raise refuse(PARTNER, OPERATION, "TWILIO_WHATSAPP_NUMBER is not set")
            request |= {"to": f"whatsapp:{input.to}", "from_": f"whatsapp:{whatsapp_number}"}
        else:
            sms_from = self._secret(SMS_FROM) or whatsapp_number
            if sms_from is None:
                raise refuse(PARTNER, OPERATION, "neither TWILIO_SMS_FROM nor a number is set")
            request |= {"to": input.to, **_sender(sms_from)}
        if self._settings.public_base_url:
            base = self._settings.public_base_url.rstrip("/")
            request["status_callback"] = f"{base}/webhooks/twilio"
        return request

    def _client(self, responses: list[requests.Response]) -> Any:
        account_sid, auth_token = self._secret(ACCOUNT_SID), self._secret(AUTH_TOKEN)
        if account_sid is None or auth_token is None:
            raise refuse(PARTNER, OPERATION, "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are needed")
        http = TwilioHttpClient(
            timeout=HTTP_TIMEOUT_SECONDS,
            max_retries=0,  # Temporal owns retries
            # The SDK's exception drops the response headers; a hook keeps Retry-After.
            request_hooks={"response": [lambda response, *_, **__: responses.append(response)]},
        )
        client = Client(account_sid, auth_token, http_client=http)
        if self._api_base_url:  # tests: a local server instead of api.twilio.com
            client.api.base_url = self._api_base_url
        return client

    def _record(self, message_id: str, state: str, **changes: Any) -> None:
        with begin_write(self._engine) as connection:
            outbound_messages.update_outbound_message(
                connection, message_id=message_id, state=state, **changes
            )

    @activity.defn(name="twilio.send_message")
    def send_message(self, input: SendMessageInput) -> SendMessageResult:
        request = self._request(input)
        with begin_write(self._engine) as connection:
            record = outbound_messages.claim_outbound_message(
                connection,
                message_id=input.message_id,
                partner=PARTNER,
                channel=input.channel,
                to_address=input.to,
            )
            if record["state"] == "sent":
                return SendMessageResult(
                    input.message_id, record["partner_message_id"], "sent", already_sent=True
                )
            if record["state"] in ("sending", "unknown"):
                # An earlier attempt called Twilio and its outcome was lost: sending again could
                # text the contact twice. The status callback (or the console) tells the truth.
                raise ApplicationError(
                    f"message {input.message_id}: an earlier attempt's outcome is unknown; "
                    "not sending again",
                    type="twilio.outcome_unknown",
                    non_retryable=True,
                )
            outbound_messages.update_outbound_message(
                connection,
                message_id=input.message_id,
                state="sending",
                attempts=record["attempts"] + 1,
            )
        responses: list[requests.Response] = []
        try:
            with timed_call(PARTNER, OPERATION):
                message = self._client(responses).messages.create(**request)
        except TwilioRestException as err:
            # Twilio answered with an error: the message was not created, so a retry is safe.
            self._record(input.message_id, "failed", last_error=f"{err.status} {err.code}")
            retry_after = responses[-1].headers.get("Retry-After") if responses else None
            raise call_failed(
                PARTNER,
                OPERATION,
                status=err.status,
                message=str(err.msg),
                code=err.code,
                retry_after=retry_after,
            ) from None
        except requests.ConnectionError as err:
            reason = getattr(err.args[0], "reason", None) if err.args else None
            if isinstance(err, requests.ConnectTimeout) or isinstance(reason, ConnectTimeoutError):
                # Never connected (refused, unreachable): nothing was sent, so a retry is safe.
                self._record(input.message_id, "failed", last_error="not connected")
                raise call_failed(
                    PARTNER, OPERATION, status=None, message="could not connect"
                ) from None
            self._record(input.message_id, "unknown", last_error="connection lost")
            raise call_failed(
                PARTNER, OPERATION, status=None, message="connection lost", retryable=False
            ) from None
        except requests.Timeout:
            self._record(input.message_id, "unknown", last_error="no answer in time")
            raise call_failed(
                PARTNER, OPERATION, status=None, message="no answer in time", retryable=False
            ) from None
        self._record(input.message_id, "sent", partner_message_id=message.sid)
        return SendMessageResult(input.message_id, message.sid, str(message.status), False)
