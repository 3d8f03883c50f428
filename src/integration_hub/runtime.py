"""Assembles the running hub: engine, connectors, writer, normalizer, dispatcher, Temporal.

`hub serve` runs all of it; `hub worker` runs everything but the HTTP edge. Ingest never
waits on Temporal: the Temporal connection is made in the background, with retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets as token_generator
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Engine, text
from temporalio.client import Client

from integration_hub.connectors.base import Connector
from integration_hub.connectors.registry import build_connectors
from integration_hub.orchestration.devserver import EmbeddedTemporal
from integration_hub.orchestration.handlers import handler_names_for
from integration_hub.orchestration.worker import build_worker
from integration_hub.pipeline.dispatch import Dispatcher
from integration_hub.pipeline.normalizer import Normalizer
from integration_hub.pipeline.writer import GroupCommitWriter
from integration_hub.secrets import EnvSecretSource, SecretSource
from integration_hub.settings import Settings
from integration_hub.storage import migrate
from integration_hub.storage.engine import is_sqlite, make_engine

log = structlog.get_logger(__name__)


class Hub:
    def __init__(
        self,
        settings: Settings,
        *,
        secrets: SecretSource | None = None,
        run_worker: bool = True,
    ) -> None:
        self.settings = settings
        self.engine: Engine = make_engine(settings.resolved_database_url())
        self.connectors: dict[str, Connector] = build_connectors(settings)
        self.secrets = secrets or EnvSecretSource(env_file=Path(".env"))
        self.admin_token = (
            settings.admin_token.get_secret_value() if settings.admin_token else None
        ) or token_generator.token_urlsafe(32)
        self.admin_token_generated = settings.admin_token is None
        self.run_worker = run_worker
        self.dispatcher = Dispatcher(
            self.engine, task_queue=settings.task_queue, batch_size=settings.dispatch_batch_size
        )
        self.normalizer = Normalizer(
            self.engine,
            self.connectors,
            handler_names_for,
            batch_size=settings.normalizer_batch_size,
            on_stored=self.dispatcher.wake.set,
        )
        self.writer = GroupCommitWriter(
            self.engine, max_pending=settings.max_pending_writes, on_commit=self.normalizer.wake.set
        )
        self.temporal_client: Client | None = None
        self._embedded: EmbeddedTemporal | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(coroutine, name=name))

    async def start(self) -> None:
        await asyncio.to_thread(migrate.upgrade, self.engine)
        self._spawn(self.writer.run(), "writer")  # first: stop() waits for it by position
        workers = 1 if is_sqlite(self.engine) else self.settings.normalizer_workers
        for index in range(workers):
            self._spawn(
                self.normalizer.run(poll_interval=self.settings.poll_interval_seconds),
                f"normalizer-{index}",
            )
        self._spawn(
            self.dispatcher.run(poll_interval=self.settings.poll_interval_seconds), "dispatcher"
        )
        self._spawn(self._run_temporal(), "temporal")

    async def stop(self) -> None:
        # Commit what is already waiting before the rest goes down: those deliveries get 2xx.
        await self.writer.close()
        if self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._tasks[0], timeout=10)  # the writer, spawned first
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._embedded is not None:
            self._embedded.stop()
        self.engine.dispose()

    async def _temporal_address(self) -> str:
        if self.settings.temporal_address:
            return self.settings.temporal_address
        self._embedded = EmbeddedTemporal(db_file=self.settings.home.resolve() / "temporal.db")
        await self._embedded.start()
        log.info("temporal_dev_server_started", address=self._embedded.address)
        return self._embedded.address

    async def _run_temporal(self) -> None:
        address = await self._temporal_address()
        delay = 0.5
        while True:
            try:
                client = await Client.connect(address, namespace=self.settings.temporal_namespace)
                self.temporal_client = self.dispatcher.client = client
                self.dispatcher.wake.set()
                log.info("temporal_connected", address=address)
                if not self.run_worker:
                    return
                await build_worker(client, self.settings, self.engine).run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # unreachable or lost: ingest and normalization go on
                log.warning(
                    "temporal_unavailable", address=address, error=f"{type(exc).__name__}: {exc}"
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def readiness(self) -> dict[str, bool]:
        def database_ok() -> bool:
            try:
                with self.engine.connect().execution_options(read_only=True) as connection:
                    connection.execute(text("SELECT 1"))
                return True
            except Exception:
                return False

        temporal_ok = False
        if self.temporal_client is not None:
            with contextlib.suppress(Exception):
                temporal_ok = await asyncio.wait_for(
                    self.temporal_client.service_client.check_health(), timeout=2
                )
        return {"database": await asyncio.to_thread(database_ok), "temporal": temporal_ok}
