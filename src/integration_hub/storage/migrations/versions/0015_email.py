"""email: outbound_messages.to_phone becomes to_address (320 characters, for e-mail too; data
kept), and the e-mail suppression list with the events applied to it

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 22:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch:
        batch.drop_index(batch.f("ix_outbound_messages_to_phone"))
        batch.alter_column(
            "to_phone",
            new_column_name="to_address",
            existing_type=sa.String(length=32),
            type_=sa.String(length=320),
            existing_nullable=False,
        )
    # Outside the batch: SQLite's batch cannot index a column it renames in the same batch.
    op.create_index(op.f("ix_outbound_messages_to_address"), "outbound_messages", ["to_address"])
    op.create_table(
        "email_suppressions",
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("suppressed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("soft_bounces", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_email_suppressions")),
    )
    op.create_table(
        "email_suppression_events",
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_email_suppression_events")),
    )
    with op.batch_alter_table("email_suppression_events") as batch:
        batch.create_index(batch.f("ix_email_suppression_events_address"), ["address"])


def downgrade() -> None:
    with op.batch_alter_table("email_suppression_events") as batch:
        batch.drop_index(batch.f("ix_email_suppression_events_address"))
    op.drop_table("email_suppression_events")
    op.drop_table("email_suppressions")
    # PostgreSQL refuses this while an e-mail address longer than 32 characters is stored.
    op.drop_index(op.f("ix_outbound_messages_to_address"), table_name="outbound_messages")
    with op.batch_alter_table("outbound_messages") as batch:
        batch.alter_column(
            "to_address",
            new_column_name="to_phone",
            existing_type=sa.String(length=320),
            type_=sa.String(length=32),
            existing_nullable=False,
        )
    op.create_index(op.f("ix_outbound_messages_to_phone"), "outbound_messages", ["to_phone"])
