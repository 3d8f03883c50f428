"""kill -9 during a burst: every acknowledged delivery is stored and processed exactly once."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import orjson
from sqlalchemy import func, select

from integration_hub.orchestration.devserver import free_port
from integration_hub.storage.engine import make_engine
from integration_hub.storage.tables import handler_runs, internal_events, ledger_entries, raw_events
from integration_hub.testing import HubProcess, hub_env
from tests.helpers import ADMIN_TOKEN, STRIPE_SECRET, stripe_delivery


async def _burst(url: str, acknowledged: set[str], stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        while not stop.is_set():
            body, headers = stripe_delivery()
            try:
                response = await client.post("/webhooks/stripe", content=body, headers=headers)
            except httpx.TransportError:
                return  # the server is gone
            if response.status_code == 200:
                acknowledged.add(orjson.loads(body)["id"])


async def test_kill_9_during_a_burst_loses_nothing_acknowledged(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    env = hub_env(
        tmp_path,
        HUB_DATABASE_URL=database_url,
        HUB_TEMPORAL_ADDRESS=temporal_address,
        HUB_TASK_QUEUE=f"crash-{uuid.uuid4().hex}",
        HUB_ADMIN_TOKEN=ADMIN_TOKEN,
        STRIPE_WEBHOOK_SECRET=STRIPE_SECRET,
    )
    hub = HubProcess(tmp_path, env, free_port())
    acknowledged: set[str] = set()
    stop = asyncio.Event()
    await asyncio.to_thread(hub.start)
    try:
        senders = [asyncio.create_task(_burst(hub.url, acknowledged, stop)) for _ in range(16)]
        while len(acknowledged) < 300:
            await asyncio.sleep(0.01)
        hub.kill()  # mid-burst, with commits and workflows in flight
        stop.set()
        await asyncio.gather(*senders)
        assert len(acknowledged) >= 300

        await asyncio.to_thread(hub.start)
        engine = make_engine(database_url)

        def settled() -> tuple[int, int]:
            with engine.connect() as connection:
                stored = connection.execute(
                    select(raw_events.c.partner_event_id, raw_events.c.status).where(
                        raw_events.c.partner_event_id.in_(acknowledged)
                    )
                ).all()
            return len(stored), sum(status == "processed" for _, status in stored)

        for _ in range(1200):
            stored, processed = await asyncio.to_thread(settled)
            if processed == len(acknowledged):
                break
            await asyncio.sleep(0.1)
        assert stored == len(acknowledged), "an acknowledged delivery was lost"
        assert processed == len(acknowledged)

        with engine.connect() as connection:
            rows = connection.execute(
                select(
                    raw_events.c.partner_event_id,
                    func.count(internal_events.c.id.distinct()),
                    func.count(ledger_entries.c.id.distinct()),
                )
                .join(internal_events, internal_events.c.raw_event_id == raw_events.c.id)
                .join(handler_runs, handler_runs.c.event_id == internal_events.c.id)
                .join(ledger_entries, ledger_entries.c.event_id == internal_events.c.id)
                .where(raw_events.c.partner_event_id.in_(acknowledged))
                .group_by(raw_events.c.partner_event_id)
            ).all()
        engine.dispose()
        assert len(rows) == len(acknowledged)
        assert {(events, entries) for _, events, entries in rows} == {(1, 1)}
    finally:
        stop.set()
        hub.stop()
