"""bench/RESULTS.md: machine, versions, commands and the table, with each target's verdict."""

from __future__ import annotations

import platform
import sqlite3
import statistics
import subprocess
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from integration_hub.orchestration.devserver import temporal_cli_path


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _command_version(args: list[str]) -> str:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def write_report(
    path: Path, results: list[Any], config: Any, *, command: str, finished: float
) -> None:
    lines = [
        "# Benchmark results",
        "",
        f"Run finished {datetime.fromtimestamp(finished, UTC):%Y-%m-%d %H:%M} UTC with `{command}` "
        "(`make bench` runs the full configuration).",
        "",
        "## Machine and versions",
        "",
        f"- CPU: {_cpu_model()}, {len(__import__('os').sched_getaffinity(0))} cores; "
        f"generator and server share them.",
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"uvicorn {version('uvicorn')} (uvloop {version('uvloop')}, httptools {version('httptools')}), "
        f"SQLAlchemy {version('sqlalchemy')}, psycopg {version('psycopg')}, temporalio {version('temporalio')}.",
        f"- Temporal: `{_command_version([temporal_cli_path(), '--version'])}` (dev server, SQLite file).",
        f"- PostgreSQL: `{_command_version(['psql', '--version'])}`; wrk: `{_command_version(['wrk', '--version'])}`.",
        "",
        "## Method",
        "",
        f"- One `hub serve` process (1 uvicorn worker, uvloop + httptools) in benchmark mode, which adds "
        f"`POST /bench/ceiling`: read the body, answer 200, nothing else. Same server, same wrk "
        f"settings (`-t{config.threads} -c{config.connections} -d{config.seconds}s`, keep-alive, "
        f"127.0.0.1), {config.rounds} interleaved rounds; figures are medians.",
        f"- Deliveries are realistic Stripe events (about 4 KB, Stripe's published example objects), "
        f"signed as Stripe signs, fresh ids, {config.duplicate_share:.0%} exact duplicates; types "
        "that normalize but start no workflow, so the edge is not measured against Temporal's "
        "~50 workflows/s (that is measured on its own below).",
        "- Server CPU: user+system of the edge process (HTTP and group commit; the pipeline runs "
        "in its child `hub worker`) during the round, per 2xx. wrk's own CPU is reported beside it.",
        "- Normalizer under load: raw rows that left `received` during the round, over rows stored "
        "during it (read the moment wrk stops). Backlog: one normalizer draining "
        f"{config.backlog} stored events.",
        f"- Workflows: {config.workflows} ledger handler runs dispatched from the outbox to "
        f"completion, against {config.workflows} do-nothing workflows, same server, same process.",
        f"- Durability: {config.durability_total} deliveries from 32 concurrent senders that retry "
        f"until 2xx, like a partner; the hub is killed with SIGKILL {config.kills} times at random "
        "moments and restarted.",
        "",
        "- wrk is closed-loop (64 connections): the p99 of each route is taken at the rate that "
        "route reaches, not at one common rate.",
        "",
        "Where the time goes, what was fixed and what is left: [README.md](README.md).",
        "",
        "## Results",
        "",
    ]
    for r in results:
        lines += _database_section(r)
    path.write_text("\n".join(lines) + "\n")


def _database_section(r: Any) -> list[str]:
    ingest_rate, ceiling_rate = r.median("ingest", "ok_per_s"), r.median("ceiling", "ok_per_s")
    ingest_p99, ceiling_p99 = r.median("ingest", "p99_ms"), r.median("ceiling", "p99_ms")
    ingest_rounds = [x for x in r.rounds if x.kind == "ingest"]
    keep_pace = statistics.median(x.normalized / max(x.stored, 1) for x in ingest_rounds)
    drain = statistics.median(r.drain_per_s)
    trivial, handler = statistics.median(r.trivial_per_s), statistics.median(r.handler_per_s)
    d = r.durability
    rows = [
        f"### {r.name}",
        "",
        "| figure | value | target | verdict |",
        "|---|---|---|---|",
        f"| ceiling (bare route), 2xx/s | {ceiling_rate:,.0f} | | |",
        f"| ingest (verified, durably stored), 2xx/s | {ingest_rate:,.0f} | | |",
        f"| ingest / ceiling | {ingest_rate / ceiling_rate:.0%} | >= 50% | {_verdict(ingest_rate >= 0.5 * ceiling_rate)} |",
        f"| p50 latency, ingest / ceiling (ms) | {r.median('ingest', 'p50_ms'):.2f} / {r.median('ceiling', 'p50_ms'):.2f} | | |",
        f"| p99 latency, ingest / ceiling (ms) | {ingest_p99:.2f} / {ceiling_p99:.2f} ({ingest_p99 / ceiling_p99:.1f}x) | <= 3x | {_verdict(ingest_p99 <= 3 * ceiling_p99)} |",
        f"| server CPU per delivery, ingest / ceiling (us) | {r.median('ingest', 'cpu_us_per_delivery'):.0f} / {r.median('ceiling', 'cpu_us_per_delivery'):.0f} | | |",
        f"| wrk CPU, share of the round (ingest) | {statistics.median(x.wrk_cpu_s / x.seconds for x in ingest_rounds):.0%} of one core | | |",
        f"| normalized during load / stored during load | {keep_pace:.0%} | >= 80% | {_verdict(keep_pace >= 0.8)} |",
        f"| normalizer draining a backlog, events/s | {drain:,.0f} ({drain / ingest_rate:.1f}x the ingest rate) | | |",
        f"| workflows/s, ledger handler / trivial | {handler:.1f} / {trivial:.1f} ({handler / trivial:.0%}) | >= 80% | {_verdict(handler >= 0.8 * trivial)} |",
    ]
    if d is not None:
        rows.append(
            f"| kill -9 x{d.kills}: sent / acknowledged / stored / normalized | "
            f"{d.sent:,} / {d.acknowledged:,} / {d.stored:,} / {d.normalized:,} | | |"
        )
        rows.append(f"| lost (acknowledged, not stored) | {d.lost} | 0 | {_verdict(d.lost == 0)} |")
        rows.append(
            f"| processed twice | {d.processed_twice} (ledger entries {d.ledger_entries} for {d.handled} payments) | 0 | {_verdict(d.processed_twice == 0)} |"
        )
    rows += [
        "",
        "Rounds:",
        "",
        "| round | kind | 2xx/s | p50 ms | p99 ms | non-2xx | errors | CPU us/delivery |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows += [
        f"| {i} | {x.kind} | {x.ok_per_s:,.0f} | {x.p50_ms:.2f} | {x.p99_ms:.2f} | {x.non_2xx} | {x.errors} | {x.cpu_us_per_delivery:.0f} |"
        for i, x in enumerate(r.rounds)
    ]
    return [*rows, ""]
