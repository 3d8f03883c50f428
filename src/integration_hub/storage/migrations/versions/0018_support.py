"""support: conversations opened in the support inbox, the messages they took, contacts'
tags, inbox contact ids

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 00:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "support_conversations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("provider_conversation_id", sa.String(length=128), nullable=True),
        sa.Column("provider_contact_id", sa.String(length=128), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("property_id", sa.String(length=64), nullable=True),
        sa.Column("stay_id", sa.String(length=64), nullable=True),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column("assignee", sa.String(length=128), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_relay_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("relay_count", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resumes", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_conversations")),
        sa.UniqueConstraint(
            "provider",
            "provider_conversation_id",
            name=op.f("uq_support_conversations_provider_provider_conversation_id"),
        ),
    )
    op.create_index(
        op.f("ix_support_conversations_phone_status"), "support_conversations", ["phone", "status"]
    )
    op.create_table(
        "support_messages",
        sa.Column("message_id", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_support_messages")),
    )
    op.create_table(
        "contact_tags",
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("phone", "tag", name=op.f("pk_contact_tags")),
    )
    op.create_table(
        "support_contacts",
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("provider_contact_id", sa.String(length=128), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "provider", "provider_contact_id", name=op.f("pk_support_contacts")
        ),
    )
    op.create_index(
        op.f("ix_support_contacts_provider_phone"), "support_contacts", ["provider", "phone"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_support_contacts_provider_phone"), table_name="support_contacts")
    op.drop_table("support_contacts")
    op.drop_table("contact_tags")
    op.drop_table("support_messages")
    op.drop_index(op.f("ix_support_conversations_phone_status"), table_name="support_conversations")
    op.drop_table("support_conversations")
