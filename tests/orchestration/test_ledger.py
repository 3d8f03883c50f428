"""The ledger handler, driven end to end: signed delivery -> normalizer -> Temporal -> ledger."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from sqlalchemy import Engine

from integration_hub.orchestration.ledger import entry_for
from integration_hub.storage.engine import begin_write
from integration_hub.storage.ledger import post_ledger_entry
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
    return [(i["kind"], i["amount"], i["object_id"]) for i in reversed(items)]


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


async def test_entries_name_the_partner_whose_event_made_them(running_hub: RunningHub) -> None:
    await _deliver(running_hub, "payout.paid", id="po_C", amount=300)
    [entry] = (await running_hub.admin.get("/api/ledger")).json()["items"]
    assert (entry["partner"], entry["object_id"], entry["kind"]) == ("stripe", "po_C", "payout")


def _post(engine: Engine, partner: str, event_type: str, object_id: str, amount: int) -> int:
    """Book one event of `partner` through the handler's own rules; returns the amount booked."""
    event = {
        "id": str(uuid.uuid4()),
        "type": event_type,
        "partner": partner,
        "time": "2026-12-03T10:00:00Z",
        "data": {"object_id": object_id, "amount": amount, "currency": "usd"},
    }
    with begin_write(engine) as connection:
        entry = entry_for(connection, event)
        assert post_ledger_entry(connection, entry=entry)
    assert (entry["partner"], entry["object_id"]) == (partner, object_id)
    return int(entry["amount"])


def test_object_ids_are_only_compared_within_one_partner(engine: Engine) -> None:
    # Two payments partners may use the same id for different objects.
    assert _post(engine, "one", "payout.paid", "po_1", 700) == -700
    assert _post(engine, "two", "payout.failed", "po_1", 700) == 0  # "two" never paid it
    assert _post(engine, "one", "payout.failed", "po_1", 700) == 700
    assert _post(engine, "one", "payment.refunded", "ch_1", 100) == -100
    assert _post(engine, "two", "payment.refunded", "ch_1", 300) == -300  # not cumulative with one
    assert _post(engine, "one", "payment.refunded", "ch_1", 300) == -200
