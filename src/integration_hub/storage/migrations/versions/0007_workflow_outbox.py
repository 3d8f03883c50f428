"""workflow_outbox: workflow starts and signals handlers queue in their own transaction

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workflow_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("workflow_type", sa.String(length=128), nullable=True),
        sa.Column("workflow_id", sa.String(length=255), nullable=False),
        sa.Column("signal", sa.String(length=128), nullable=False),
        sa.Column("dedup", sa.String(length=255), nullable=False),
        sa.Column("input", sa.JSON(), nullable=True),
        sa.Column("signal_input", sa.JSON(), nullable=True),
        sa.Column("task_queue", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_outbox")),
        sa.UniqueConstraint(
            "workflow_id",
            "kind",
            "signal",
            "dedup",
            name=op.f("uq_workflow_outbox_workflow_id_kind_signal_dedup"),
        ),
    )
    with op.batch_alter_table("workflow_outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workflow_outbox_status_id"), ["status", "id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("workflow_outbox")
