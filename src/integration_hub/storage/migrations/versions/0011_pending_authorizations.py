"""pending_authorizations: sign-ins waiting for the provider's redirect back (OIDC + PKCE)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 21:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_authorizations",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("browser_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("next_url", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_pending_authorizations")),
    )
    op.create_index(
        op.f("ix_pending_authorizations_browser_hash"),
        "pending_authorizations",
        ["browser_hash"],
    )
    op.create_index(
        op.f("ix_pending_authorizations_expires_at"), "pending_authorizations", ["expires_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_pending_authorizations_expires_at"), "pending_authorizations")
    op.drop_index(op.f("ix_pending_authorizations_browser_hash"), "pending_authorizations")
    op.drop_table("pending_authorizations")
