"""The e-mail capability's shared parts, used by the core route (POST /api/emails) and by each
e-mail provider's package: what a send carries, how the hub's templates render, and the guard
every provider's send goes through.

A send is one Temporal workflow per message id (`email.send/{message_id}`), started by the core
route by the provider's declared name (`send_workflow_name`): the provider's workflow runs its
activity, which calls `send_once` with the request that actually leaves. Before any request:
a suppressed address is refused, and the `outbound_messages` row of the message id is claimed,
so a message is sent once whatever retries (a provider without an idempotency key never gets a
second request after an attempt whose outcome was lost).

Templates are package data (`email_templates/<name>.<language>.{subject.txt,txt,html}`),
rendered with Jinja2: HTML autoescaped, every variable required (StrictUndefined). The address
is personal data: no error or log line here carries it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from functools import cache
from pathlib import Path
from typing import ClassVar, Literal

import jinja2
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.outbound import CallLimiter, refuse
from integration_hub.errors import UnsafeConfiguration
from integration_hub.secrets import SecretSource
from integration_hub.settings import Settings
from integration_hub.storage import email_suppressions, outbound_messages
from integration_hub.storage.engine import begin_write

OPERATION = "send_email"
LANGUAGES = ("en", "es")
TEMPLATE_DIR = Path(__file__).with_name("email_templates")
# A pragmatic address check (RFC 5321 lengths, one @, no spaces or angle brackets): the
# provider is the judge of the rest.
ADDRESS = re.compile(r"[^@\s<>,;\"()\[\]\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,253}[A-Za-z0-9])?")
MAX_ADDRESS = 320
MAX_SUBJECT = 300


@dataclass(frozen=True)
class SendEmailInput:
    message_id: str  # our own id: the workflow id and the outbound guard derive from it
    to: str
    template: str
    language: Literal["en", "es"]
    variables: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SendEmailResult:
    message_id: str
    provider_message_id: str | None
    status: str  # "sent"
    already_sent: bool  # an earlier attempt sent it; nothing was sent again


@dataclass(frozen=True)
class OutgoingEmail:
    """What leaves: rendered, with the headers every message carries."""

    sender: str  # HUB_EMAIL_FROM's address
    sender_name: str  # its display name ("" for none)
    to: str
    subject: str
    text: str
    html: str
    headers: Mapping[str, str]


def send_workflow_name(partner: str) -> str:
    """The workflow (and activity) an e-mail provider declares for a send."""
    return f"{partner}.send_email"


def send_workflow_id(message_id: str) -> str:
    return f"email.send/{message_id}"


def valid_address(address: str) -> bool:
    return len(address) <= MAX_ADDRESS and ADDRESS.fullmatch(address) is not None


def sender_domain(settings: Settings) -> str | None:
    """The domain of HUB_EMAIL_FROM (what SPF and DKIM are checked for), or None."""
    address = parseaddr(settings.email_from or "")[1]
    if not valid_address(address):
        return None
    return address.rpartition("@")[2].lower()


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


@cache
def templates() -> frozenset[str]:
    """The names of the hub's templates (each has every language)."""
    return frozenset(p.name.split(".", 1)[0] for p in TEMPLATE_DIR.glob("*.html"))


def unsubscribe_headers(settings: Settings) -> dict[str, str]:
    """List-Unsubscribe (RFC 2369) with the configured mailto and https targets, and
    List-Unsubscribe-Post (RFC 8058 one-click) when there is an https one."""
    targets = []
    if settings.email_unsubscribe_mailto:
        targets.append(f"<mailto:{settings.email_unsubscribe_mailto}?subject=unsubscribe>")
    if settings.email_unsubscribe_url:
        targets.append(f"<{settings.email_unsubscribe_url}>")
    headers = {"List-Unsubscribe": ", ".join(targets)} if targets else {}
    if settings.email_unsubscribe_url:
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return headers


class Unsendable(ValueError):
    """A send the hub refuses before any request (reason: a stable code for the API)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def compose(settings: Settings, input: SendEmailInput) -> OutgoingEmail:
    """The message as it leaves, or `Unsendable` (no sender, a bad address, an unknown template,
    a missing variable). Pure: the route calls it to refuse before starting anything."""
    name, sender = parseaddr(settings.email_from or "")
    if not valid_address(sender):
        raise Unsendable("email_not_configured", "HUB_EMAIL_FROM is not set to an address")
    if not valid_address(input.to):
        raise Unsendable("bad_address", "`to` is not an e-mail address")
    if input.template not in templates():
        raise Unsendable("unknown_template", f"no template named {input.template[:64]!r}")
    if input.language not in LANGUAGES:
        raise Unsendable("unknown_language", "language must be en or es")
    parts = {}
    try:
        for part in ("subject.txt", "txt", "html"):
            template = _environment().get_template(f"{input.template}.{input.language}.{part}")
            parts[part] = template.render(input.variables)
    except jinja2.UndefinedError as error:
        raise Unsendable(
            "missing_variable", f"template variable missing: {error.message}"
        ) from None
    # One line, bounded: a variable holding a newline must not become a header of its own.
    subject = " ".join(parts["subject.txt"].split())[:MAX_SUBJECT]
    return OutgoingEmail(
        sender=sender,
        sender_name=name,
        to=input.to,
        subject=subject,
        text=parts["txt"],
        html=parts["html"],
        headers=unsubscribe_headers(settings),
    )


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
        """The provider's request: its message id, or raise `Undelivered`."""
        raise NotImplementedError

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
