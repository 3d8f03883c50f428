"""What a partner is: one static `Partner` declaration that everything else reads.

Each partner package (`connectors/<partner>/__init__.py`) declares `PARTNER = Partner(...)`,
and `connectors/partners.py` lists them once in `PARTNERS`. `hub init`, doctor, the worker, the
admin API, the CLI, the status panel and the test suites loop over that list, so no file
outside a partner's package names it.

A declaration is static: reading it needs no engine, settings or secrets. What does need them
(the webhook connector, the calls out, the CLI sub-app, the admin routes) is declared as a
factory the composition root calls with a context. Reading it is also cheap: a partner's
factories import its modules (and the SDKs they use) inside their bodies, so importing
`PARTNERS` (every `hub` command, `hub --help` included) loads no partner SDK.

Poll sources (`Partner.polls`) are for partners that do not push (or not everything): a
`PollSource` names a source, how often it runs and its `fetch(context, cursor) -> PollPage`.
The hub keeps the cursor in `poll_cursors` and writes each page's events to `raw_events`
with the same dedup as the edge, in the transaction that advances the cursor
(orchestration/polls.py). Stored events are normalized by the partner's connector
(`Partner.webhook`), exactly as delivered ones; a partner that only polls declares a
connector with `endpoints=frozenset()`, so the edge answers 404 to every path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter, params
    from sqlalchemy import Engine
    from starlette.requests import Request
    from temporalio.client import Client

    from integration_hub.connectors.base import Connector, PartnerEvent
    from integration_hub.connectors.identity_provider import IdentityProvider
    from integration_hub.connectors.outbound import PartnerCalls
    from integration_hub.orchestration.handlers import Handler
    from integration_hub.secrets import SecretSource
    from integration_hub.settings import Settings

Priority = Literal["P0", "P1", "P2", "P3"]
# What a partner can provide to features that span partners (contacts, identity, the ledger,
# later jobs and escalation). Where several partners provide one, a setting names the one in
# use (`HUB_AUTH_PROVIDER`, `HUB_EMAIL_PROVIDER`, `HUB_SUPPORT_PROVIDER`).
Capability = Literal[
    "messaging", "payments", "email", "support", "contracts", "routing", "auth", "reservations"
]


@dataclass(frozen=True, slots=True)
class Secret:
    """One secret a partner reads. Its value is never shown: doctor reports set / well formed."""

    name: str
    # The shape a well-formed value has (a regex matched in full), for `hub doctor`.
    format: str = r"\S+"
    # "webhook": verifies deliveries; "calls": authenticates calls out.
    used_for: Literal["webhook", "calls"] = "calls"
    # Optional secrets are used when set (a second sender); doctor does not wait for them.
    required: bool = True
    # How `hub init` makes a local value (only secrets the hub may choose itself, e.g. the
    # signing secret a local `hub send` signs with); None: `hub init` leaves it unset.
    local: Callable[[], str] | None = None
    # A family keyed per instance (a PMS connection, an accounting realm, a calendar feed):
    # one secret per instance, `NAME__<INSTANCE>` (secrets/instances.py), read with
    # `source.versions(secret.for_instance(id))` and listed with `source.instances(name)`.
    # `required` then means every instance needs its value; a family with no instance yet is
    # not missing.
    per_instance: bool = False
    # Where the value comes from at the partner, for the generated checklist
    # (infra/secrets/README.md), e.g. "Stripe Dashboard > Developers > Webhooks > Signing secret".
    source: str = ""
    # Other forms users paste for the same value (Twilio's console shows `whatsapp:+1...`):
    # returns the value in its canonical form and, when the pasted form differed, a short
    # description of it (never the value), which doctor shows as a note. Doctor checks `format`
    # against the canonical form; the partner's code reads the value through `canonical`.
    normalize: Callable[[str], tuple[str, str | None]] | None = None

    def canonical(self, value: str) -> str:
        return self.normalize(value)[0] if self.normalize is not None else value

    def __post_init__(self) -> None:
        if not self.per_instance:
            return
        # Imported here: reading a declaration stays an import of this module alone.
        from integration_hub.secrets.instances import is_family

        if not is_family(self.name):
            raise ValueError(f"{self.name}: a family is upper-case words joined by single _")
        if self.local is not None:
            raise ValueError(f"{self.name}: `hub init` cannot know a family's instances")

    def for_instance(self, instance: str) -> str:
        """The secret holding `instance`'s value (`InvalidInstance` for an id that is not one)."""
        if not self.per_instance:
            raise ValueError(f"{self.name} is not declared per instance")
        from integration_hub.secrets.instances import instance_secret_name

        return instance_secret_name(self.name, instance)


@dataclass(frozen=True, slots=True)
class DomainRecord:
    """A DNS record a sending domain needs for a partner (an email provider's SPF and DKIM):
    doctor looks `name` up and reports whether a `kind` answer contains `contains`."""

    purpose: str  # "SPF", "DKIM": what doctor calls the check
    name: str  # the full name to look up, e.g. "s1._domainkey.example.com"
    kind: Literal["TXT", "CNAME"]
    contains: str  # lower case; e.g. "include:sendgrid.net"


@dataclass(frozen=True, slots=True)
class WebhookContext:
    """What a webhook connector is built with."""

    # HUB_SIGNATURE_TOLERANCE_SECONDS: every timestamped scheme refuses older signatures.
    tolerance_seconds: int = 300
    # A known contact's language ("es", "en") by phone number (+E.164), or None: a read-only
    # point read of the contacts table, for an answer that must speak the caller's language
    # at once (the Twilio IVR's first prompt). Awaitable: the read runs in threads of its own,
    # never on the event loop; a connector awaits it in its `prepare` (web/ingest.py), which the
    # edge bounds in time. None when the hub has no database (samples, signing, doctor).
    contact_language: Callable[[str], Awaitable[str | None]] | None = None


@dataclass(frozen=True, slots=True)
class CallsContext:
    """What a partner's calls out are built with, once per worker (or per CLI command)."""

    settings: Settings
    secrets: SecretSource
    engine: Engine


@dataclass(frozen=True, slots=True)
class UpkeepContext:
    """What a partner's upkeep activities (its rotations) are built with. No engine: upkeep
    touches the secrets store and the partner, never the database, and every worker
    registers it, whatever else that worker was built with."""

    settings: Settings
    secrets: SecretSource


@dataclass(frozen=True, slots=True)
class RoutesContext:
    """What a partner's admin routes are built with. `start_workflow` and friends reach
    Temporal through the running hub; routes mount under `/api` behind the admin roles.

    `routes(context)` declares its routes on `context.router()` (paths under `/api`, signed in
    as a viewer at least) and returns that router."""

    settings: Settings
    secrets: SecretSource
    engine: Engine
    temporal: Callable[[], Awaitable[Client]]  # the hub's client once connected (or 503)
    router: Callable[[], APIRouter]
    # Every route already needs a viewer; a route that needs more declares
    # `dependencies=context.operator` (or `.admin`), which also writes it to the audit log.
    operator: Sequence[params.Depends]
    admin: Sequence[params.Depends]
    # (request, what the action was about beyond its path, e.g. a message id): added to the
    # request's audit entry. Never a secret or message content.
    audit_detail: Callable[[Request, str], None]
    # (workflow handle, seconds, failed=error code) -> its result; failures become the admin
    # API's answers (422 call_refused, 502 with the error type, 504 still running).
    result: Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Rotation:
    """A secret the hub rotates on a Temporal schedule (`hub secrets schedule --<option>`)."""

    secret: str
    option: str  # the CLI flag, e.g. "twilio-auth-token"
    help: str
    # (client, task queue, the option's value or None, every) -> the schedule id (idempotent).
    schedule: Callable[[Client, str, str | None, timedelta], Awaitable[str]]
    # Whether the option takes a value (Auth0: the log stream id); else it is a flag.
    takes_value: bool = False


# What a poll source may never exceed, whatever it declares: a page is one transaction and one
# activity attempt, a run one workflow. (A cursor is at most storage MAX_CURSOR_LENGTH long.)
MAX_EVENTS_PER_PAGE = 1000
MAX_PAGES_PER_RUN = 100


@dataclass(frozen=True, slots=True)
class PollContext:
    """What one fetch is made with: the calls context (settings, secrets, engine), which
    instance of the source (a realm, a feed, a PMS connection; "" for the only one) and how
    many events the page may hold at most (ask the partner for no more)."""

    calls: CallsContext
    instance: str = ""
    max_events: int = 100


@dataclass(frozen=True, slots=True)
class PollPage:
    """One fetched page: its events (ids unique within the partner, across its sources and
    instances: they share raw_events' dedup key with its webhooks), the cursor to fetch the
    next page from (None: keep the current one) and whether the partner has more now."""

    events: Sequence[PartnerEvent]
    cursor: str | None
    more: bool = False


@dataclass(frozen=True, slots=True)
class PollSource:
    """A source the hub polls on a Temporal schedule (`every` apart) and on `hub poll`.

    `fetch(context, cursor)` runs in an activity (synchronous, under outbound.py's retry
    policy): it raises `outbound.call_failed(...)` for a failed call (retryable or not) and
    returns one page from `cursor` (None on the first run). Its error messages are stored in
    `poll_cursors.last_error` and shown by doctor: never a secret (a feed URL's token)."""

    name: str  # unique within the partner; schedule id `poll.<partner>.<name>`
    every: timedelta
    fetch: Callable[[PollContext, str | None], PollPage]
    max_events_per_page: int = 100  # capped at MAX_EVENTS_PER_PAGE
    max_pages_per_run: int = 10  # capped at MAX_PAGES_PER_RUN; the next run goes on
    # One run per connection (`pms_connections` of this partner, PollContext.instance = its
    # id, a schedule `poll.<partner>.<name>.<connection>` each) instead of one for the partner.
    per_connection: bool = False

    @property
    def page_limit(self) -> int:
        return max(1, min(self.max_events_per_page, MAX_EVENTS_PER_PAGE))

    @property
    def run_limit(self) -> int:
        return max(1, min(self.max_pages_per_run, MAX_PAGES_PER_RUN))


@dataclass(frozen=True, slots=True)
class Partner:
    name: str
    priority: Priority  # required: `hub doctor --strict` gates on P0
    summary: str  # one line, shown by `hub connectors` and doctor
    # How people see the name ("Sign in with Auth0"); None: the name capitalized.
    display_name: str | None = None
    secrets: tuple[Secret, ...] = ()
    capabilities: frozenset[Capability] = frozenset()
    # Inbound: the edge's connector for POST /webhooks/{name}.
    webhook: Callable[[WebhookContext], Connector] | None = None
    # Calls out: activities (a class built with its dependencies) and their workflows. The
    # workflow classes are returned by a function so that reading the declaration does not
    # import them (nor the SDKs their activities use): the worker calls it once.
    calls: Callable[[CallsContext], PartnerCalls] | None = None
    workflows: Callable[[], Sequence[type]] | None = None
    # Activities the partner's upkeep needs (its rotations); registered on every worker.
    upkeep: Callable[[UpkeepContext], Sequence[Callable[..., Any]]] | None = None
    # Temporal Schedules to ensure at start: (client, task queue) -> schedule id, idempotent.
    schedules: tuple[Callable[[Client, str], Awaitable[str]], ...] = ()
    rotations: tuple[Rotation, ...] = ()
    # `hub <cli_name> ...`: a Typer sub-app, built when the CLI is (imports stay lazy).
    cli_name: str | None = None
    cli: Callable[[], typer.Typer] | None = None
    # Admin API routes the partner adds (e.g. message sends), mounted under /api.
    routes: Callable[[RoutesContext], APIRouter] | None = None
    # Public pages a person reaches from the partner's own flow (where Stripe sends a cleaner
    # back from onboarding): no sign-in, so each page checks a token of its own. Every path
    # must start with /{name}/ (checked at start); not in the OpenAPI document.
    pages: Callable[[RoutesContext], APIRouter] | None = None
    # Handlers that belong to this partner alone (features that span partners are core).
    handlers: tuple[Handler, ...] = ()
    # Sources the hub polls; their events are stored and normalized like webhooks.
    polls: tuple[PollSource, ...] = ()
    # An auth provider (capability "auth"): the issuer hosts that are its own domains, so the
    # hub tells which provider an OIDC issuer is without HUB_AUTH_PROVIDER (custom domains need
    # the setting). A host matches a suffix starting with "." or equals an entry without one;
    # an entry ending in "." matches as a prefix ("clerk." for clerk.example.com).
    issuer_hosts: tuple[str, ...] = ()
    # An auth provider's invitations and sign-in policy check (connectors/identity_provider.py).
    identity: IdentityProvider | None = None
    # An auth provider whose discovery has no `end_session_endpoint`: the URL that ends the
    # provider's session, from (issuer, client_id, return_to), for the panel's sign-out.
    logout_url: Callable[[str, str, str], str] | None = None
    # An email provider: the DNS records its sending domain (HUB_EMAIL_FROM's) needs, which
    # doctor checks when it can reach DNS. Called with the domain; no I/O.
    domain_records: Callable[[str], Sequence[DomainRecord]] | None = None

    def issues_for(self, host: str) -> bool:
        """Whether `host` (an OIDC issuer's, lower case) is one of this provider's domains."""
        return any(
            host.endswith(entry) if entry.startswith(".")
            else host.startswith(entry) if entry.endswith(".")
            else host == entry
            for entry in self.issuer_hosts
        )  # fmt: skip

    @property
    def shown_name(self) -> str:
        return self.display_name or self.name.capitalize()

    @property
    def secret_names(self) -> list[str]:
        return [secret.name for secret in self.secrets]

    def poll(self, name: str) -> PollSource:
        for source in self.polls:
            if source.name == name:
                return source
        raise KeyError(name)

    def secret(self, name: str) -> Secret:
        for secret in self.secrets:
            if secret.name == name:
                return secret
        raise KeyError(name)
