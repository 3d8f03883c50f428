"""Replay equivalence: recorded changes across five PMSs and an iCal feed, run live (Hostaway
through its webhook, the others stored as the raw events their polls and fetches store), the
model snapshotted, everything replayed, the model snapshotted again."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import Engine

from bench.pms_setup import (
    BASIC_AUTH,
    GUESTY,
    HOSPITABLE,
    HOSTAWAY,
    ICAL,
    LODGIFY,
    OWNERREZ,
    duplicate_stays,
    snapshot,
    wait_until_settled,
)
from integration_hub.connectors import pms
from integration_hub.connectors.guesty import samples as guesty
from integration_hub.connectors.hospitable import samples as hospitable
from integration_hub.connectors.hostaway import samples as hostaway
from integration_hub.connectors.lodgify import samples as lodgify
from integration_hub.connectors.ownerrez import samples as ownerrez
from integration_hub.storage import raw_events
from integration_hub.storage.engine import begin_write
from integration_hub.testing import sign_as

LINKED_SHARE = 0.2  # Hostaway bookings also in the linked iCal feed (same HM code)
STALE_SHARE = 0.1  # an older version delivered again after the newer one (out of order)
MAX_ENTRIES = pms.MAX_CALENDAR_ENTRIES
T0 = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class ReplayResult:
    changes: int
    live_seconds: float
    replay_seconds: float
    equal: bool  # stays and reservations, field for field
    history_equal: bool
    history_added: dict[str, int]  # kind -> rows the replay added to reservations' histories
    duplicate_stays: int
    stays: int
    reservations: int
    replayed: int
    differences: list[str]


@dataclass
class Recorded:
    deliveries: list[tuple[bytes, dict[str, str]]]
    stored: list[raw_events.NewRawEvent]


def _stamp(moment: datetime, style: str) -> str:
    if style == "hostaway":
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _versions(rng: random.Random, count: int) -> list[tuple[int, datetime]]:
    """(version, updated time) of one booking's changes, with a stale repeat now and then."""
    times = [(v, T0 + timedelta(minutes=v * 7 + rng.randrange(5))) for v in range(count)]
    if count > 1 and rng.random() < STALE_SHARE * 3:
        times.append(times[rng.randrange(count - 1)])
    return times


def record(total: int, seed: int = 15) -> Recorded:
    rng = random.Random(seed)
    recorded = Recorded([], [])
    budget = {HOSTAWAY: total * 35 // 100, GUESTY: total * 15 // 100,
              HOSPITABLE: total * 15 // 100, OWNERREZ: total * 15 // 100,
              LODGIFY: total * 15 // 100}  # fmt: skip
    budget[ICAL] = total - sum(budget.values())
    linked: list[tuple[str, date, date]] = []
    makers: dict[str, Callable[[int, int, int, datetime, date], tuple[str, dict[str, Any]]]] = {
        GUESTY: _guesty, HOSPITABLE: _hospitable, OWNERREZ: _ownerrez, LODGIFY: _lodgify,
    }  # fmt: skip
    booking = 0
    for connection_id, share in budget.items():
        made = 0
        while made < share and connection_id != ICAL:
            booking += 1
            # Six days apart and at most five nights: no two bookings of one listing overlap.
            arrival = date(2027, 1, 1) + timedelta(days=booking * 6)
            nights = 2 + booking % 4
            versions = _versions(rng, min(rng.randrange(1, 5), share - made))
            for step, (version, moment) in enumerate(versions):
                if connection_id == HOSTAWAY:
                    body = _hostaway(booking, version, len(versions), moment, arrival, nights)
                    headers = sign_as("hostaway", body, secret=BASIC_AUTH)
                    headers["Content-Type"] = "application/json"
                    recorded.deliveries.append((body, headers))
                    if rng.random() < STALE_SHARE:  # Hostaway retries: the same bytes again
                        recorded.deliveries.append((body, headers))
                else:
                    kind, payload = makers[connection_id](booking, version, nights, moment, arrival)
                    recorded.stored.append(raw_events.NewRawEvent(
                        connection_id.removeprefix("bench-"), f"{connection_id}:bench:{booking}:{step}",
                        kind, datetime.now(UTC), {}, orjson.dumps(payload),
                    ))  # fmt: skip
                made += 1
            if connection_id == HOSTAWAY and booking % 5 == 0 and booking % 7 != 0:
                linked.append((_code(booking), arrival, arrival + timedelta(days=nights)))
    for snapshot_index in range(budget[ICAL]):
        entries = [
            {"uid": f"{code}@airbnb.com", "start": start.isoformat(), "end": end.isoformat(),
             "summary_kind": "reserved", "channel_code": code}
            for code, start, end in linked
        ]  # fmt: skip
        feed = {"channel": "airbnb", "entries": entries[:MAX_ENTRIES],
                "fetched_at": (T0 + timedelta(hours=snapshot_index)).isoformat()}  # fmt: skip
        recorded.stored.append(raw_events.NewRawEvent(
            "ical", f"{ICAL}:bench:{snapshot_index}", "calendar.fetched", datetime.now(UTC), {},
            orjson.dumps(feed),
        ))  # fmt: skip
    rng.shuffle(recorded.stored)  # across partners; one partner's versions keep their times
    return recorded


def _code(booking: int) -> str:
    return f"HMB{booking:07d}"


def _hostaway(
    booking: int, version: int, versions: int, moment: datetime, arrival: date, nights: int
) -> bytes:
    last = version == versions - 1
    status = "cancelled" if last and versions > 2 and booking % 7 == 0 else "new"
    data = hostaway.reservation(
        reservation_id=booking, status=status, arrival=arrival, nights=nights
    )
    data.update(updatedOn=_stamp(moment, "hostaway"), numberOfGuests=2 + version,
                channelReservationId=_code(booking), confirmationCode=_code(booking))  # fmt: skip
    event = "reservation.created" if version == 0 else "reservation.updated"
    return hostaway.envelope(event, data)


def _guesty(
    booking: int, version: int, nights: int, moment: datetime, arrival: date
) -> tuple[str, dict[str, Any]]:
    leave = arrival + timedelta(days=nights)
    reservation = guesty.full_reservation(
        _id=f"{booking:024x}", confirmationCode=f"GY{booking}", guestsCount=1 + version,
        checkIn=f"{arrival.isoformat()}T20:00:00.000Z", checkOut=f"{leave.isoformat()}T15:00:00.000Z",
        checkInDateLocalized=arrival.isoformat(), checkOutDateLocalized=leave.isoformat(),
        lastUpdatedAt=moment.isoformat().replace("+00:00", "Z"), nightsCount=nights,
    )  # fmt: skip
    kind = "reservation.new" if version == 0 else "reservation.updated"
    return kind, {"event": kind, "reservation": reservation}


def _hospitable(
    booking: int, version: int, nights: int, moment: datetime, arrival: date
) -> tuple[str, dict[str, Any]]:
    data = hospitable.reservation_data()
    leave = arrival + timedelta(days=nights)
    data.update(id=f"00000000-0000-4000-8000-{booking:012d}", platform_id=f"HMH{booking:07d}",
                arrival_date=f"{arrival.isoformat()}T00:00:00-05:00",
                departure_date=f"{leave.isoformat()}T00:00:00-05:00",
                check_in=f"{arrival.isoformat()}T16:00:00-05:00",
                check_out=f"{leave.isoformat()}T11:00:00-05:00", nights=nights)  # fmt: skip
    data["guests"]["total"] = 1 + version
    return "reservation.fetched", {"fetched_at": _stamp(moment, "iso"), "data": data}


def _ownerrez(
    booking: int, version: int, nights: int, moment: datetime, arrival: date
) -> tuple[str, dict[str, Any]]:
    data = ownerrez.booking(booking, arrival=arrival, updated_utc=_stamp(moment, "iso"))
    data["adults"] = 1 + version
    return "booking.fetched", data


def _lodgify(
    booking: int, version: int, nights: int, moment: datetime, arrival: date
) -> tuple[str, dict[str, Any]]:
    data = lodgify.booking(booking, updated_at=moment.strftime("%Y-%m-%dT%H:%M:%S"))
    data.update(
        arrival=arrival.isoformat(), departure=(arrival + timedelta(days=nights)).isoformat()
    )
    data["rooms"][0]["people"] = 1 + version
    return "booking.polled", data


async def _deliver(base_url: str, deliveries: list[tuple[bytes, dict[str, str]]]) -> int:
    """Post every delivery (16 at a time, in order within each sender); returns how many 200s."""
    queue = list(reversed(deliveries))
    ok = 0

    async def sender(client: httpx.AsyncClient) -> None:
        nonlocal ok
        while queue:
            body, headers = queue.pop()
            response = await client.post(f"/webhooks/hostaway/{HOSTAWAY}", content=body,
                                         headers=headers)  # fmt: skip
            ok += response.status_code == 200

    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        await asyncio.gather(*(sender(client) for _ in range(16)))
    return ok


async def replay_run(base_url: str, engine: Engine, *, total: int) -> ReplayResult:
    recorded = record(total)
    changes = len(recorded.deliveries) + len(recorded.stored)
    print(
        f"  live: {len(recorded.deliveries)} deliveries, {len(recorded.stored)} stored", flush=True
    )
    started = time.perf_counter()
    for start in range(0, len(recorded.stored), 500):
        with begin_write(engine) as connection:
            raw_events.record_deliveries(connection, events=recorded.stored[start : start + 500])
    accepted = await _deliver(base_url, recorded.deliveries)
    assert accepted == len(recorded.deliveries), (accepted, len(recorded.deliveries))
    await asyncio.to_thread(wait_until_settled, engine)
    live_seconds = time.perf_counter() - started
    live = snapshot(engine)
    print(f"  live settled in {live_seconds:.0f}s; replaying", flush=True)
    started = time.perf_counter()
    with begin_write(engine) as connection:
        replayed = raw_events.request_replay(connection)
    await asyncio.to_thread(wait_until_settled, engine)
    replay_seconds = time.perf_counter() - started
    again = snapshot(engine)
    differences = [name for name in ("stays", "reservations") if live[name] != again[name]]
    added = history_added(live["history"], again["history"])
    print(f"  replayed {replayed} raw events in {replay_seconds:.0f}s", flush=True)
    return ReplayResult(
        changes=changes, live_seconds=live_seconds, replay_seconds=replay_seconds,
        equal=not differences, history_equal=live["history"] == again["history"],
        history_added=added, duplicate_stays=duplicate_stays(again),
        stays=len(again["stays"]), reservations=len(again["reservations"]),
        replayed=replayed, differences=differences,
    )  # fmt: skip


def history_added(before: dict[str, list[str]], after: dict[str, list[str]]) -> dict[str, int]:
    """By kind, the history rows `after` has beyond `before` (a replay only ever appends)."""
    added: dict[str, int] = {}
    for reservation_id, kinds in after.items():
        earlier = list(before.get(reservation_id, []))
        for kind in kinds:
            if earlier and earlier[0] == kind:
                earlier.pop(0)
            else:
                added[kind] = added.get(kind, 0) + 1
    return added
