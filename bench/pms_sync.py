"""PMS sync (issue 15): webhook-to-reservation-row latency at fixed rates, and a replay of recorded
changes across five PMSs and an iCal feed that must end in the same model. Writes
bench/RESULTS-pms.md.

    python -m bench.pms_sync [--database sqlite|postgresql|both] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import OUT, database
from bench.pms_latency import RateResult, latency_sweep
from bench.pms_replay import ReplayResult, replay_run
from bench.pms_setup import pms_hub, prepare
from bench.run import _postgres_reachable
from integration_hub.orchestration.devserver import EmbeddedTemporal

RATES = [10, 12, 14, 16, 20, 30, 40, 80, 160]


@dataclass
class DatabaseRun:
    name: str
    rates: list[RateResult] = field(default_factory=list)
    replay: ReplayResult | None = None


async def bench_database(
    kind: str, postgres_url: str, temporal: str, *, seconds: float, changes: int, rates: list[int]
) -> DatabaseRun:
    run = DatabaseRun(kind)
    parts = (["latency"] if rates else []) + (["replay"] if changes else [])
    for part in parts:
        home = OUT / f"pms-{kind}-{part}"
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        with database(kind, postgres_url, home) as db:
            engine = prepare(db)
            server = pms_hub(home, db, temporal, f"bench-pms-{uuid.uuid4().hex}")
            server.start()
            try:
                print(f"[{kind}] {part}", flush=True)
                if part == "latency":
                    run.rates = await latency_sweep(server.url, engine, seconds=seconds,
                                                    rates=rates)  # fmt: skip
                else:
                    run.replay = await replay_run(server.url, engine, total=changes)
            finally:
                server.stop()
                engine.dispose()
    return run


def report(path: Path, runs: list[DatabaseRun], *, command: str, quick: bool) -> None:
    lines = [
        "# PMS sync benchmark (issue 15)",
        "",
        f"`{command}`, finished {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, on this "
        f"machine ({os.cpu_count()} cores), one Temporal dev server (SQLite) for the run"
        + (" (a shorter run: fewer changes or shorter rounds than the issue's)." if quick else ".")
        + " Load average at the end (1/5/15 min): "
        + "/".join(f"{load:.1f}" for load in os.getloadavg())
        + " (anything over 2 means other work shared the cores: compare runs with care).",
        "",
        "## Latency: webhook received to unified reservation row",
        "",
        "Open-loop Hostaway `reservation.created` deliveries at a fixed rate, each timed from its "
        "scheduled send to its `reservations` row with the sent dates (read-only poll, 20 ms).",
        "",
        "| database | rate/s | sent | synced | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        for r in run.rates:
            lines.append(
                f"| {run.name} | {r.rate} | {r.sent} | {r.synced} | {r.p50_s * 1000:.0f} | "
                f"{r.p99_s * 1000:.0f} | {r.max_s * 1000:.0f} |"
            )
    lines.append("")
    for run in (run for run in runs if run.rates):
        crossed = next((r.rate for r in run.rates if r.p99_s > 1.0), None)
        at_ten = next((r for r in run.rates if r.rate == 10), None)
        goal = "not tried" if at_ten is None else "met" if at_ten.p99_s < 1.0 else "missed"
        crossing = f"{crossed}/s" if crossed else f"not reached up to {run.rates[-1].rate}/s"
        lines.append(
            f"- {run.name}: p99 under 1 s at 10/s {goal}; p99 first over 1 s at {crossing}."
        )
    lines += [
        "- iCal has no webhook: its lag is the feed's own refresh (30 min to 6 h at the OTAs) "
        "plus the hub's poll interval, not measured here.",
        "",
        "## Replay equivalence",
        "",
        "Recorded changes across Hostaway (webhook: created, updated, cancelled, retried "
        "duplicates), Guesty (legacy full-payload webhooks), Hospitable (fetched bodies), OwnerRez "
        "(fetched bookings), Lodgify (polled bookings) and an iCal feed linked to the Hostaway "
        "listing's property (a fifth of the Hostaway bookings in it, same HM code), with stale "
        "versions arriving after newer ones. Live run, snapshot (stays, reservations without "
        "write times, history kinds), replay of every raw event, snapshot again.",
        "",
        "| database | changes | live s | replay s | replayed events/s | model equal | history "
        "equal | duplicate stays | stays | reservations |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        if (p := run.replay) is None:
            continue
        differs = "yes" if p.equal else "no (" + ", ".join(p.differences) + ")"
        added = ", ".join(f"{n} {kind}" for kind, n in sorted(p.history_added.items()))
        history = "yes" if p.history_equal else f"no (replay added {added or 'reordered rows'})"
        lines.append(
            f"| {run.name} | {p.changes} | {p.live_seconds:.0f} | {p.replay_seconds:.0f} | "
            f"{p.replayed / p.replay_seconds:.0f} | {differs} | {history} | {p.duplicate_stays} | {p.stays} "
            f"| {p.reservations} |"
        )
    lines += ["", "## What limits the rate", "", LIMITS, ""]
    path.write_text("\n".join(lines))


LIMITS = (
    "Every change is one run of the `reservations` handler workflow on the Temporal dev server "
    "(dispatched from the outbox; one local activity applies it and completes the run). Here "
    "those runs completed at about 7-17 a second (the replay table's events/s; the latency "
    "sweep drains its backlog at about the same pace), below the 21-29 empty workflows a second "
    "bench/RESULTS.md measured on the same kind of dev server, and far below the edge "
    "(thousands a second) and the normalizer (2,800-4,500 a second). The p99 does not grow "
    "gradually with the rate: once deliveries arrive faster than runs complete, the outbox "
    "backlog grows for as long as the rate holds and the last delivery waits for all of it, so "
    "p99 crosses 1 s at about the handler's completion rate, and a rate well under it misses "
    "too over a long round whenever anything else (other processes, a poll tick, the dev "
    "server's own work, the sender) takes the 2 cores for a few seconds. The handler's runs of one connection are "
    "serialized (a PostgreSQL advisory lock; SQLite serializes every writer), so one busy "
    "connection cannot use more than one run at a time. Where a run's time goes was not "
    "profiled here; the next step is py-spy on `hub worker` and the dev server, as above."
)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="15 s rounds and 1,000 changes")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "HUB_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument(
        "--changes",
        type=int,
        help="recorded changes to replay (default 10,000; quick 1,000; 0: no replay)",
    )
    parser.add_argument(
        "--rates",
        default=",".join(map(str, RATES)),
        help="deliveries a second to try in turn (comma-separated)",
    )
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "RESULTS-pms.md")
    args = parser.parse_args()
    seconds, changes = (15.0, 1000) if args.quick else (60.0, 10_000)
    changes = changes if args.changes is None else args.changes  # 0: latency only
    rates = [int(rate) for rate in args.rates.split(",") if rate]  # "": replay only
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    OUT.mkdir(parents=True, exist_ok=True)
    temporal_db = OUT / "temporal-pms.db"
    temporal_db.unlink(missing_ok=True)
    temporal = EmbeddedTemporal(db_file=temporal_db)
    await temporal.start()
    runs = []
    try:
        for kind in kinds:
            if kind == "postgresql" and not _postgres_reachable(args.postgres_url):
                print("PostgreSQL unreachable: skipped", file=sys.stderr)
                continue
            runs.append(
                await bench_database(
                    kind,
                    args.postgres_url,
                    temporal.address,
                    seconds=seconds,
                    changes=changes,
                    rates=rates,
                )
            )
    finally:
        temporal.stop()
    command = ("python -m bench.pms_sync " + shlex.join(sys.argv[1:])).strip()
    report(args.output, runs, command=command, quick=args.quick or changes < 10_000)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    asyncio.run(main())
