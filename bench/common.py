"""Shared pieces of the benchmark: databases, the hub as a process, CPU readings, request files."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
from sqlalchemy import create_engine, func, select

from integration_hub.settings import normalize_database_url
from integration_hub.storage.tables import raw_events
from integration_hub.testing import HubProcess, connector, hub_env, scratch_database, sign_as

OUT = Path(__file__).parent / "out"
SECRET = "whsec_bench_3f9a0c1d2e4b5a6978877665544332211"
ADMIN_TOKEN = "bench-admin-token"
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
    with scratch_database(kind, home, postgres_url) as url:
        yield Database(kind, url)


def hub_server(home: Path, db: Database, temporal_address: str, task_queue: str) -> HubProcess:
    """`hub serve` in benchmark mode, as a separate process."""
    env = hub_env(
        home,
        HUB_DATABASE_URL=db.url,
        HUB_TEMPORAL_ADDRESS=temporal_address,
        HUB_TASK_QUEUE=task_queue,
        HUB_ADMIN_TOKEN=ADMIN_TOKEN,
        HUB_BENCH_MODE="true",
        HUB_LOG_LEVEL="WARNING",
        # Request files are signed before the rounds start; keep them valid for the run.
        HUB_SIGNATURE_TOLERANCE_SECONDS="7200",
        # wrk sends everything from 127.0.0.1: limits high enough never to refuse, so the
        # limiter's cost stays in the measurement without capping it.
        HUB_RATE_LIMIT_PER_CLIENT="10000000/second",
        HUB_RATE_LIMIT_PER_PARTNER="10000000/second",
        # wrk's 64 connections would sit exactly at the default per-client cap (64), all from
        # one address: lift it so no connection is ever refused (the concurrency bounds it).
        HUB_MAX_CONNECTIONS_PER_CLIENT="100000",
        # The secrets store is the default; the bench passes its secret in the environment.
        HUB_SECRETS_BACKEND="env",
        STRIPE_WEBHOOK_SECRET=SECRET,
    )
    return HubProcess(home, env)


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
