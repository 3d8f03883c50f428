"""The normalizer: failures are dead-lettered with their error; replay is idempotent."""

from __future__ import annotations

from typing import Any

import orjson

from tests.helpers import RunningHub, stripe_delivery, table_counts, wait_until


async def _post(running: RunningHub, body: bytes, headers: dict[str, str]) -> str:
    response = await running.http.post("/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == 200
    return str(orjson.loads(body)["id"])


async def _settled(running: RunningHub, event_id: str) -> dict[str, object]:
    response = await wait_until(
        lambda: running.admin.get(f"/api/events/stripe/{event_id}"),
        lambda r: r.json()["status"] in {"processed", "failed", "ignored"},
    )
    return dict(response.json())


async def test_payload_failing_its_schema_is_failed_with_the_reason(
    running_hub: RunningHub,
) -> None:
    event_id = await _post(running_hub, *stripe_delivery(currency="dollars"))
    detail = await _settled(running_hub, event_id)
    assert detail["status"] == "failed"
    assert "payment.succeeded schema: currency" in str(detail["last_error"])
    assert detail["events"] == []


async def test_failed_normalization_does_not_block_the_batch(running_hub: RunningHub) -> None:
    bad = await _post(running_hub, *stripe_delivery(currency="dollars"))
    good = await _post(running_hub, *stripe_delivery())
    assert (await _settled(running_hub, bad))["status"] == "failed"
    assert (await _settled(running_hub, good))["status"] == "processed"


async def test_replay_yields_the_same_events_and_the_next_workflow_generation(
    running_hub: RunningHub,
) -> None:
    """Replayed at once, while the first workflow may not have closed: the new run still
    starts (its id is the first one's plus `/replay-1`) and completes."""
    event_id = await _post(running_hub, *stripe_delivery())
    first = await _settled(running_hub, event_id)
    replay = await running_hub.admin.post(f"/api/events/stripe/{event_id}/replay")
    assert replay.json() == {"requeued": 1}
    again = await wait_until(
        lambda: running_hub.admin.get(f"/api/events/stripe/{event_id}"),
        lambda r: (
            r.json()["attempts"] == 2
            and r.json()["status"] == "processed"
            and r.json()["events"][0]["handlers"][0]["status"] == "completed"
        ),
    )
    events_before: list[dict[str, Any]] = first["events"]  # type: ignore[assignment]
    events_after: list[dict[str, Any]] = again.json()["events"]
    assert [e["event"]["id"] for e in events_after] == [e["event"]["id"] for e in events_before]
    first_run = events_before[0]["handlers"][0]["workflow_id"]
    assert events_after[0]["handlers"][0]["workflow_id"] == f"{first_run}/replay-1"
    assert table_counts(running_hub.hub) == {
        "raw_events": 1,
        "internal_events": 1,
        "handler_runs": 1,
        "ledger_entries": 1,
    }


async def test_bulk_replay_by_status_requeues_only_that_status(running_hub: RunningHub) -> None:
    bad = await _post(running_hub, *stripe_delivery(currency="dollars"))
    good = await _post(running_hub, *stripe_delivery())
    await _settled(running_hub, bad)
    await _settled(running_hub, good)
    response = await running_hub.admin.post(
        "/api/replay", json={"partner": "stripe", "status": "failed"}
    )
    assert response.json() == {"requeued": 1}
    detail = await wait_until(
        lambda: running_hub.admin.get(f"/api/events/stripe/{bad}"),
        lambda r: r.json()["attempts"] == 2,
    )
    assert detail.json()["status"] == "failed"
    assert (await running_hub.admin.get(f"/api/events/stripe/{good}")).json()["attempts"] == 1
