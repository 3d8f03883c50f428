"""Ingest against the ceiling: same server, same wrk settings, interleaved rounds."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import Database, write_request_file
from integration_hub.testing import HubProcess

LUA = Path(__file__).parent / "wrk_post.lua"


@dataclass
class Round:
    kind: str  # "ceiling" or "ingest"
    ok_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    errors: int
    server_cpu_s: float
    wrk_cpu_s: float
    seconds: float
    stored: int = 0  # new raw rows (ingest only)
    normalized: int = 0  # rows leaving `received` during the round (ingest only)

    @property
    def ok(self) -> int:
        return self.requests - self.non_2xx - self.errors

    @property
    def cpu_us_per_delivery(self) -> float:
        return 1e6 * self.server_cpu_s / max(self.ok, 1)


def run_wrk(
    url: str, requests_file: Path, *, seconds: int, connections: int, threads: int
) -> tuple[dict[str, int], float]:
    env = {**os.environ, "BENCH_REQUESTS": str(requests_file), "BENCH_THREADS": str(threads)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
         "-s", str(LUA), url],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    return summary, cpu


def one_round(
    kind: str,
    server: HubProcess,
    db: Database,
    requests_file: Path,
    *,
    seconds: int,
    connections: int,
    threads: int,
) -> Round:
    path = "/bench/ceiling" if kind == "ceiling" else "/webhooks/stripe"
    stored_before = db.count() if kind == "ingest" else 0
    normalized_before = db.count(not_received=True) if kind == "ingest" else 0
    cpu_before = server.cpu_seconds()
    started = time.monotonic()
    summary, wrk_cpu = run_wrk(
        server.url + path, requests_file, seconds=seconds, connections=connections, threads=threads
    )
    elapsed = time.monotonic() - started
    server_cpu = server.cpu_seconds() - cpu_before
    errors = sum(summary[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    duration = summary["duration_us"] / 1e6
    ok = summary["requests"] - summary["non_2xx"] - errors
    result = Round(
        kind=kind,
        ok_per_s=ok / duration,
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        requests=summary["requests"],
        non_2xx=summary["non_2xx"],
        errors=errors,
        server_cpu_s=server_cpu,
        wrk_cpu_s=wrk_cpu,
        seconds=elapsed,
    )
    if kind == "ingest":
        # Read right at the end of the round: what the normalizer kept up with under load.
        result.normalized = db.count(not_received=True) - normalized_before
        result.stored = db.count() - stored_before
    return result


def ingest_rounds(
    server: HubProcess,
    db: Database,
    work: Path,
    *,
    rounds: int,
    seconds: int,
    connections: int,
    threads: int,
    expected_rate: int,
    duplicate_share: float,
) -> list[Round]:
    """Interleaved ceiling and ingest rounds; each ingest round gets a fresh request file."""
    results: list[Round] = []
    for number in range(rounds):
        requests_file = work / f"requests-{db.name}-{number}.txt"
        write_request_file(
            requests_file,
            expected_rate * seconds,
            duplicate_share=duplicate_share,
            seed=number,
        )
        for kind in ("ceiling", "ingest") if number % 2 == 0 else ("ingest", "ceiling"):
            results.append(
                one_round(
                    kind,
                    server,
                    db,
                    requests_file,
                    seconds=seconds,
                    connections=connections,
                    threads=threads,
                )
            )
            time.sleep(1)  # let the normalizer drain between rounds
        requests_file.unlink()
    return results
