"""Sync latency: signed Hostaway deliveries sent open-loop at a fixed rate, each timed from its
scheduled send (not the actual one, so a slow hub cannot hide its delay by slowing the sender)
to the moment its `reservations` row exists with the sent dates (a read-only poller, 20 ms)."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx
from sqlalchemy import Engine, select

from bench.pms_setup import BASIC_AUTH, HOSTAWAY
from integration_hub.connectors.hostaway import samples
from integration_hub.storage.tables import reservations
from integration_hub.testing import sign_as

POLL_SECONDS = 0.02
GIVE_UP_SECONDS = 60.0  # after the last send: what is not there by then counts as never


@dataclass
class RateResult:
    rate: int
    sent: int
    accepted: int
    synced: int
    p50_s: float
    p99_s: float
    max_s: float


class RowWatcher:
    """A thread with its own connection that notes when each awaited reservation appears."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.expected: dict[str, date] = {}
        self.seen: dict[str, float] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def expect(self, reservation_id: str, check_in: date) -> None:
        with self.lock:
            self.expected[reservation_id] = check_in

    def _run(self) -> None:
        since = datetime.now(UTC) - timedelta(seconds=5)
        query = select(
            reservations.c.source_reservation_id, reservations.c.check_in, reservations.c.updated_at
        ).where(reservations.c.connection_id == HOSTAWAY)
        while not self.stop.is_set():
            with self.engine.connect() as connection:
                rows = connection.execute(query.where(reservations.c.updated_at >= since)).all()
            now = time.monotonic()
            with self.lock:
                for reservation_id, check_in, updated_at in rows:
                    wanted = self.expected.get(reservation_id)
                    if (
                        wanted is not None
                        and check_in == wanted
                        and reservation_id not in self.seen
                    ):
                        self.seen[reservation_id] = now
                        stamp = updated_at if updated_at.tzinfo else updated_at.replace(tzinfo=UTC)
                        since = max(since, stamp - timedelta(seconds=5))
            self.stop.wait(POLL_SECONDS)


def _delivery(number: int) -> tuple[str, date, bytes, dict[str, str]]:
    arrival = date.today() + timedelta(days=30 + number % 700)
    data = samples.reservation(reservation_id=number, arrival=arrival, nights=2 + number % 5)
    body = samples.envelope("reservation.created", data)
    headers = sign_as("hostaway", body, secret=BASIC_AUTH)
    headers["Content-Type"] = "application/json"
    return str(number), arrival, body, headers


async def run_rate(
    base_url: str, watcher: RowWatcher, *, rate: int, seconds: float, first_id: int
) -> RateResult:
    count = int(rate * seconds)
    deliveries = [_delivery(first_id + i) for i in range(count)]
    scheduled: dict[str, float] = {}
    accepted = 0
    path = f"/webhooks/hostaway/{HOSTAWAY}"
    async with httpx.AsyncClient(
        base_url=base_url, timeout=30, limits=httpx.Limits(max_connections=256)
    ) as client:

        async def send(headers: dict[str, str], body: bytes) -> None:
            nonlocal accepted
            response = await client.post(path, content=body, headers=headers)
            accepted += response.status_code == 200

        start = time.monotonic() + 0.1
        tasks = []
        for index, (reservation_id, arrival, body, headers) in enumerate(deliveries):
            due = start + index / rate
            watcher.expect(reservation_id, arrival)
            scheduled[reservation_id] = due
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            tasks.append(asyncio.create_task(send(headers, body)))
        await asyncio.gather(*tasks)
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while time.monotonic() < deadline:
        with watcher.lock:
            if all(r in watcher.seen for r in scheduled):
                break
        await asyncio.sleep(0.1)
    with watcher.lock:
        latencies = [watcher.seen[r] - due for r, due in scheduled.items() if r in watcher.seen]
    missing = count - len(latencies)
    # What never appeared counts as the longest wait, so it weighs on p99 as it should.
    padded = sorted(latencies + [GIVE_UP_SECONDS] * missing)
    quantiles = statistics.quantiles(padded, n=100, method="inclusive")
    return RateResult(
        rate=rate, sent=count, accepted=accepted, synced=len(latencies),
        p50_s=statistics.median(padded), p99_s=quantiles[98], max_s=padded[-1],
    )  # fmt: skip


async def latency_sweep(
    base_url: str, engine: Engine, *, seconds: float, rates: list[int]
) -> list[RateResult]:
    """Each rate in turn until the first whose p99 is over a second."""
    watcher = RowWatcher(engine)
    watcher.thread.start()
    results: list[RateResult] = []
    first_id = 40_000_000
    try:
        # `hub serve` answers before its worker has its Temporal worker and dispatcher going:
        # the first rows wait for that, which is start-up, not sync latency.
        warm = await run_rate(base_url, watcher, rate=2, seconds=3, first_id=first_id)
        first_id += warm.sent
        print(f"  warm-up: synced {warm.synced}/{warm.sent}, max {warm.max_s:.1f}s", flush=True)
        for rate in rates:
            print(f"  {rate}/s for {seconds:.0f}s", flush=True)
            result = await run_rate(
                base_url, watcher, rate=rate, seconds=seconds, first_id=first_id
            )
            first_id += result.sent
            print(
                f"    synced {result.synced}/{result.sent} p50 {result.p50_s * 1000:.0f} ms "
                f"p99 {result.p99_s * 1000:.0f} ms",
                flush=True,
            )
            results.append(result)
            if result.p99_s > 1.0:
                break
    finally:
        watcher.stop.set()
        watcher.thread.join()
    return results
