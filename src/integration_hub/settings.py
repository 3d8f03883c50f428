"""Settings from the environment (and an optional `.env`). Built in main/cli, never at import.

The core's settings only: a partner's own (its limits, the local server its tests point it at)
are a small settings class in its package, `connectors/<partner>/settings.py`, read from the same
environment and `.env` under its own prefix (`HUB_<PARTNER>_...`) by its factories.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HUB_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Literal["development", "test", "staging", "production"] = Field(
        default="development",
        description="HUB_ENV; live partner keys are refused outside production.",
    )
    home: Path = Field(
        default=Path("var"),
        description="Where embedded state lives; created 0700, its files 0600 (home.py): the hub "
        "refuses to start while anything in it is open to group or others.",
    )
    database_url: str | None = Field(
        default=None, description="postgresql://... ; default: a SQLite file under home."
    )
    temporal_address: str | None = Field(
        default=None, description="host:port of a Temporal cluster; default: embedded dev server."
    )
    temporal_namespace: str = "default"
    task_queue: str = "integration-hub"
    admin_token: SecretStr | None = None
    public_base_url: str | None = Field(
        default=None,
        # Partners whose scheme signs the URL (Twilio's) signed this one.
        description="The URL partners call (e.g. https://hooks.example.com); URL-signing partners "
        "signed this, not the host the hub sees behind a proxy or tunnel.",
    )
    trusted_proxies: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(),
        description="Comma-separated client addresses whose X-Forwarded-Proto/Host are believed "
        "when HUB_PUBLIC_BASE_URL is not set.",
    )

    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    # Admission at the edge (admission.py, web/ingest.py).
    rate_limit_per_partner: str | None = Field(
        # Above what one process ingests (about 10,000 a second): a cap against floods, not
        # a throttle on a partner's burst of retries after an outage.
        default="20000/second",
        description='Deliveries per partner, in the `limits` notation ("20000/second", '
        '"100000/minute"); empty: no limit. Answered with 429 and Retry-After.',
    )
    rate_limit_per_client: str | None = Field(
        default="5000/second",
        description="Requests to /webhooks per client address (the socket peer, or "
        "X-Forwarded-For from HUB_TRUSTED_PROXIES); empty: no limit.",
    )
    rate_limit_strategy: Literal["sliding-window-counter", "fixed-window", "moving-window"] = Field(
        default="sliding-window-counter",
        description="The `limits` strategy; moving-window is exact but keeps one entry a hit.",
    )
    redis_url: str | None = Field(
        default=None,
        description="redis://... : rate limits shared by every hub process; default in-process.",
    )
    max_header_count: int = Field(
        default=128,
        gt=0,
        description="More headers: 431. Room for DocuSign Connect's up to 100 signature "
        "headers (one per key) and a client's own.",
    )
    max_header_bytes: int = Field(
        default=16 * 1024,
        gt=0,
        description="The request head (request line and header lines) as received: the "
        "connection is answered 431 and cut as soon as it passes this, on every route; "
        "/webhooks also answers 431 when names and values together pass it.",
    )
    receipt_timeout_seconds: float = Field(
        default=15.0,
        gt=0,
        description="Deadline for a whole request (head and body) to arrive, from the "
        "connection's opening for its first request and from the first byte of each later "
        "one: then 408 (or a plain close when nothing was sent) and the connection closes.",
    )
    max_connections_per_client: int = Field(
        default=64,
        gt=0,
        description="Open connections per client address (socket peer; IPv6 per /64; "
        "HUB_TRUSTED_PROXIES are not capped); more are answered 503 and closed at once.",
    )
    body_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Deadline for reading a request body; then 408."
    )
    keep_alive_seconds: float = Field(
        default=5.0, gt=0, description="uvicorn: idle keep-alive connections close after this."
    )
    max_concurrency: int | None = Field(
        default=4096,
        gt=0,
        description="uvicorn: connections and tasks at once before it answers 503; at this "
        "many connections a new one closes the one waiting longest without a whole request head.",
    )
    signature_tolerance_seconds: int = Field(default=300, gt=0)
    max_pending_writes: int = Field(
        default=20_000,
        gt=0,
        description="Deliveries waiting for a commit before ingest sheds load.",
    )
    normalizer_batch_size: int = Field(default=500, gt=0)
    normalizer_workers: int = Field(default=2, gt=0, description="PostgreSQL only; SQLite uses 1.")
    dispatch_batch_size: int = Field(default=200, gt=0)
    poll_interval_seconds: float = Field(
        default=0.1, gt=0, description="How often idle pipeline workers look for new work."
    )
    worker_metrics_port: int | None = Field(
        default=None,
        gt=0,
        lt=65536,
        description="`hub worker` (and the child of `hub serve`) serves its own /metrics here: "
        "normalization, handler outcomes, receipt-to-processed latency and calls out happen in "
        "the worker, so Prometheus scrapes it as a second target. Unset: not served.",
    )
    worker_metrics_host: str = Field(default="127.0.0.1", description="Where that port listens.")
    backlog_refresh_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often the edge reads hub_events_waiting/dead_lettered from the database.",
    )
    bench_mode: bool = Field(
        default=False, description="Adds POST /bench/ceiling (read body, 200) for benchmarks."
    )
    # Sends on WhatsApp (the messaging capability).
    whatsapp_templates: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description='JSON {"template name": {"en": "HX...", "es": "HX..."}}: approved WhatsApp '
        "Content templates per language, the only way to write outside the 24-hour window.",
    )
    # Secrets (secrets/): where partner secrets live, and how rotation overlaps and ages.
    secrets_backend: Literal["env", "file", "aws"] = Field(
        default="file",
        description="env: environment/.env, read only; file: encrypted file in home; aws: AWS "
        "Secrets Manager. file and aws fall back to environment/.env for names they lack.",
    )
    master_key: SecretStr | None = Field(
        default=None, description="32 bytes, base64; default: a 0600 key file in home."
    )
    secret_overlap_hours: float = Field(
        default=24, ge=0, description="How long a rotated secret's previous version stays valid."
    )
    secret_overlap_hours_by_name: dict[str, float] = Field(
        default_factory=dict, description='JSON {"SECRET_NAME": hours}: per-secret overlaps.'
    )
    secret_max_age_days: float = Field(
        default=90, gt=0, description="Past this age a secret raises the daily reminder."
    )
    secret_max_age_days_by_name: dict[str, float] = Field(
        default_factory=dict, description='JSON {"SECRET_NAME": days}: per-secret maximum ages.'
    )
    aws_secrets_prefix: str = "integration-hub/"
    aws_region: str | None = None
    aws_endpoint_url: str | None = Field(
        default=None, description="Tests/LocalStack: a Secrets Manager endpoint other than AWS."
    )
    # Admin sign-in (web/auth.py): OpenID Connect access tokens from Clerk or Auth0.
    auth_issuer: str | None = Field(
        default=None,
        validation_alias=AliasChoices("HUB_AUTH_ISSUER", "AUTH_ISSUER", "auth_issuer"),
        description="HUB_AUTH_ISSUER (else AUTH_ISSUER, else the secret store's AUTH_ISSUER): "
        # The auth partners' issuers look like https://tenant.auth0.com/ and
        # https://clerk.example.com.
        "the token issuer, e.g. https://login.example.com/ (as the auth partner shows it).",
    )
    auth_audience: str | None = Field(
        default=None, description="The `aud` admin tokens must carry; sign-in is off without it."
    )
    auth_jwks_url: str | None = Field(
        default=None, description="Default: {issuer}/.well-known/jwks.json."
    )
    auth_jwks_cooldown_seconds: float = Field(
        default=10, ge=0, description="Least time between JWKS refetches for an unknown kid."
    )
    # Which partner provides a capability several partners offer (connectors/partners.py,
    # `provider_for`): a name from `hub connectors`, checked against the declarations.
    auth_provider: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_]{0,63}$",
        description="The auth partner the issuer is, for roles read from the users-and-roles "
        "mirror (keyed by provider and user). Default: the auth partner whose own domains the "
        "issuer's host is (`hub connectors --json`); otherwise the mirror grants no role.",
    )
    oidc_scopes: str = Field(
        default="openid profile email",
        pattern=r"^openid( [\x21-\x7e]{1,64}){0,15}$",
        description="Panel sign-in through the provider (web/oidc.py, on when AUTH_ISSUER, "
        "AUTH_CLIENT_ID and AUTH_CLIENT_SECRET are set): the scopes asked for, `openid` first.",
    )
    oidc_token_auth: Literal["auto", "client_secret_basic", "client_secret_post"] = Field(
        default="auto",
        description="How the sign-in authenticates at the token endpoint: auto is Basic when "
        "discovery lists it, else POST; set it to what the provider's application is set to "
        "(Auth0: Application > Credentials > Authentication Method).",
    )
    email_provider: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_]{0,63}$",
        description="The partner that sends email when several provide it.",
    )
    email_from: str | None = Field(
        default=None,
        max_length=320,
        description="The sender of the hub's e-mail, `Name <address>` or an address; its domain "
        "is the one doctor checks SPF and DKIM for.",
    )
    email_soft_bounce_limit: int = Field(
        default=3, ge=1, le=100, description="Soft bounces after which an address is suppressed."
    )
    email_unsubscribe_url: str | None = Field(
        default=None,
        pattern=r"^https://\S{1,2000}$",
        description="List-Unsubscribe one-click URL (https) in every e-mail the hub sends.",
    )
    email_unsubscribe_mailto: str | None = Field(
        default=None,
        pattern=r"^[^@\s<>,]{1,64}@[^@\s<>,]{1,255}$",
        description="List-Unsubscribe address in every e-mail the hub sends.",
    )
    support_provider: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_]{0,63}$",
        description="The support inbox partner when several provide it.",
    )
    support_idle_hours: float = Field(
        default=72,
        gt=0,
        le=24 * 90,
        description="A support conversation with no message for this long goes idle: the "
        "person's next matching message opens a new one.",
    )
    escalation_rules_file: Path | None = Field(
        default=None,
        description="A JSON file of escalation rules replacing the shipped ones (checked when "
        "the worker starts).",
    )
    session_lifetime_hours: float = Field(
        default=12, gt=0, description="Status panel sessions end this long after sign-in."
    )
    session_idle_minutes: float = Field(
        default=30, gt=0, description="Status panel sessions end after this long unused."
    )
    session_claims_hours: float = Field(
        default=1,
        gt=0,
        description="A panel session whose role came from the OIDC token's claims (not from the "
        "users-and-roles mirror, whose changes end sessions) ends this long after sign-in, at "
        "most the session lifetime: a role removed at the provider is noticed by then.",
    )
    identity_clock_skew_seconds: float = Field(
        default=300,
        ge=0,
        description="Identity events are ordered by the partner's time, but never past their "
        "receipt time plus this: a future date cannot pin a mirror row.",
    )
    invitation_ttl_seconds: int = Field(
        default=7 * 86400,
        ge=1,
        le=30 * 86400,  # Auth0's maximum for an organization invitation
        description="An invitation expires this long after it is made (at the provider too).",
    )
    raw_retention_days: int = Field(
        default=30, gt=0, description="Raw bodies are emptied this many days after receipt."
    )
    log_level: str = "INFO"
    log_json: bool | None = Field(default=None, description="Default: JSON unless on a terminal.")
    # Hospitable (connectors/hospitable)
    hospitable_api_base_url: str = Field(
        default="https://public.api.hospitable.com/v2",
        description="Hospitable's Public API v2 (tests point it at a local server).",
    )
    hospitable_requests_per_second: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Calls per second per Hospitable connection, shared by every worker "
        "(Hospitable documents no general limit; a 429's Retry-After pauses the connection).",
    )

    # iCal feeds (connectors/ical): each feed is a connection, its URL the secret
    # ICAL_FEED_URL__<CONNECTION>; the poll ticks every 5 minutes and fetches a feed when due.
    ical_poll_minutes: int = Field(
        default=10,
        ge=0,
        le=24 * 60,
        description="Minutes between two fetches of one iCal feed (Airbnb refreshes its own "
        "every 30 min to 3 h); checked on the poll's 5-minute tick, 0 fetches on every tick.",
    )
    ical_allow_private_hosts: bool = Field(
        default=False,
        description="Tests and local setups only: let a feed URL (or a redirect) reach a "
        "private or loopback host, over plain http too.",
    )
    # OwnerRez (connectors/ownerrez): its API (tests point it at a local server) and the
    # client-side budget per connection (OwnerRez documents no limit: a conservative one).
    ownerrez_api_base_url: str = Field(
        default="https://api.ownerrez.com", description="OwnerRez's API (no trailing /v2)."
    )
    ownerrez_calls_per_second: int = Field(default=5, ge=1, le=100)
    ownerrez_calls_per_minute: int = Field(default=300, ge=1, le=6000)
    ownerrez_first_poll_days: int = Field(
        default=365,
        ge=1,
        le=3650,
        description="A connection's first bookings poll asks for what changed this many days back.",
    )
    # Lodgify (connectors/lodgify): its API (tests point it at a local server) and the
    # client-side budget per connection (Lodgify documents no limit: a conservative one).
    lodgify_api_base_url: str = Field(
        default="https://api.lodgify.com", description="Lodgify's API (no trailing /v2)."
    )
    lodgify_calls_per_second: int = Field(default=5, ge=1, le=100)
    lodgify_calls_per_minute: int = Field(default=120, ge=1, le=6000)
    lodgify_first_poll_days: int = Field(
        default=365,
        ge=1,
        le=3650,
        description="A connection's first bookings poll asks for what changed this many days back.",
    )
    # The reservations handler (orchestration/reservation_calendar.py).
    ical_hold_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="A calendar feed that loses more than this share of its connection's future "
        "stays at once (two at least) is held: nothing is cancelled until it recovers or `hub connections release`.",
    )

    @field_validator("rate_limit_per_partner", "rate_limit_per_client", "redis_url")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("rate_limit_per_partner", "rate_limit_per_client")
    @classmethod
    def _valid_rate(cls, value: str | None) -> str | None:
        if value is not None:
            from limits import parse  # a typo must stop the start, not disable the limit

            parse(value)
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value

    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{(self.home / 'hub.db').resolve()}"

    # Hostaway (PMS): its API, its documented limits, its token's settling time.
    hostaway_api_base_url: str = Field(
        default="https://api.hostaway.com",
        description="Hostaway's API (tests point it at a local server); paths start with /v1.",
    )
    hostaway_ip_calls_per_10s: int = Field(
        default=7,
        ge=1,
        le=1000,
        description="Hostaway allows 15 requests per 10 s per IP, shared by every connection "
        "and worker calling from this hub's address; about half, as the hub's windows are fixed.",
    )
    hostaway_account_calls_per_10s: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Hostaway allows 20 requests per 10 s per account (connection); about half.",
    )
    hostaway_token_settle_seconds: float = Field(
        default=2.0,
        ge=0,
        le=10,
        description="A new Hostaway token is accepted only about a second after it is issued: "
        "its first call waits this long after the issue.",
    )


def normalize_database_url(url: str) -> str:
    """Accept the plain `postgresql://` form users paste and route it to psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
