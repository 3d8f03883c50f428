"""Assembles the running hub: engine, connectors, writer, normalizer, dispatcher, Temporal.

`hub serve` runs the edge and starts the pipeline as a child `hub worker`; `hub worker` runs
the pipeline only. Ingest never waits on Temporal: the connection is made in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets as token_generator
import subprocess
import sys
from collections.abc import Coroutine
from typing import Any

import structlog
from sqlalchemy import Engine, text
from temporalio.client import Client

from integration_hub import tracing
from integration_hub.admission import IngestRateLimiter
from integration_hub.backlog import run_backlog_gauges
from integration_hub.connectors.base import Connector
from integration_hub.connectors.partners import build_connectors
from integration_hub.doctor import partners_with_unpinned_url, unpinned_signed_url
from integration_hub.home import prepare_home
from integration_hub.orchestration.calls import ensure_schedules, partner_calls, preflight
from integration_hub.orchestration.devserver import EmbeddedTemporal, die_with_parent
from integration_hub.orchestration.handlers import handler_names_for
from integration_hub.orchestration.worker import activity_executor, build_worker
from integration_hub.pipeline.dispatch import Dispatcher
from integration_hub.pipeline.normalizer import Normalizer
from integration_hub.pipeline.writer import GroupCommitWriter
from integration_hub.secrets import SecretSource, open_secret_source
from integration_hub.settings import Settings
from integration_hub.storage import migrate
from integration_hub.storage.engine import is_sqlite, make_engine

log = structlog.get_logger(__name__)


class Hub:
    """One hub process. `edge` takes deliveries (group commit writer); `pipeline` normalizes,
    dispatches and runs the Temporal worker here; `pipeline_process` runs the pipeline in a
    child `hub worker` instead, so normalization never competes with the edge for the GIL."""

    def __init__(
        self,
        settings: Settings,
        *,
        secrets: SecretSource | None = None,
        edge: bool = True,
        pipeline: bool = True,
        pipeline_process: bool = False,
    ) -> None:
        if pipeline and pipeline_process:
            raise ValueError("run the pipeline here or in a child process, not both")
        self.settings = settings
        # First, before the database, the secrets store or Temporal create a file: the umask
        # and a HUB_HOME private to us, or UnsafeFileMode naming the chmod that fixes it.
        prepare_home(settings.home)
        tracing.configure_from_env()  # OTLP when OTEL_EXPORTER_OTLP_*ENDPOINT is set, else off
        self.engine: Engine = make_engine(settings.resolved_database_url())
        self.connectors: dict[str, Connector] = build_connectors(settings, engine=self.engine)
        self.secrets = secrets or open_secret_source(settings)
        self.admin_token = (
            settings.admin_token.get_secret_value() if settings.admin_token else None
        ) or token_generator.token_urlsafe(32)
        self.admin_token_generated = settings.admin_token is None
        self.edge, self.pipeline, self.pipeline_process = edge, pipeline, pipeline_process
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
        # Built here, closed in stop(): a Redis-backed limiter holds a connection pool.
        self.rate_limiter = IngestRateLimiter.from_settings(settings)
        self.temporal_client: Client | None = None
        self._temporal_address: asyncio.Future[str] | None = None
        self._embedded: EmbeddedTemporal | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._activities = activity_executor()
        self._tasks: list[asyncio.Task[None]] = []

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(coroutine, name=name))

    async def start(self) -> None:
        # Before anything runs: a live payment key outside production, say, stops the start.
        preflight(partner_calls(self.settings, self.secrets, self.engine), self.settings)
        if self.edge:  # a warning, not a refusal: behind a trusted proxy the hub may be right
            base = self.settings.public_base_url
            for manifest in partners_with_unpinned_url(self.connectors, self.secrets, base):
                log.warning(
                    "public_base_url_not_set",
                    partner=manifest.name,
                    detail=unpinned_signed_url(manifest),
                )
        await asyncio.to_thread(migrate.upgrade, self.engine)
        self._temporal_address = asyncio.get_running_loop().create_future()
        if self.edge:
            self._writer_task = asyncio.create_task(self.writer.run(), name="writer")
            interval = self.settings.backlog_refresh_seconds
            self._spawn(run_backlog_gauges(self.engine, interval=interval), "backlog-gauges")
        if self.pipeline:
            poll = self.settings.poll_interval_seconds
            workers = 1 if is_sqlite(self.engine) else self.settings.normalizer_workers
            for index in range(workers):
                self._spawn(self.normalizer.run(poll_interval=poll), f"normalizer-{index}")
            self._spawn(self.dispatcher.run(poll_interval=poll), "dispatcher")
        self._spawn(self._run_temporal(), "temporal")
        if self.pipeline_process:
            self._spawn(self._supervise_pipeline_process(), "pipeline-process")

    async def stop(self) -> None:
        # Commit what is already waiting before the rest goes down: those deliveries get 2xx.
        await self.writer.close()
        if self._writer_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._writer_task, timeout=10)
        # Let the pipeline finish the batch it holds: a worker thread cannot be cancelled, and
        # disposing of the engine under it would orphan its connection.
        self.normalizer.stopping = self.dispatcher.stopping = True
        self.normalizer.wake.set()
        self.dispatcher.wake.set()
        pipeline = [t for t in self._tasks if t.get_name().startswith(("normalizer", "dispatcher"))]
        if pipeline:
            await asyncio.wait(pipeline, timeout=30)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await asyncio.to_thread(self._activities.shutdown, wait=True)
        if self._child is not None and self._child.poll() is None:
            self._child.terminate()
            await asyncio.to_thread(self._child.wait)
        if self._embedded is not None:
            self._embedded.stop()
        await self.rate_limiter.close()
        self.engine.dispose()
        await asyncio.to_thread(tracing.shutdown)

    async def _resolve_temporal_address(self) -> str:
        if self.settings.temporal_address:
            return self.settings.temporal_address
        self._embedded = EmbeddedTemporal(db_file=self.settings.home.resolve() / "temporal.db")
        await self._embedded.start()
        log.info("temporal_dev_server_started", address=self._embedded.address)
        return self._embedded.address

    async def _run_temporal(self) -> None:
        address = await self._resolve_temporal_address()
        assert self._temporal_address is not None
        self._temporal_address.set_result(address)
        delay = 0.5
        while True:
            try:
                client = await Client.connect(
                    address,
                    namespace=self.settings.temporal_namespace,
                    interceptors=tracing.temporal_interceptors(),  # the worker inherits them
                )
                self.temporal_client = self.dispatcher.client = client
                self.dispatcher.wake.set()
                log.info("temporal_connected", address=address)
                if not self.pipeline:
                    return
                try:
                    await ensure_schedules(client, self.settings, engine=self.engine)
                except Exception as exc:  # upkeep can wait; events must not
                    log.warning("schedules_not_ensured", error=f"{type(exc).__name__}: {exc}")
                await build_worker(
                    client, self.settings, self.engine, self._activities, secrets=self.secrets
                ).run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # unreachable or lost: ingest and normalization go on
                log.warning(
                    "temporal_unavailable", address=address, error=f"{type(exc).__name__}: {exc}"
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _supervise_pipeline_process(self) -> None:
        """Run `hub worker` as a child that dies with us, and restart it if it exits."""
        assert self._temporal_address is not None
        env = {
            **os.environ,
            "HUB_TEMPORAL_ADDRESS": await self._temporal_address,
            "HUB_DATABASE_URL": self.settings.resolved_database_url(),
            "HUB_HOME": str(self.settings.home.resolve()),
            "HUB_TASK_QUEUE": self.settings.task_queue,
        }
        while True:
            self._child = subprocess.Popen(  # noqa: ASYNC220 (our own entry point)
                [sys.executable, "-m", "integration_hub", "worker"],
                env=env,
                preexec_fn=die_with_parent,
            )
            code = await asyncio.to_thread(self._child.wait)
            log.error("pipeline_process_exited", returncode=code)
            await asyncio.sleep(1)

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
