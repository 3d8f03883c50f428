"""Deliveries sent like a partner sends them (retried until 2xx) while the hub is killed with -9."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

import httpx
from sqlalchemy import func, select

from bench.common import UNHANDLED_TYPES, Database, event_id, signed_delivery
from integration_hub.storage.engine import make_engine
from integration_hub.storage.tables import internal_events, ledger_entries, raw_events
from integration_hub.testing import HubProcess

HANDLED_SHARE = 0.02  # payment events that start a ledger workflow; the rest only normalize


@dataclass
class DurabilityResult:
    sent: int
    acknowledged: int
    stored: int
    normalized: int
    lost: int
    processed_twice: int
    kills: int
    handled: int
    ledger_entries: int


async def durability_run(
    server: HubProcess, db: Database, *, total: int, kills: int, seed: int = 7
) -> DurabilityResult:
    rng = random.Random(seed)
    deliveries = [
        signed_delivery(
            "payment_intent.succeeded"
            if rng.random() < HANDLED_SHARE
            else rng.choice(UNHANDLED_TYPES)
        )
        for _ in range(total)
    ]
    handled = sum(b'"payment_intent.succeeded"' in body for _, body in deliveries)
    acknowledged: set[str] = set()
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for delivery in deliveries:
        queue.put_nowait(delivery)
    kill_at = sorted(rng.sample(range(total // 10, total * 9 // 10), kills))

    async def partner() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            while not queue.empty():
                signature, body = queue.get_nowait()
                while True:  # a partner retries until it sees a 2xx
                    try:
                        response = await client.post(
                            "/webhooks/stripe",
                            content=body,
                            headers={
                                "Stripe-Signature": signature,
                                "Content-Type": "application/json",
                            },
                        )
                        if response.status_code == 200:
                            acknowledged.add(event_id(body))
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.05)

    async def killer() -> None:
        for threshold in kill_at:
            while len(acknowledged) < threshold:
                await asyncio.sleep(0.005)
            await asyncio.sleep(rng.random() * 0.05)
            server.kill()
            await asyncio.to_thread(server.start)

    await asyncio.gather(killer(), *(partner() for _ in range(32)))

    engine = make_engine(db.url)

    def counts() -> tuple[int, int, int, int]:
        with engine.connect() as connection:
            stored = connection.execute(select(raw_events.c.partner_event_id)).scalars().all()
            normalized = connection.execute(
                select(func.count()).where(raw_events.c.status.in_(["processed", "ignored"]))
            ).scalar_one()
            twice = connection.execute(
                select(func.count()).where(raw_events.c.attempts > 1)
            ).scalar_one()
            ledger = connection.execute(
                select(func.count()).select_from(ledger_entries)
            ).scalar_one()
            events = connection.execute(
                select(func.count()).select_from(internal_events)
            ).scalar_one()
        stored_acked = len(acknowledged & set(stored))
        return (
            stored_acked,
            int(normalized),
            int(twice) + max(int(events) - len(stored), 0),
            int(ledger),
        )

    for _ in range(1200):  # up to two minutes for handlers to finish
        stored, normalized, twice, ledger = await asyncio.to_thread(counts)
        if normalized >= total and ledger >= handled:
            break
        await asyncio.sleep(0.1)
    engine.dispose()
    return DurabilityResult(
        sent=total,
        acknowledged=len(acknowledged),
        stored=stored,
        normalized=normalized,
        lost=len(acknowledged) - stored,
        processed_twice=twice + max(ledger - handled, 0),
        kills=kills,
        handled=handled,
        ledger_entries=ledger,
    )
