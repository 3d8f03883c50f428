"""pending_authorizations.client_hash: who started a pending sign-in, for a cap per client

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 22:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pending_authorizations") as batch:
        batch.add_column(
            sa.Column("client_hash", sa.String(length=64), nullable=False, server_default="")
        )
        batch.create_index(
            batch.f("ix_pending_authorizations_client_hash"), ["client_hash"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pending_authorizations") as batch:
        batch.drop_index(batch.f("ix_pending_authorizations_client_hash"))
        batch.drop_column("client_hash")
