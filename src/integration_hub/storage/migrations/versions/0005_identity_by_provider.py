"""identity mirror keyed by (provider, id); event times clamped to receipt + skew

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 13:20:00.000000

The provider of an existing row is its `partner` column, which has always held the partner
whose event wrote the row (clerk or auth0), so every row keeps its provider and no default is
needed. A row written by one provider over another's user (the attack this fixes) stays with
the provider that wrote it; the other provider's next event creates that user's own row.

Event times were trusted as sent: a row dated in the future would refuse every later update.
Each stored `source_time` is clamped to `updated_at` (when the hub applied it, after receipt)
plus five minutes, the default of HUB_IDENTITY_CLOCK_SKEW_SECONDS.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DEFAULT_SKEW = timedelta(minutes=5)


def _mirror_table(name: str, key: str) -> sa.TableClause:
    return sa.table(
        name,
        sa.column("partner", sa.String()),
        sa.column(key, sa.String()),
        sa.column("source_time", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes (UTC, as the hub writes them); an aware one is
    converted, so the clamp below is compared and written in UTC on either database."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _clamp_source_times(name: str, key: str) -> None:
    table = _mirror_table(name, key)
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(table.c.partner, table.c[key], table.c.source_time, table.c.updated_at)
    ).all()
    for partner, row_key, source_time, updated_at in rows:
        latest = _utc(updated_at) + DEFAULT_SKEW
        if _utc(source_time) > latest:
            connection.execute(
                sa.update(table)
                .where(table.c.partner == partner, table.c[key] == row_key)
                .values(source_time=latest)
            )


def upgrade() -> None:
    with op.batch_alter_table("identity_users", schema=None) as batch_op:
        batch_op.drop_constraint("pk_identity_users", type_="primary")
        batch_op.create_primary_key("pk_identity_users", ["partner", "user_id"])
    with op.batch_alter_table("identity_memberships", schema=None) as batch_op:
        batch_op.drop_index("ix_identity_memberships_user_id")
        batch_op.drop_constraint("pk_identity_memberships", type_="primary")
        batch_op.create_primary_key("pk_identity_memberships", ["partner", "membership_id"])
        batch_op.create_index(
            "ix_identity_memberships_partner_user_id", ["partner", "user_id"], unique=False
        )
    _clamp_source_times("identity_users", "user_id")
    _clamp_source_times("identity_memberships", "membership_id")


def _keep_newest_per_id(name: str, key: str) -> None:
    """Back to one row per id: the most recently ordered row of any provider stays."""
    table = _mirror_table(name, key)
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(table.c.partner, table.c[key], table.c.source_time).order_by(
            table.c[key], table.c.source_time.desc(), table.c.partner
        )
    ).all()
    seen: set[str] = set()
    for partner, row_key, _source_time in rows:
        if row_key in seen:
            connection.execute(
                sa.delete(table).where(table.c.partner == partner, table.c[key] == row_key)
            )
        seen.add(row_key)


def downgrade() -> None:
    _keep_newest_per_id("identity_users", "user_id")
    _keep_newest_per_id("identity_memberships", "membership_id")
    with op.batch_alter_table("identity_memberships", schema=None) as batch_op:
        batch_op.drop_index("ix_identity_memberships_partner_user_id")
        batch_op.drop_constraint("pk_identity_memberships", type_="primary")
        batch_op.create_primary_key("pk_identity_memberships", ["membership_id"])
        batch_op.create_index("ix_identity_memberships_user_id", ["user_id"], unique=False)
    with op.batch_alter_table("identity_users", schema=None) as batch_op:
        batch_op.drop_constraint("pk_identity_users", type_="primary")
        batch_op.create_primary_key("pk_identity_users", ["user_id"])
