"""How long a process waits for a token another process is fetching.

N spawned processes ask the token store for a token at once, against a local endpoint that
takes `--issue-ms` to issue one; the store must call it once. Per round it prints how long the
issuer took and how much longer the others waited (the lock's hand-over: PostgreSQL's
advisory lock wakes a waiter at once, SQLite's lease is polled every POLL_SECONDS), on a
SQLite file and, with HUB_TEST_POSTGRES_URL, on PostgreSQL.

    PYTHONPATH=src python -m bench.token_race --processes 6 --rounds 5
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tests.connectors import test_tokens
from tests.connectors.test_tokens import Spec, TokenEndpoint, _get_token, _warm
from tests.partner_server import PartnerServer

from integration_hub.storage import migrate
from integration_hub.storage.engine import make_engine
from integration_hub.testing import scratch_database


def race(pool: ProcessPoolExecutor, database_url: str, processes: int, rounds: int) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    engine.dispose()
    for round_ in range(rounds):
        endpoint = TokenEndpoint()
        with PartnerServer(endpoint) as server, tempfile.TemporaryDirectory() as home:
            spec = Spec(home, database_url, server.url)
            start_at = time.time() + 0.5
            runs = [pool.submit(_get_token, spec, start_at) for _ in range(processes)]
            waits = sorted(run.result(timeout=120)[1] for run in runs)
        assert endpoint.issues == 1, f"{endpoint.issues} issues"
        issuer, others = waits[0], [w - waits[0] for w in waits[1:]]
        print(
            f"  round {round_ + 1}: issuer {issuer * 1000:.0f} ms; the others waited "
            f"{min(others) * 1000:.0f}-{max(others) * 1000:.0f} ms "
            f"(median {statistics.median(others) * 1000:.0f} ms) longer"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--issue-ms", type=int, default=300)
    options = parser.parse_args()
    test_tokens.ISSUE_SECONDS = options.issue_ms / 1000
    os.umask(0o077)
    kinds = ["sqlite", *(["postgresql"] if os.environ.get("HUB_TEST_POSTGRES_URL") else [])]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(options.processes, mp_context=context) as pool:
        list(pool.map(_warm, [0.5] * options.processes))
        for kind in kinds:
            print(f"{kind}: {options.processes} processes, issue {options.issue_ms} ms")
            with (
                tempfile.TemporaryDirectory() as directory,
                scratch_database(
                    kind, Path(directory), os.environ.get("HUB_TEST_POSTGRES_URL")
                ) as url,
            ):
                race(pool, url, options.processes, options.rounds)


if __name__ == "__main__":
    main()
