"""create_app(hub): the ingest edge in front, the admin API behind, one lifespan for both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.types import ASGIApp, Receive, Scope, Send

from integration_hub.runtime import Hub
from integration_hub.web.admin import build_admin
from integration_hub.web.ingest import PREFIX, IngestApp
from integration_hub.web.ingest_openapi import OPENAPI_PATHS
from integration_hub.web.panel import build_panel


def create_app(hub: Hub, *, manage_lifecycle: bool = True) -> ASGIApp:
    ingest = IngestApp(
        connectors=hub.connectors,
        secrets=hub.secrets,
        writer=hub.writer,
        max_body_bytes=hub.settings.max_body_bytes,
        public_base_url=hub.settings.public_base_url,
        trusted_proxies=hub.settings.trusted_proxies,
        rate_limiter=hub.rate_limiter,
        max_header_count=hub.settings.max_header_count,
        max_header_bytes=hub.settings.max_header_bytes,
        body_timeout_seconds=hub.settings.body_timeout_seconds,
    )
    admin = build_admin(hub)
    admin.include_router(build_panel(hub, api=admin))
    admin.openapi_schema = {**admin.openapi()}
    admin.openapi_schema["paths"] = {
        **OPENAPI_PATHS,
        **admin.openapi_schema["paths"],
    }

    if manage_lifecycle:

        @asynccontextmanager
        async def lifespan(_app: object) -> AsyncIterator[None]:
            await hub.start()
            try:
                yield
            finally:
                await hub.stop()

        admin.router.lifespan_context = lifespan

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        # Webhooks skip routing and middleware entirely: this branch is the hot path.
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            await ingest(scope, receive, send)
        else:
            await admin(scope, receive, send)

    if hub.settings.bench_mode:
        return _with_ceiling(app)
    return app


def _with_ceiling(app: ASGIApp) -> ASGIApp:
    """Benchmark mode: the same server with a route that only reads the body and answers 200."""

    async def bench_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == CEILING_PATH:
            more = True
            while more:
                message = await receive()
                more = message.get("more_body", False)
            await send({"type": "http.response.start", "status": 200, "headers": CEILING_HEADERS})
            await send({"type": "http.response.body", "body": b"{}"})
        else:
            await app(scope, receive, send)

    return bench_app


CEILING_PATH = "/bench/ceiling"
CEILING_HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"2")]
