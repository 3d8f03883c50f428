"""support: a conversation's resumes (an agent's reply to an idle one brings it back, under a
new workflow run id: orchestration/support_conversation.workflow_id_of)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 01:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("support_conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resumes", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("support_conversations", schema=None) as batch_op:
        batch_op.drop_column("resumes")
