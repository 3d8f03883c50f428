"""The payments ledger: the accounting side of the operational twin, one entry per internal event.

Amounts are signed effects on the platform balance in minor units. Any partner that declares
the `payments` capability may feed it: an entry keeps the partner (the event's `partner`
extension) and that partner's own object id (`data.object_id`). Partners may deliver events in
any order and more than once, so every rule is idempotent and order-tolerant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from integration_hub.errors import HubError
from integration_hub.storage import ledger as stored

LEDGER_EVENT_TYPES = frozenset(
    {"payment.succeeded", "payment.refunded", "payout.paid", "payout.failed"}
)


class LedgerRejected(HubError):
    """The event contradicts what the ledger already holds; retrying cannot fix it."""

    reason = "ledger_rejected"


def entry_for(connection: Connection, event: dict[str, Any]) -> dict[str, Any]:
    """The ledger entry an internal event makes, given the entries already there."""
    data, partner = event["data"], event["partner"]
    object_id = data["object_id"]
    # Rules below read earlier entries of the same object: one event of it at a time.
    stored.lock_object(connection, partner=partner, object_id=object_id)
    kind, amount = _rule(connection, event["type"], partner, data)
    return {
        "event_id": event["id"],
        "kind": kind,
        "amount": amount,
        "currency": data["currency"],
        "partner": partner,
        "object_id": object_id,
        "account": data.get("account"),
        "customer": data.get("customer"),
        "occurred_at": datetime.fromisoformat(event["time"].replace("Z", "+00:00")),
    }


def _rule(
    connection: Connection, event_type: str, partner: str, data: dict[str, Any]
) -> tuple[str, int]:
    object_id, amount = data["object_id"], int(data["amount"])
    if event_type == "payment.succeeded":
        return "payment", amount
    if event_type == "payment.refunded":
        payment = data.get("payment_intent")
        paid_in = (
            stored.currency_of(connection, partner=partner, kind="payment", object_id=payment)
            if payment is not None
            else None
        )
        if paid_in is not None and paid_in != data["currency"]:
            raise LedgerRejected(
                f"refund of {object_id} is in {data['currency']} but its payment was in {paid_in}"
            )
        # The amount is the cumulative refunded total (payment.refunded.json); book only what is
        # new (0 if seen already).
        already = -stored.total(connection, partner=partner, kind="refund", object_id=object_id)
        return "refund", -max(amount - already, 0)
    if event_type == "payout.paid":
        return "payout", -amount
    if event_type == "payout.failed":
        # Only a payout that was booked as paid has money to give back.
        paid = stored.ledger_has_entry(
            connection, partner=partner, kind="payout", object_id=object_id
        )
        return "payout_reversal", amount if paid else 0
    raise LedgerRejected(f"the ledger has no rule for {event_type!r}")
