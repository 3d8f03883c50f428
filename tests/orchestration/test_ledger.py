"""The ledger handler, driven end to end: signed delivery -> normalizer -> Temporal -> ledger."""

from __future__ import annotations

from typing import Any

import orjson

from tests.helpers import RunningHub, stripe_delivery, wait_until


async def _deliver(running: RunningHub, event_type: str, **changes: Any) -> str:
    body, headers = stripe_delivery(event_type, **changes)
    response = await running.http.post("/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == 200
    event_id: str = orjson.loads(body)["id"]
    await wait_until(
        lambda: running.admin.get(f"/api/events/stripe/{event_id}"),
        lambda r: r.json()["status"] in {"processed", "failed", "ignored"},
    )
    return event_id


async def _ledger(running: RunningHub) -> list[tuple[str, int, str]]:
    items = (await running.admin.get("/api/ledger")).json()["items"]
    return [(i["kind"], i["amount"], i["stripe_object_id"]) for i in reversed(items)]


async def test_payment_succeeded_posts_one_credit(running_hub: RunningHub) -> None:
    await _deliver(
        running_hub, "payment_intent.succeeded", id="pi_A", amount=5000, amount_received=5000
    )
    assert await _ledger(running_hub) == [("payment", 5000, "pi_A")]


async def test_cumulative_refunds_book_only_the_new_part(running_hub: RunningHub) -> None:
    await _deliver(running_hub, "charge.refunded", id="ch_A", amount_refunded=100)
    await _deliver(running_hub, "charge.refunded", id="ch_A", amount_refunded=300)
    await _deliver(running_hub, "charge.refunded", id="ch_A", amount_refunded=300)  # re-sent total
    assert await _ledger(running_hub) == [
        ("refund", -100, "ch_A"),
        ("refund", -200, "ch_A"),
        ("refund", 0, "ch_A"),
    ]


async def test_payout_failure_reverses_only_a_paid_payout(running_hub: RunningHub) -> None:
    await _deliver(running_hub, "payout.paid", id="po_A", amount=700)
    await _deliver(running_hub, "payout.failed", id="po_A", amount=700)
    await _deliver(running_hub, "payout.failed", id="po_B", amount=900)
    assert await _ledger(running_hub) == [
        ("payout", -700, "po_A"),
        ("payout_reversal", 700, "po_A"),
        ("payout_reversal", 0, "po_B"),
    ]


async def test_business_error_fails_without_retries_and_keeps_the_error(
    running_hub: RunningHub,
) -> None:
    await _deliver(running_hub, "payment_intent.succeeded", id="pi_B", currency="usd")
    event_id = await _deliver(
        running_hub, "charge.refunded", id="ch_B", payment_intent="pi_B", currency="eur"
    )
    detail = (await running_hub.admin.get(f"/api/events/stripe/{event_id}")).json()
    assert detail["status"] == "failed"
    run = detail["events"][0]["handlers"][0]
    assert run["status"] == "failed"
    assert "eur" in run["last_error"] and "usd" in run["last_error"]
    assert run["attempts"] == 1
    assert [kind for kind, _, _ in await _ledger(running_hub)] == ["payment"]


async def test_events_without_ledger_rule_run_no_handler(running_hub: RunningHub) -> None:
    event_id = await _deliver(running_hub, "invoice.paid")
    detail = (await running_hub.admin.get(f"/api/events/stripe/{event_id}")).json()
    assert detail["status"] == "processed"
    assert detail["events"][0]["event"]["type"] == "invoice.paid"
    assert detail["events"][0]["handlers"] == []
    assert await _ledger(running_hub) == []
