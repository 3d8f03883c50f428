"""Raw body retention on a real Temporal server: old bodies are emptied, the rows (dedup keys)
and the normalized events stay, recent bodies are kept, and the daily schedule exists."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update
from temporalio.client import Client, ScheduleActionStartWorkflow

from integration_hub.orchestration.retention import (
    SCHEDULE_ID,
    PurgeRawBodiesInput,
    PurgeRawBodiesResult,
    PurgeRawBodiesWorkflow,
)
from integration_hub.storage.engine import begin_write
from integration_hub.storage.rows import utcnow
from integration_hub.storage.tables import internal_events, raw_events
from tests.helpers import RunningHub, stripe_delivery, wait_until


async def processed_delivery(hub: RunningHub) -> tuple[str, bytes, dict[str, str]]:
    body, headers = stripe_delivery()
    answer = await hub.http.post("/webhooks/stripe", content=body, headers=headers)
    event_id = str(answer.json()["events"][0]["id"])
    await wait_until(
        lambda: hub.admin.get(f"/api/events/stripe/{event_id}"),
        lambda r: r.status_code == 200 and r.json()["status"] == "processed",
    )
    return event_id, body, headers


def age(hub: RunningHub, event_id: str, days: int) -> None:
    with begin_write(hub.hub.engine) as connection:
        connection.execute(
            update(raw_events)
            .where(raw_events.c.partner_event_id == event_id)
            .values(received_at=utcnow() - timedelta(days=days))
        )


def stored(hub: RunningHub, event_id: str) -> tuple[bytes, object, int]:
    with hub.hub.engine.connect() as connection:
        raw = connection.execute(
            select(raw_events).where(raw_events.c.partner_event_id == event_id)
        ).one()
        events = connection.execute(
            select(internal_events.c.id).where(internal_events.c.raw_event_id == raw.id)
        ).all()
    return bytes(raw.body), raw.body_purged_at, len(events)


async def client_of(hub: RunningHub) -> Client:
    async def connected() -> Client | None:
        return hub.hub.temporal_client

    client = await wait_until(connected, lambda c: c is not None)
    assert client is not None
    return client


async def purge(hub: RunningHub) -> PurgeRawBodiesResult:
    client = await client_of(hub)
    return await client.execute_workflow(
        PurgeRawBodiesWorkflow.run,
        PurgeRawBodiesInput(),
        id=f"test-retention-{uuid.uuid4().hex}",
        task_queue=hub.hub.settings.task_queue,
    )


async def test_old_bodies_are_emptied_and_their_rows_and_events_kept(
    running_hub: RunningHub,
) -> None:
    event_id, _, _ = await processed_delivery(running_hub)
    age(running_hub, event_id, days=31)

    result = await purge(running_hub)

    body, purged_at, events = stored(running_hub, event_id)
    assert (result.purged, result.older_than_days) == (1, 30)
    assert body == b"" and purged_at is not None
    assert events == 1


async def test_bodies_younger_than_the_retention_are_kept(running_hub: RunningHub) -> None:
    event_id, original, _ = await processed_delivery(running_hub)
    age(running_hub, event_id, days=29)

    result = await purge(running_hub)

    assert result.purged == 0
    assert stored(running_hub, event_id)[:2] == (original, None)


async def test_a_purged_event_redelivered_is_still_a_duplicate(running_hub: RunningHub) -> None:
    event_id, body, headers = await processed_delivery(running_hub)
    age(running_hub, event_id, days=40)
    await purge(running_hub)

    again = await running_hub.http.post("/webhooks/stripe", content=body, headers=headers)

    assert again.json()["status"] == "duplicate"
    assert stored(running_hub, event_id)[0] == b""


async def test_a_purged_event_is_not_replayed(running_hub: RunningHub) -> None:
    event_id, _, _ = await processed_delivery(running_hub)
    age(running_hub, event_id, days=40)
    await purge(running_hub)

    answer = await running_hub.admin.post(f"/api/events/stripe/{event_id}/replay")

    assert answer.status_code == 404
    detail = (await running_hub.admin.get(f"/api/events/stripe/{event_id}")).json()
    assert detail["status"] == "processed"


async def test_the_worker_creates_the_daily_purge_schedule(running_hub: RunningHub) -> None:
    client = await client_of(running_hub)

    async def described() -> object:
        try:
            return await client.get_schedule_handle(SCHEDULE_ID).describe()
        except Exception:
            return None

    description = await wait_until(described, lambda d: d is not None)
    action = description.schedule.action  # type: ignore[attr-defined]
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "retention.purge_raw_bodies"
    spec = description.schedule.spec  # type: ignore[attr-defined]
    assert [i.every for i in spec.intervals] == [timedelta(days=1)]
