"""PARTNERS: the one explicit list of partners. Adding a partner means adding one line here;
everything else (the edge, `hub init`, doctor, the worker, the admin API, the CLI, the status
panel, the test suites) loops over it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from integration_hub.connectors import (
    auth0,
    clerk,
    docusign,
    front,
    google_maps,
    hostaway,
    hospitable,
    ical,
    guesty,
    intercom,
    lodgify,
    ownerrez,
    resend,
    sendgrid,
    stripe,
    twilio,
)
from integration_hub.connectors.partner import Capability, Partner, WebhookContext
from integration_hub.errors import UnknownPartner, UnsafeConfiguration

if TYPE_CHECKING:  # types only: importing the list stays cheap (`hub --help` reads it)
    from sqlalchemy import Engine

    from integration_hub.connectors.base import Connector
    from integration_hub.settings import Settings

PARTNERS: tuple[Partner, ...] = (
    stripe.PARTNER,
    twilio.PARTNER,
    google_maps.PARTNER,
    clerk.PARTNER,
    auth0.PARTNER,
    docusign.PARTNER,
    sendgrid.PARTNER,
    resend.PARTNER,
    intercom.PARTNER,
    front.PARTNER,
    hostaway.PARTNER,
    hospitable.PARTNER,
    ical.PARTNER,
    guesty.PARTNER,
    ownerrez.PARTNER,
    lodgify.PARTNER,
)


def partner_named(name: str, partners: Sequence[Partner] = PARTNERS) -> Partner:
    for partner in partners:
        if partner.name == name:
            return partner
    raise UnknownPartner(f"no partner named {name!r}")


def build_connectors(
    settings: Settings | None = None,
    partners: Sequence[Partner] = PARTNERS,
    *,
    engine: Engine | None = None,
) -> dict[str, Connector]:
    """The edge's connectors by name: every partner that receives webhooks. Without
    `settings`, the defaults (for samples and signing, as `hub send` and tests use them);
    with `engine`, connectors may read a known contact's language (`WebhookContext`)."""
    tolerance = settings.signature_tolerance_seconds if settings else 300
    lookup = _contact_language(engine) if engine is not None else None
    context = WebhookContext(tolerance_seconds=tolerance, contact_language=lookup)
    return {p.name: p.webhook(context) for p in partners if p.webhook is not None}


# Threads that read a contact's language: few, so a stalled database holds no more than these
# (the edge stops waiting after its PREPARE_SECONDS; a read not yet started is cancelled).
LOOKUP_THREADS = 2
# PostgreSQL ends a lookup that runs longer than this (the edge has stopped waiting by then).
LOOKUP_STATEMENT_TIMEOUT_MS = 1000


def _contact_language(engine: Engine) -> Callable[[str], Awaitable[str | None]]:
    from integration_hub.storage.contacts import get_contact  # here: `hub --help` skips it

    threads = ThreadPoolExecutor(LOOKUP_THREADS, thread_name_prefix="contact-language")

    def read(phone: str) -> str | None:
        # One row by primary key, read-only, before the delivery is stored (every retry of an
        # incoming call reads it again): off the event loop, and bounded in time.
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(
                    f"SET LOCAL statement_timeout = {LOOKUP_STATEMENT_TIMEOUT_MS}"
                )
            contact = get_contact(connection, phone=phone)
        return str(contact["locale"]) if contact is not None else None

    async def contact_language(phone: str) -> str | None:
        return await asyncio.get_running_loop().run_in_executor(threads, read, phone)

    return contact_language


def get_connector(connectors: Mapping[str, Connector], partner: str) -> Connector:
    try:
        return connectors[partner]
    except KeyError:
        raise UnknownPartner(f"no connector named {partner!r}") from None


def providers_of(capability: Capability, partners: Sequence[Partner] = PARTNERS) -> list[Partner]:
    return [p for p in partners if capability in p.capabilities]


def provider_for(
    capability: Capability, configured: str | None, partners: Sequence[Partner] = PARTNERS
) -> Partner | None:
    """The partner that provides `capability`: the configured one (`HUB_AUTH_PROVIDER`,
    `HUB_EMAIL_PROVIDER`, `HUB_SUPPORT_PROVIDER`), else the only partner declaring it; None
    when several declare it and none is configured. Raises UnknownPartner for a configured
    name that does not provide it (a typo must not silently pick another provider)."""
    candidates = providers_of(capability, partners)
    if configured:
        for partner in candidates:
            if partner.name == configured:
                return partner
        names = ", ".join(p.name for p in candidates) or "none"
        raise UnknownPartner(f"{configured!r} does not provide {capability} (providers: {names})")
    return candidates[0] if len(candidates) == 1 else None


def auth_provider_of_issuer(
    host: str, configured: str | None, partners: Sequence[Partner] = PARTNERS
) -> str | None:
    """Which auth provider an OIDC issuer host belongs to: the configured one, else the one
    whose declared domains match; None when it cannot be told."""
    if configured:
        return configured
    for partner in providers_of("auth", partners):
        if partner.issues_for(host.lower()):
            return partner.name
    return None


def auth_display_name(name: str | None, partners: Sequence[Partner] = PARTNERS) -> str | None:
    """How the auth provider `name` is shown (None: no such provider)."""
    for partner in providers_of("auth", partners):
        if partner.name == name:
            return partner.shown_name
    return None


def auth_logout_url(
    issuer: str,
    client_id: str,
    return_to: str,
    configured: str | None,
    partners: Sequence[Partner] = PARTNERS,
) -> str | None:
    """The auth provider's own sign-out URL for an issuer whose discovery names none (None when
    the provider declares no `logout_url` or cannot be told)."""
    host = (urlsplit(issuer).hostname or "").lower()
    name = auth_provider_of_issuer(host, configured, partners)
    for partner in partners:
        if partner.name == name and partner.logout_url is not None:
            return partner.logout_url(issuer, client_id, return_to)
    return None


def check_providers(settings: Settings, partners: Sequence[Partner] = PARTNERS) -> None:
    """Refuse to start (UnsafeConfiguration) on a HUB_*_PROVIDER that names no partner
    providing that capability."""
    configured: tuple[tuple[Capability, str, str | None], ...] = (
        ("auth", "HUB_AUTH_PROVIDER", settings.auth_provider),
        ("email", "HUB_EMAIL_PROVIDER", settings.email_provider),
        ("support", "HUB_SUPPORT_PROVIDER", settings.support_provider),
    )
    for capability, variable, name in configured:
        try:
            provider_for(capability, name, partners)
        except UnknownPartner as error:
            raise UnsafeConfiguration(f"{variable}: {error.detail}") from None
