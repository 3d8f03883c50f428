"""The payments ledger: the accounting side of the operational twin, one entry per internal event.

Amounts are signed effects on the platform balance in minor units. Stripe may deliver events in
any order and more than once, so every rule is idempotent and order-tolerant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, text

from integration_hub.errors import HubError
from integration_hub.storage import repo
from integration_hub.storage.tables import ledger_entries

LEDGER_EVENT_TYPES = frozenset(
    {"payment.succeeded", "payment.refunded", "payout.paid", "payout.failed"}
)


class LedgerRejected(HubError):
    """The event contradicts what the ledger already holds; retrying cannot fix it."""

    reason = "ledger_rejected"


def _lock_object(connection: Connection, stripe_object_id: str) -> None:
    """Serialize rules that read earlier entries of the same Stripe object (SQLite already is)."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": stripe_object_id}
        )


def _sum(connection: Connection, *, kind: str, stripe_object_id: str) -> int:
    total = connection.execute(
        select(func.coalesce(func.sum(ledger_entries.c.amount), 0)).where(
            ledger_entries.c.kind == kind, ledger_entries.c.stripe_object_id == stripe_object_id
        )
    ).scalar_one()
    return int(total)


def _payment_currency(connection: Connection, payment_intent: str | None) -> str | None:
    if payment_intent is None:
        return None
    return connection.execute(
        select(ledger_entries.c.currency)
        .where(
            ledger_entries.c.kind == "payment", ledger_entries.c.stripe_object_id == payment_intent
        )
        .limit(1)
    ).scalar_one_or_none()


def entry_for(connection: Connection, event: dict[str, Any]) -> dict[str, Any]:
    """The ledger entry an internal event makes, given the entries already there."""
    data = event["data"]
    object_id = data["stripe_object_id"]
    _lock_object(connection, object_id)
    kind, amount = _rule(connection, event["type"], data)
    return {
        "event_id": event["id"],
        "kind": kind,
        "amount": amount,
        "currency": data["currency"],
        "stripe_object_id": object_id,
        "account": data.get("account"),
        "customer": data.get("customer"),
        "occurred_at": datetime.fromisoformat(event["time"].replace("Z", "+00:00")),
    }


def _rule(connection: Connection, event_type: str, data: dict[str, Any]) -> tuple[str, int]:
    object_id, amount = data["stripe_object_id"], int(data["amount"])
    if event_type == "payment.succeeded":
        return "payment", amount
    if event_type == "payment.refunded":
        paid_in = _payment_currency(connection, data.get("payment_intent"))
        if paid_in is not None and paid_in != data["currency"]:
            raise LedgerRejected(
                f"refund of {object_id} is in {data['currency']} but its payment was in {paid_in}"
            )
        # Stripe sends the cumulative refunded total; book only what is new (0 if seen already).
        already = -_sum(connection, kind="refund", stripe_object_id=object_id)
        return "refund", -max(amount - already, 0)
    if event_type == "payout.paid":
        return "payout", -amount
    if event_type == "payout.failed":
        # Only a payout that was booked as paid has money to give back.
        paid = repo.ledger_has_entry(connection, kind="payout", stripe_object_id=object_id)
        return "payout_reversal", amount if paid else 0
    raise LedgerRejected(f"the ledger has no rule for {event_type!r}")
