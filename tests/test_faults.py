"""Faults: PostgreSQL stopped during a burst, Temporal stopped and restarted.

Each test runs its own server (a private PostgreSQL cluster, a private Temporal dev server), never
the shared ones: stopping those would break every other test running against them.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import select

from integration_hub.orchestration.devserver import EmbeddedTemporal, free_port
from integration_hub.runtime import Hub
from integration_hub.storage.tables import raw_events
from tests.helpers import make_settings, partner_secrets, serve_hub, stripe_delivery, wait_until


class PrivatePostgres:
    """A throw-away cluster: initdb, pg_ctl start/stop. As root it runs as `postgres`, since
    PostgreSQL refuses to run as root."""

    def __init__(self, bindir: Path, as_user: str | None) -> None:
        self.bindir = bindir
        self.as_user = as_user
        self.directory = Path(tempfile.mkdtemp(prefix="hub-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        if as_user is not None:
            shutil.chown(self.directory, user=as_user)

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", self.as_user, "--"] if self.as_user else []
        subprocess.run(
            [*prefix, str(self.bindir / args[0]), *args[1:]],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        (self.directory / "options").write_text(options)

    def start(self) -> None:
        options = (self.directory / "options").read_text()
        log = str(self.directory / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop_immediately(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)


def _postgres_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    bindir = _postgres_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    as_user = None
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: PostgreSQL refuses to run as root")
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run PostgreSQL as")
        as_user = "postgres"
    server = PrivatePostgres(bindir, as_user)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.destroy()


async def _burst(
    url: str, outcomes: list[tuple[str, int]], stop: asyncio.Event, pause: float = 0.0
) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=15) as client:
        while not stop.is_set():
            body, headers = stripe_delivery()
            response = await client.post("/webhooks/stripe", content=body, headers=headers)
            outcomes.append((orjson.loads(body)["id"], response.status_code))
            await asyncio.sleep(pause)


@contextlib.asynccontextmanager
async def _senders(
    url: str, count: int, pause: float = 0.0
) -> AsyncIterator[list[tuple[str, int]]]:
    outcomes: list[tuple[str, int]] = []
    stop = asyncio.Event()
    tasks = [asyncio.create_task(_burst(url, outcomes, stop, pause)) for _ in range(count)]
    try:
        yield outcomes
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def _statuses(hub: Hub, ids: set[str]) -> dict[str, str]:
    def read() -> dict[str, str]:
        with hub.engine.connect() as connection:
            rows = connection.execute(
                select(raw_events.c.partner_event_id, raw_events.c.status).where(
                    raw_events.c.partner_event_id.in_(ids)
                )
            ).all()
        return {event_id: status for event_id, status in rows}

    return await asyncio.to_thread(read)


async def test_postgres_stopped_mid_burst_answers_503_and_loses_nothing_acknowledged(
    tmp_path: Path, private_postgres: PrivatePostgres, temporal_address: str
) -> None:
    settings = make_settings(
        tmp_path, private_postgres.url, temporal_address, rate_limit_per_client=None
    )
    async with serve_hub(Hub(settings, secrets=partner_secrets())) as running:
        async with _senders(running.base_url, 8) as outcomes:
            await wait_until(lambda: _count(outcomes, 200), lambda n: n >= 100)
            await asyncio.to_thread(private_postgres.stop_immediately)
            await wait_until(lambda: _count(outcomes, 503), lambda n: n >= 50)
            down = len(outcomes)
            await asyncio.to_thread(private_postgres.start)
            # The writer recovers by itself: 2xx again once the database is back.
            await wait_until(lambda: _count(outcomes[down:], 200), lambda n: n >= 50)
        assert {status for _, status in outcomes} == {200, 503}
        acknowledged = {event_id for event_id, status in outcomes if status == 200}
        statuses = await _statuses(running.hub, acknowledged)
        assert set(statuses) == acknowledged, "a 2xx without its row"
        await wait_until(
            lambda: _statuses(running.hub, acknowledged),
            lambda s: set(s.values()) == {"processed"},
            timeout=45,
        )


async def _count(outcomes: list[tuple[str, int]], status: int) -> int:
    return sum(code == status for _, code in outcomes)


async def test_temporal_stopped_ingest_goes_on_and_handlers_complete_after_restart(
    tmp_path: Path, database_url: str
) -> None:
    temporal = EmbeddedTemporal(db_file=tmp_path / "temporal.db", port=free_port())
    await temporal.start()
    try:
        settings = make_settings(tmp_path, database_url, temporal.address)
        async with serve_hub(Hub(settings, secrets=partner_secrets())) as running:
            await wait_until(lambda: _ready(running.hub), lambda ok: ok)
            temporal.stop()
            async with _senders(running.base_url, 4, pause=0.05) as outcomes:
                await wait_until(lambda: _count(outcomes, 200), lambda n: n >= 40)
            assert {status for _, status in outcomes} == {200}
            sent = {event_id for event_id, _ in outcomes}
            # Normalized without Temporal: handlers wait in the outbox.
            await wait_until(
                lambda: _statuses(running.hub, sent),
                lambda s: set(s.values()) == {"processing"},
            )
            await temporal.start()
            await wait_until(
                lambda: _statuses(running.hub, sent),
                lambda s: set(s.values()) == {"processed"},
                timeout=45,
            )
    finally:
        temporal.stop()


async def _ready(hub: Hub) -> bool:
    return (await hub.readiness())["temporal"]
