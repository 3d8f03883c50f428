"""cleaners: the core registry of cleaners and their payout accounts' readiness

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cleaners",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("payout_partner", sa.String(length=64), nullable=True),
        sa.Column("payout_account_id", sa.String(length=255), nullable=True),
        sa.Column("charges_enabled", sa.Boolean(), nullable=False),
        sa.Column("payouts_enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=255), nullable=True),
        sa.Column("requirements_due", sa.JSON(), nullable=False),
        sa.Column("readiness_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cleaners")),
        sa.UniqueConstraint("phone", name=op.f("uq_cleaners_phone")),
        sa.UniqueConstraint(
            "payout_partner",
            "payout_account_id",
            name=op.f("uq_cleaners_payout_partner_payout_account_id"),
        ),
    )


def downgrade() -> None:
    op.drop_table("cleaners")
