"""`hub serve`, `hub worker`, `hub migrate`: run the hub, add pipeline capacity, migrate."""

from __future__ import annotations

import asyncio
import gc
import signal
from typing import TYPE_CHECKING

import typer

from integration_hub.cli.common import check_database, connect_database, settings

if TYPE_CHECKING:
    from integration_hub.runtime import Hub
    from integration_hub.settings import Settings


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run HTTP, normalizer, dispatcher and Temporal worker (and a dev Temporal when none is set)."""
    import uvicorn

    from integration_hub.logs import configure_logging
    from integration_hub.web.app import create_app
    from integration_hub.web.server import build_config

    configured = settings()
    configure_logging(configured)
    hub = checked_hub(configured, pipeline=False, pipeline_process=True)
    if hub.admin_token_generated:
        typer.echo(f"HUB_ADMIN_TOKEN not set; this run's admin token: {hub.admin_token}", err=True)
    # Slow or greedy clients (receipt deadline, head cap, connection caps): web/server.py.
    config = build_config(create_app(hub), configured, host=host, port=port)
    # The hot path allocates many short-lived objects and no cycles worth a pause: move what
    # startup built out of the collector's sight and collect the young generation less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    uvicorn.Server(config).run()


def checked_hub(
    configured: Settings,
    *,
    edge: bool = True,
    pipeline: bool = True,
    pipeline_process: bool = False,
) -> Hub:
    """A Hub that may start, or exit 2 saying why not (a live key outside production, a
    secrets key file others can read, a database out of reach), before anything runs.

    `Hub.start` runs the same preflight; it is called here too because under `hub serve`
    start runs inside uvicorn's lifespan, where a refusal would be a traceback."""
    from integration_hub.errors import UnsafeConfiguration
    from integration_hub.orchestration.calls import partner_calls, preflight
    from integration_hub.runtime import Hub
    from integration_hub.secrets.store import SecretStoreError

    try:
        hub = Hub(configured, edge=edge, pipeline=pipeline, pipeline_process=pipeline_process)
        preflight(partner_calls(hub.settings, hub.secrets, hub.engine), hub.settings)
    except (UnsafeConfiguration, SecretStoreError) as refusal:
        typer.echo(f"refusing to start: {refusal.detail}", err=True)
        raise typer.Exit(2) from None
    # Migrations run once serving, where a database out of reach would be a traceback.
    check_database(hub.engine, configured.resolved_database_url())
    return hub


def worker() -> None:
    """Run more normalizer, dispatcher and Temporal worker capacity (needs HUB_TEMPORAL_ADDRESS)."""
    from integration_hub.logs import configure_logging

    configured = settings()
    if not configured.temporal_address:
        typer.echo("hub worker joins a shared Temporal: set HUB_TEMPORAL_ADDRESS", err=True)
        raise typer.Exit(2)
    configure_logging(configured)

    async def main() -> None:
        hub = checked_hub(configured, edge=False)
        if configured.worker_metrics_port:
            from prometheus_client import start_http_server

            # The pipeline's own counters live in this process: serve them for a scrape.
            start_http_server(configured.worker_metrics_port, addr=configured.worker_metrics_host)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await hub.start()
        try:
            await stop.wait()
        finally:
            await hub.stop()

    asyncio.run(main())


def migrate() -> None:
    """Apply database migrations (serve also applies them at start)."""
    from integration_hub.errors import UnsafeConfiguration
    from integration_hub.storage import migrate as migrations

    url = settings().resolved_database_url()
    try:
        engine = connect_database(url)
        try:
            migrations.upgrade(engine)
        finally:
            engine.dispose()
    except UnsafeConfiguration as refusal:
        typer.echo(f"refusing to migrate: {refusal.detail}", err=True)
        raise typer.Exit(2) from None
    typer.echo("database is at the latest revision")
