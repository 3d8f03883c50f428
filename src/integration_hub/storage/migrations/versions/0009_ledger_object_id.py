"""ledger entries keep their partner and a partner-neutral object id

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 10:00:00.000000

The ledger is a core feature any payments partner may feed, so `ledger_entries.stripe_object_id`
becomes `object_id` (the partner's own id of the object) beside a new `partner` column, and
the index is on both: object ids are unique only within one partner. Every existing entry was
made by the one payments partner there was, so its rows get "stripe"; new rows get the
partner of their event.

The internal events' data field was renamed the same way (schemas/payment.*.json and the
other types the payments partner emits). Stored envelopes are rewritten too: a pending
handler run, or a replay (which keeps the stored event of the same id), reads them again.

The downgrade renames both back and drops `partner`: entries another partner made since stay,
but no longer say whose they are.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

OLD, NEW = "stripe_object_id", "object_id"
EXISTING_PARTNER = "stripe"
# The internal event types whose data carried the old field (the payments partner's mapping).
EVENT_TYPES = (
    "payment.succeeded",
    "payment.failed",
    "payment.refunded",
    "payout.paid",
    "payout.failed",
    "invoice.paid",
    "connected_account.updated",
    "checkout.completed",
)
PAGE = 500  # envelopes read and rewritten at a time

_events = sa.table(
    "internal_events",
    sa.column("id", sa.String()),
    sa.column("type", sa.String()),
    sa.column("envelope", sa.JSON()),
)


def _pages() -> Iterator[Sequence[sa.Row[Any, Any]]]:
    """The stored events of those types, a page at a time in id order (keyset, so a rewritten
    page is never read twice and memory stays bounded by the page)."""
    connection = op.get_bind()
    after = ""
    while True:
        rows = connection.execute(
            sa.select(_events.c.id, _events.c.envelope)
            .where(_events.c.type.in_(EVENT_TYPES), _events.c.id > after)
            .order_by(_events.c.id)
            .limit(PAGE)
        ).all()
        if not rows:
            return
        yield rows
        after = rows[-1].id


def _rename_data_field(old: str, new: str) -> None:
    connection = op.get_bind()
    update = (
        sa.update(_events)
        .where(_events.c.id == sa.bindparam("event_id"))
        .values(envelope=sa.bindparam("new_envelope", type_=sa.JSON()))
    )
    for rows in _pages():
        changed = []
        for event_id, envelope in rows:
            data = envelope.get("data") if isinstance(envelope, dict) else None
            if isinstance(data, dict) and old in data:
                renamed = {new if key == old else key: value for key, value in data.items()}
                changed.append(
                    {"event_id": event_id, "new_envelope": {**envelope, "data": renamed}}
                )
        if changed:
            connection.execute(update, changed)


def upgrade() -> None:
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entries_stripe_object_id")
        batch_op.alter_column(
            OLD, new_column_name=NEW, existing_type=sa.String(length=255), existing_nullable=False
        )
        batch_op.add_column(
            sa.Column(
                "partner", sa.String(length=64), nullable=False, server_default=EXISTING_PARTNER
            )
        )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        # The default was for the rows already there; the ledger writes every new row's partner.
        batch_op.alter_column(
            "partner",
            existing_type=sa.String(length=64),
            existing_nullable=False,
            server_default=None,
        )
        batch_op.create_index("ix_ledger_entries_partner_object_id", ["partner", NEW], unique=False)
    _rename_data_field(OLD, NEW)


def downgrade() -> None:
    _rename_data_field(NEW, OLD)
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entries_partner_object_id")
        batch_op.drop_column("partner")
        batch_op.alter_column(
            NEW, new_column_name=OLD, existing_type=sa.String(length=255), existing_nullable=False
        )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entries_stripe_object_id", [OLD], unique=False)
