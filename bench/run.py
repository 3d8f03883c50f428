"""`make bench`: ingest vs ceiling, normalizer, handler workflows and a kill -9 durability run,
on SQLite and (when reachable) PostgreSQL. Writes bench/RESULTS.md.

    python -m bench.run [--quick] [--databases sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client

from bench.common import OUT, database, hub_server
from bench.durability import DurabilityResult, durability_run
from bench.ingest import Round, ingest_rounds
from bench.pipeline import handler_workflows, normalizer_drain, trivial_workflows
from bench.report import write_report
from integration_hub.orchestration.devserver import EmbeddedTemporal


@dataclass
class Config:
    rounds: int = 3
    seconds: int = 10
    connections: int = 64
    threads: int = 1
    expected_rate: int = 15_000
    duplicate_share: float = 0.05
    backlog: int = 20_000
    workflows: int = 200
    durability_total: int = 20_000
    kills: int = 3


@dataclass
class DatabaseResults:
    name: str
    rounds: list[Round] = field(default_factory=list)
    drain_per_s: list[float] = field(default_factory=list)
    trivial_per_s: list[float] = field(default_factory=list)
    handler_per_s: list[float] = field(default_factory=list)
    durability: DurabilityResult | None = None

    def median(self, kind: str, attribute: str) -> float:
        return statistics.median(getattr(r, attribute) for r in self.rounds if r.kind == kind)


async def bench_database(
    kind: str, config: Config, postgres_url: str | None, temporal: str, client: Client
) -> DatabaseResults:
    results = DatabaseResults(kind)
    home = OUT / kind
    home.mkdir(mode=0o700, parents=True, exist_ok=True)  # the hub refuses a home others can read
    print(
        f"[{kind}] ingest vs ceiling: {config.rounds} interleaved rounds of {config.seconds}s",
        flush=True,
    )
    with database(kind, postgres_url, home) as db:
        server = hub_server(home, db, temporal, f"bench-{uuid.uuid4().hex}")
        server.start()
        try:
            results.rounds = ingest_rounds(
                server, db, OUT,
                rounds=config.rounds, seconds=config.seconds, connections=config.connections,
                threads=config.threads, expected_rate=config.expected_rate,
                duplicate_share=config.duplicate_share,
            )  # fmt: skip
        finally:
            server.stop()
    for r in results.rounds:
        print(
            f"  {r.kind:8} {r.ok_per_s:8.0f}/s p50 {r.p50_ms:6.2f} ms p99 {r.p99_ms:6.2f} ms",
            flush=True,
        )

    print(
        f"[{kind}] normalizer draining {config.backlog} and handler vs trivial workflows",
        flush=True,
    )
    for _ in range(config.rounds):
        with database(kind, postgres_url, home / "drain") as db:
            results.drain_per_s.append(normalizer_drain(db, config.backlog))
        results.trivial_per_s.append(await trivial_workflows(client, config.workflows))
        with database(kind, postgres_url, home / "handlers") as db:
            results.handler_per_s.append(await handler_workflows(client, db, config.workflows))
    print(
        f"  drain {results.drain_per_s} trivial {results.trivial_per_s} handler {results.handler_per_s}",
        flush=True,
    )

    print(
        f"[{kind}] durability: {config.durability_total} deliveries, {config.kills} x kill -9",
        flush=True,
    )
    with database(kind, postgres_url, home / "durability") as db:
        server = hub_server(home / "durability", db, temporal, f"bench-{uuid.uuid4().hex}")
        server.start()
        try:
            results.durability = await durability_run(
                server, db, total=config.durability_total, kills=config.kills
            )
        finally:
            server.stop()
    print(f"  {results.durability}", flush=True)
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="one short round of each, for a smoke run"
    )
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "HUB_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "RESULTS.md")
    args = parser.parse_args()
    config = Config()
    if args.quick:
        config = Config(
            rounds=1, seconds=3, backlog=2000, workflows=50, durability_total=2000, kills=1
        )
    OUT.mkdir(parents=True, exist_ok=True)
    temporal = EmbeddedTemporal(db_file=OUT / "temporal.db")
    (OUT / "temporal.db").unlink(missing_ok=True)
    await temporal.start()
    client = await Client.connect(temporal.address)
    results = []
    try:
        for kind in args.databases.split(","):
            if kind == "postgresql" and not _postgres_reachable(args.postgres_url):
                print("PostgreSQL unreachable: skipped", file=sys.stderr)
                continue
            results.append(
                await bench_database(kind, config, args.postgres_url, temporal.address, client)
            )
    finally:
        temporal.stop()
    command = "python -m bench.run " + shlex.join(sys.argv[1:])
    write_report(args.output, results, config, command=command.strip(), finished=time.time())
    print(f"wrote {args.output}")


def _postgres_reachable(url: str) -> bool:
    from sqlalchemy import create_engine, text

    from integration_hub.settings import normalize_database_url

    try:
        engine = create_engine(normalize_database_url(url))
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


if __name__ == "__main__":
    asyncio.run(main())
