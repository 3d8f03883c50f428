"""Helpers for tests: settings, an in-process hub served over real HTTP, polling."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from integration_hub.orchestration.devserver import free_port
from integration_hub.runtime import Hub
from integration_hub.secrets import EnvSecretSource
from integration_hub.settings import Settings
from integration_hub.web.app import create_app

STRIPE_SECRET = "whsec_test_5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH"
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


def stripe_secrets() -> EnvSecretSource:
    return EnvSecretSource(environ={"STRIPE_WEBHOOK_SECRET": STRIPE_SECRET})


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
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.port = free_port()
        config = uvicorn.Config(
            create_app(hub, manage_lifecycle=False), host="127.0.0.1", port=self.port,
            lifespan="off", log_level="warning", loop="none", http="httptools",
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.running: RunningHub | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RunningHub:
        await self.hub.start()
        self._task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            await asyncio.sleep(0.01)
        self.running = RunningHub(self.hub, f"http://127.0.0.1:{self.port}")
        return self.running

    async def __aexit__(self, *exc: object) -> None:
        assert self.running is not None and self._task is not None
        await self.running.close()
        self.server.should_exit = True
        await self._task
        await self.hub.stop()


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


class HubProcess:
    """`hub serve` as a separate process, the way a user runs it."""

    def __init__(self, cwd: Path, env: dict[str, str], port: int) -> None:
        self.cwd, self.env, self.port = cwd, env, port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def hub_command() -> str:
        return str(Path(sys.executable).parent / "hub")

    def start(self, timeout: float = 60.0) -> None:
        with (self.cwd / "serve.log").open("ab") as log:
            self.process = subprocess.Popen(
                [self.hub_command(), "serve", "--port", str(self.port)],
                cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.cwd / "serve.log").read_text()[-3000:])
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise TimeoutError("hub serve did not come up")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def hub_env(home: Path, **extra: str) -> dict[str, str]:
    """A clean environment for a hub process: nothing leaks in from the developer's shell."""
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    return {**keep, "HUB_HOME": str(home), "HUB_LOG_JSON": "true", **extra}
