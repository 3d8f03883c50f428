"""Helpers for tests: settings, an in-process hub served over real HTTP, polling."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from integration_hub.connectors.partners import PARTNERS, build_connectors, partner_named
from integration_hub.orchestration.devserver import free_port
from integration_hub.runtime import Hub
from integration_hub.secrets import EnvSecretSource
from integration_hub.settings import Settings
from integration_hub.testing import delivered_types, webhook_secret_name, well_formed_secret
from integration_hub.web.app import create_app
from integration_hub.web.server import build_config

STRIPE_SECRET = "whsec_test_5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH"
CLERK_SECRET = "whsec_Y2xlcmstdGVzdC1zZWNyZXQtZm9yLWludGVncmF0aW9uLWh1Yg=="
AUTH0_TOKEN = "auth0-log-stream-test-token-7f3c"
TWILIO_ACCOUNT_SID = "AC5ef8732a3c49700934481addd5ce1659"
TWILIO_AUTH_TOKEN = "9f2b6a1c3d4e5f60718293a4b5c6d7e8"
TWILIO_WHATSAPP_NUMBER = "+13055550100"
GOOGLE_MAPS_API_KEY = "AIzaSyTestKeyForIntegrationHub000000000"
STRIPE_SECRET_KEY = "sk_test_51TestKeyForIntegrationHub0000000000"
ADMIN_TOKEN = "test-admin-token-0c1f"
T = TypeVar("T")


def make_settings(
    tmp_path: Path, database_url: str, temporal_address: str, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "home": tmp_path,
        "database_url": database_url,
        "temporal_address": temporal_address,
        "task_queue": f"test-{uuid.uuid4().hex}",
        "admin_token": ADMIN_TOKEN,
        "poll_interval_seconds": 0.1,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# Values tests sign or assert with by name; every other secret a partner declares with a
# `local` maker (as `hub init` makes it) gets one made once per test session.
FIXED_SECRETS = {
    "STRIPE_WEBHOOK_SECRET": STRIPE_SECRET,
    "CLERK_WEBHOOK_SECRET": CLERK_SECRET,
    "AUTH0_LOG_STREAM_TOKEN": AUTH0_TOKEN,
    "TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT_SID,
    "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
    "TWILIO_WHATSAPP_NUMBER": TWILIO_WHATSAPP_NUMBER,
}


@cache
def local_secrets() -> dict[str, str]:
    """The secrets a test hub holds: the fixed values above, then every partner's secret that
    `hub init` would make locally (so a new partner's webhook secret is set unasked)."""
    values = dict(FIXED_SECRETS)
    for partner in PARTNERS:
        for secret in partner.secrets:
            if secret.name not in values and secret.local is not None:
                values[secret.name] = secret.local()
    # A partner verifying per connection (a PMS): its family's value for the test connection,
    # in the shape it declares (`user:password` for Basic auth).
    for name, connector in build_connectors().items():
        if connector.manifest.secret_per_endpoint and delivered_types(connector):
            family = connector.manifest.webhook_secret
            declared = partner_named(name).secret(family).format
            values[webhook_secret_name(name)] = well_formed_secret(declared)
    return values


def webhook_secret(partner: str) -> str:
    """The value a test hub verifies `partner`'s deliveries with (sign with it); for a partner
    verifying per connection, the test connection's (post to `webhook_path(partner)`)."""
    return local_secrets()[webhook_secret_name(partner)]


def webhook_partners() -> list[str]:
    """Every partner that receives webhooks (one that only polls does not), from the registry."""
    return sorted(name for name, c in build_connectors().items() if delivered_types(c))


def partner_secrets() -> EnvSecretSource:
    return EnvSecretSource(environ=dict(local_secrets()))


class RunningHub:
    """A hub started in this process and served over real HTTP by uvicorn."""

    def __init__(self, hub: Hub, base_url: str) -> None:
        self.hub = hub
        self.base_url = base_url
        self.http = httpx.AsyncClient(base_url=base_url, timeout=30)
        self.admin = httpx.AsyncClient(
            base_url=base_url, timeout=30, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )

    async def close(self) -> None:
        await self.http.aclose()
        await self.admin.aclose()


class serve_hub:
    def __init__(self, hub: Hub, host: str = "127.0.0.1") -> None:
        self.hub = hub
        self.host = host
        self.port = free_port()
        # The transport `hub serve` runs (receipt deadline, head cap, connection caps).
        config = build_config(
            create_app(hub, manage_lifecycle=False), hub.settings, host=host,
            port=self.port, loop="none", lifespan="off", timeout_graceful_shutdown=None,
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.running: RunningHub | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RunningHub:
        await self.hub.start()
        self._task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            await asyncio.sleep(0.01)
        netloc = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 literal
        self.running = RunningHub(self.hub, f"http://{netloc}:{self.port}")
        return self.running

    async def __aexit__(self, *exc: object) -> None:
        assert self.running is not None and self._task is not None
        await self.running.close()
        self.server.should_exit = True
        await self._task
        await self.hub.stop()


@asynccontextmanager
async def hub_with(
    tmp_path: Path, database_url: str, temporal_address: str, **overrides: Any
) -> AsyncIterator[RunningHub]:
    """An edge-only hub (no pipeline) served over HTTP, with settings `overrides`."""
    settings = make_settings(tmp_path, database_url, temporal_address, **overrides)
    async with serve_hub(Hub(settings, secrets=partner_secrets(), pipeline=False)) as running:
        yield running


async def wait_until(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], *, timeout: float = 30.0
) -> T:
    """Poll `probe` until `accept(result)`; fail with the last result after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await probe()
        if accept(result):
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {result!r}")
        await asyncio.sleep(0.05)


def stripe_delivery(
    event_type: str = "payment_intent.succeeded", **changes: Any
) -> tuple[bytes, dict[str, str]]:
    """A signed Stripe delivery; `changes` are merged into data.object before signing."""
    import orjson

    from integration_hub.testing import connector, sign_as

    event = orjson.loads(connector("stripe").sample(event_type))
    event["data"]["object"].update(changes)
    body = orjson.dumps(event)
    return body, sign_as("stripe", body, secret=STRIPE_SECRET)


def table_counts(hub: Hub) -> dict[str, int]:
    from sqlalchemy import func, select

    from integration_hub.storage.tables import (
        handler_runs,
        internal_events,
        ledger_entries,
        raw_events,
    )

    with hub.engine.connect() as connection:
        return {
            t.name: connection.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (raw_events, internal_events, handler_runs, ledger_entries)
        }
