"""Keeps the `hub_events_waiting` and `hub_events_dead_lettered` gauges current.

Read from the database (one grouped count over the status index) every few seconds by the
process that serves /metrics, so the numbers are right whichever process did the work, and a
scrape never waits on the database.
"""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy import Engine

from integration_hub import metrics
from integration_hub.storage import observed

log = structlog.get_logger(__name__)


def refresh_backlog(engine: Engine) -> None:
    with engine.connect().execution_options(read_only=True) as connection:
        counts = observed.backlog(connection)
    metrics.set_backlog(counts)


async def run_backlog_gauges(engine: Engine, *, interval: float) -> None:
    while True:
        try:
            await asyncio.to_thread(refresh_backlog, engine)
        except Exception as exc:  # the database is away: keep the last values, try again
            log.warning("backlog_refresh_failed", error=f"{type(exc).__name__}: {exc}")
        await asyncio.sleep(interval)
