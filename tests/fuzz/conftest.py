"""A real hub served over HTTP from its own thread and event loop, so that synchronous
hypothesis and schemathesis tests can hammer it while it keeps serving."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from integration_hub.runtime import Hub
from integration_hub.storage.tables import raw_events
from integration_hub.testing import scratch_database
from tests.conftest import DATABASES, POSTGRES_URL
from tests.helpers import make_settings, partner_secrets, serve_hub


@dataclass(frozen=True)
class FuzzedHub:
    hub: Hub
    base_url: str

    def raw_event_count(self) -> int:
        with self.hub.engine.connect() as connection:
            count: int = connection.execute(
                select(func.count()).select_from(raw_events)
            ).scalar_one()
        return count


class ThreadedHub:
    """`serve_hub` run by `asyncio.run` in a daemon thread until `stop`."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._base_url = ""
        self._thread = threading.Thread(target=self._run, name="fuzzed-hub", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # surfaced in the test thread by `start`/`stop`
            self._error = error
            self._started.set()

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with serve_hub(self.hub) as running:
            self._base_url = running.base_url
            self._started.set()
            await self._stop.wait()

    def start(self) -> FuzzedHub:
        self._thread.start()
        if not self._started.wait(60) or self._error is not None:
            raise RuntimeError("the fuzzed hub did not start") from self._error
        return FuzzedHub(self.hub, self._base_url)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)
        if self._error is not None:
            raise RuntimeError("the fuzzed hub failed") from self._error


@pytest.fixture(scope="module", params=DATABASES)
def fuzzed_hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, temporal_address: str
) -> Iterator[FuzzedHub]:
    """One hub per module and database. No public base URL: Twilio's URL then comes from the
    Host header, which the fuzzer controls."""
    tmp_path: Path = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    with scratch_database(request.param, tmp_path, POSTGRES_URL) as url:
        settings = make_settings(tmp_path, url, temporal_address, max_body_bytes=64 * 1024)
        threaded = ThreadedHub(Hub(settings, secrets=partner_secrets()))
        running = threaded.start()
        try:
            yield running
        finally:
            threaded.stop()
