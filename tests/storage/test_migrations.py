"""Alembic: the migrations build exactly the schema tables.py describes, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Boolean, Connection, DateTime, String, column, select, table

from integration_hub.storage import migrate
from integration_hub.storage.engine import make_engine
from integration_hub.storage.rows import as_utc
from integration_hub.storage.tables import identity_memberships, identity_users, metadata


def test_migrations_match_the_tables(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_twice_is_a_no_op(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    migrate.upgrade(engine)
    with engine.connect() as connection:
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
    engine.dispose()
    assert version == "0008"


def _insert_0004_mirror_rows(connection: Connection, now: datetime) -> None:
    future = datetime(9999, 12, 31, tzinfo=UTC)
    users = table(
        "identity_users",
        column("user_id", String()),
        column("partner", String()),
        column("role", String()),
        column("deleted", Boolean()),
        column("source_time", DateTime(timezone=True)),
        column("updated_at", DateTime(timezone=True)),
    )
    connection.execute(
        users.insert(),
        [
            {"user_id": "user_1", "partner": "clerk", "role": "admin", "deleted": False,
             "source_time": now, "updated_at": now},
            # The attack's leftover: an Auth0 entry's row dated 9999 over a Clerk id.
            {"user_id": "user_2", "partner": "auth0", "role": None, "deleted": False,
             "source_time": future, "updated_at": now},
        ],
    )  # fmt: skip
    memberships = table(
        "identity_memberships",
        column("membership_id", String()),
        column("partner", String()),
        column("user_id", String()),
        column("deleted", Boolean()),
        column("source_time", DateTime(timezone=True)),
        column("updated_at", DateTime(timezone=True)),
    )
    connection.execute(
        memberships.insert(),
        {"membership_id": "orgmem_1", "partner": "clerk", "user_id": "user_1", "deleted": False,
         "source_time": future, "updated_at": now},
    )  # fmt: skip


def test_0005_keys_existing_mirror_rows_by_provider(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0004")
    now = datetime.now(UTC).replace(microsecond=0)
    with engine.begin() as connection:
        _insert_0004_mirror_rows(connection, now)
    migrate.upgrade(engine)
    with engine.begin() as connection:
        users = {
            (r.partner, r.user_id): r for r in connection.execute(select(identity_users)).all()
        }
        [membership] = connection.execute(select(identity_memberships)).all()
        # The same id under another provider is another row now.
        connection.execute(
            identity_users.insert().values(
                partner="clerk", user_id="user_2", deleted=False, source_time=now, updated_at=now
            )
        )
        both = connection.execute(
            select(identity_users.c.partner).where(identity_users.c.user_id == "user_2")
        ).scalars()
        assert sorted(both) == ["auth0", "clerk"]
    engine.dispose()
    assert set(users) == {("clerk", "user_1"), ("auth0", "user_2")}
    assert users[("clerk", "user_1")].role == "admin"
    assert as_utc(users[("clerk", "user_1")].source_time) == now  # a sane time is kept
    # Future times are clamped to when the row was written plus the default skew.
    assert as_utc(users[("auth0", "user_2")].source_time) == now + timedelta(minutes=5)
    assert (membership.partner, membership.membership_id) == ("clerk", "orgmem_1")
    assert as_utc(membership.source_time) == now + timedelta(minutes=5)


def test_0005_and_0006_downgrade_to_0004(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        for partner in ("clerk", "auth0"):
            connection.execute(
                identity_users.insert().values(
                    partner=partner, user_id="user_1", deleted=False, source_time=now,
                    updated_at=now,
                )
            )  # fmt: skip
    config = migrate.alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
    with engine.connect() as connection:
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
        kept = connection.exec_driver_sql("SELECT count(*) FROM identity_users").scalar_one()
    engine.dispose()
    assert (version, kept) == ("0004", 1)
