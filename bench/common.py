"""Shared pieces of the benchmark: databases, the hub as a process, CPU readings, request files."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from integration_hub.orchestration.devserver import free_port
from integration_hub.settings import normalize_database_url
from integration_hub.storage.tables import raw_events
from integration_hub.testing import connector, sign_as

OUT = Path(__file__).parent / "out"
SECRET = "whsec_bench_3f9a0c1d2e4b5a6978877665544332211"
ADMIN_TOKEN = "bench-admin-token"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Types that are normalized but start no handler workflow: the ingest figures measure the edge
# and the normalizer, not the Temporal dev server (measured on its own).
UNHANDLED_TYPES = (
    "invoice.paid",
    "payment_intent.payment_failed",
    "checkout.session.completed",
    "account.updated",
)


@dataclass
class Database:
    name: str
    url: str
    cleanup: str | None = None  # PostgreSQL schema to drop afterwards

    def count(self, *, not_received: bool = False) -> int:
        engine = create_engine(normalize_database_url(self.url))
        query = select(func.count()).select_from(raw_events)
        if not_received:
            query = query.where(raw_events.c.status != "received")
        with engine.connect() as connection:
            value = int(connection.execute(query).scalar_one())
        engine.dispose()
        return value


@contextlib.contextmanager
def database(kind: str, postgres_url: str | None, home: Path) -> Iterator[Database]:
    if kind == "sqlite":
        home.mkdir(parents=True, exist_ok=True)
        path = home / "hub.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        yield Database("sqlite", f"sqlite:///{path}")
        return
    assert postgres_url is not None
    base = normalize_database_url(postgres_url)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield Database("postgresql", url.render_as_string(hide_password=False), schema)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class HubServer:
    """`hub serve` in benchmark mode, as a separate process."""

    def __init__(self, home: Path, db: Database, temporal_address: str, task_queue: str) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}},
            "HUB_HOME": str(home),
            "HUB_DATABASE_URL": db.url,
            "HUB_TEMPORAL_ADDRESS": temporal_address,
            "HUB_TASK_QUEUE": task_queue,
            "HUB_ADMIN_TOKEN": ADMIN_TOKEN,
            "HUB_BENCH_MODE": "true",
            "HUB_LOG_LEVEL": "WARNING",
            "HUB_LOG_JSON": "true",
            # Request files are signed before the rounds start; keep them valid for the run.
            "HUB_SIGNATURE_TOLERANCE_SECONDS": "7200",
            "STRIPE_WEBHOOK_SECRET": SECRET,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        hub = str(Path(sys.executable).parent / "hub")
        with (self.home / "serve.log").open("ab") as log:
            self.process = subprocess.Popen(
                [hub, "serve", "--port", str(self.port)],
                env=self.env, cwd=self.home, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        raise TimeoutError("hub serve did not start")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU of the hub process (all its threads) so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def signed_delivery(event_type: str) -> tuple[str, bytes]:
    body = connector("stripe").sample(event_type)
    return sign_as("stripe", body, secret=SECRET)["Stripe-Signature"], body


def write_request_file(path: Path, count: int, *, duplicate_share: float, seed: int) -> int:
    """`count` signed deliveries, a share of them exact repeats; returns how many are unique."""
    rng = random.Random(seed)
    lines: list[bytes] = []
    unique = 0
    for _ in range(count):
        if lines and rng.random() < duplicate_share:
            lines.append(rng.choice(lines))
            continue
        signature, body = signed_delivery(rng.choice(UNHANDLED_TYPES))
        assert b"\n" not in body and b"\t" not in body
        lines.append(signature.encode() + b"\t" + body)
        unique += 1
    path.write_bytes(b"\n".join(lines) + b"\n")
    return unique


def event_id(body: bytes) -> str:
    return str(orjson.loads(body)["id"])
