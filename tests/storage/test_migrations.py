"""Alembic: the migrations build exactly the schema tables.py describes, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    DateTime,
    String,
    column,
    select,
    table,
)

from integration_hub.storage import migrate
from integration_hub.storage.engine import make_engine
from integration_hub.storage.rows import as_utc
from integration_hub.storage.tables import (
    RawStatus,
    identity_memberships,
    identity_users,
    internal_events,
    ledger_entries,
    metadata,
    raw_events,
)


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
    assert version == "0011"


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


# ledger_entries as revision 0008 left it.
_LEDGER_0008 = table(
    "ledger_entries",
    column("id", BigInteger()),
    column("event_id", String()),
    column("kind", String()),
    column("amount", BigInteger()),
    column("currency", String()),
    column("stripe_object_id", String()),
    column("account", String()),
    column("customer", String()),
    column("occurred_at", DateTime(timezone=True)),
    column("created_at", DateTime(timezone=True)),
)


def _payment_event(event_id: str, data: dict[str, object]) -> dict[str, object]:
    return {"id": event_id, "type": "payment.succeeded", "partner": "stripe", "data": data}


def _insert_0008_ledger(connection: Connection, now: datetime) -> None:
    raw_id = connection.execute(
        raw_events.insert().returning(raw_events.c.id),
        {"partner": "stripe", "partner_event_id": "evt_1", "event_type": "x", "received_at": now,
         "headers": {}, "body": b"{}", "status": RawStatus.PROCESSED.value, "attempts": 1,
         "updated_at": now},
    ).scalar_one()  # fmt: skip
    old_data = {"amount": 5000, "currency": "usd", "stripe_object_id": "pi_A", "customer": None}
    connection.execute(
        internal_events.insert(),
        [
            {"id": "ev-1", "raw_event_id": raw_id, "position": 0, "type": "payment.succeeded",
             "subject": "pi_A", "envelope": _payment_event("ev-1", old_data), "created_at": now},
            # Not a payments type: its data is not the ledger's and stays as it was.
            {"id": "ev-2", "raw_event_id": raw_id, "position": 1, "type": "identity.user_created",
             "subject": "u", "envelope": {"id": "ev-2", "data": {"stripe_object_id": "kept"}},
             "created_at": now},
        ],
    )  # fmt: skip
    connection.execute(
        _LEDGER_0008.insert(),
        [
            {"id": 7, "event_id": "ev-1", "kind": "payment", "amount": 5000, "currency": "usd",
             "stripe_object_id": "pi_A", "account": "acct_1", "customer": None,
             "occurred_at": now, "created_at": now},
            {"id": 9, "event_id": "ev-3", "kind": "refund", "amount": -100, "currency": "usd",
             "stripe_object_id": "ch_A", "account": None, "customer": "cus_1",
             "occurred_at": now, "created_at": now},
        ],
    )  # fmt: skip


def test_0009_keeps_ledger_entries_and_names_their_partner(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0008")
    now = datetime.now(UTC).replace(microsecond=0)
    with engine.begin() as connection:
        _insert_0008_ledger(connection, now)
    migrate.upgrade(engine, "0009")
    with engine.begin() as connection:
        entries = connection.execute(select(ledger_entries).order_by(ledger_entries.c.id)).all()
        envelopes = dict(
            connection.execute(select(internal_events.c.id, internal_events.c.envelope)).all()
        )
        # A new row names its own partner: the column has no default left.
        connection.execute(
            ledger_entries.insert().values(
                event_id="ev-4", kind="payment", amount=1, currency="eur", partner="other",
                object_id="pi_A", occurred_at=now, created_at=now,
            )
        )  # fmt: skip
        partners = connection.execute(
            select(ledger_entries.c.partner).where(ledger_entries.c.object_id == "pi_A")
        ).scalars()
        assert sorted(partners) == ["other", "stripe"]
    engine.dispose()
    assert [(e.id, e.event_id, e.partner, e.object_id, e.kind, e.amount) for e in entries] == [
        (7, "ev-1", "stripe", "pi_A", "payment", 5000),
        (9, "ev-3", "stripe", "ch_A", "refund", -100),
    ]
    assert (entries[0].account, entries[1].customer) == ("acct_1", "cus_1")
    assert as_utc(entries[0].occurred_at) == now
    new_data = {"amount": 5000, "currency": "usd", "object_id": "pi_A", "customer": None}
    assert envelopes["ev-1"] == _payment_event("ev-1", new_data)
    assert envelopes["ev-2"]["data"] == {"stripe_object_id": "kept"}


def test_0009_downgrades_to_0008(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0008")
    now = datetime.now(UTC).replace(microsecond=0)
    with engine.begin() as connection:
        _insert_0008_ledger(connection, now)
    migrate.upgrade(engine)
    config = migrate.alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")
    with engine.connect() as connection:
        rows = connection.execute(
            select(_LEDGER_0008.c.id, _LEDGER_0008.c.stripe_object_id).order_by(_LEDGER_0008.c.id)
        ).all()
        envelope = connection.execute(
            select(internal_events.c.envelope).where(internal_events.c.id == "ev-1")
        ).scalar_one()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(7, "pi_A"), (9, "ch_A")]
    assert envelope["data"]["stripe_object_id"] == "pi_A" and "object_id" not in envelope["data"]
