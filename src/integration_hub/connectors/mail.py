"""The e-mail capability's shared parts, used by the core route (POST /api/emails) and by each
e-mail provider's package: what a send carries, how the hub's templates render, and the guard
every provider's send goes through (`mail_sender.py`).

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from functools import cache
from pathlib import Path
from typing import Literal

import jinja2

from integration_hub.settings import Settings

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
