"""cleaners: the token of the cleaner's payout onboarding pages (its SHA-256 and expiry)

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-01 21:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cleaners") as batch:
        batch.add_column(sa.Column("onboarding_token_sha256", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("onboarding_expires_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("cleaners") as batch:
        batch.drop_column("onboarding_expires_at")
        batch.drop_column("onboarding_token_sha256")
