"""The one place that tells SQLite from PostgreSQL: each construct behaves the same on both."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select, text

from integration_hub.storage import dialect, identity
from integration_hub.storage.engine import begin_write
from integration_hub.storage.raw_events import NewRawEvent, record_deliveries
from integration_hub.storage.rows import as_utc, utcnow
from integration_hub.storage.tables import contacts, identity_users, raw_events


def _contact(phone: str, locale: str) -> dict[str, object]:
    now = utcnow()
    return {
        "phone": phone,
        "locale": locale,
        "opted_out": False,
        "created_at": now,
        "updated_at": now,
    }


def test_insert_or_ignore_keeps_the_first_row_and_says_whether_it_inserted(
    engine: Engine,
) -> None:
    with begin_write(engine) as connection:

        def insert(locale: str) -> bool:
            statement = dialect.insert_or_ignore(
                connection, contacts, key=["phone"], values=_contact("+15550100", locale)
            ).returning(contacts.c.phone)
            return connection.execute(statement).first() is not None

        assert insert("en") is True
        assert insert("es") is False
        # Without values: executemany over a list of rows, duplicates of stored ones ignored.
        connection.execute(
            dialect.insert_or_ignore(connection, contacts, key=["phone"]),
            [_contact("+15550100", "es"), _contact("+15550101", "es")],
        )
        stored = dict(connection.execute(select(contacts.c.phone, contacts.c.locale)).all())
    assert stored == {"+15550100": "en", "+15550101": "es"}


def test_upsert_updates_only_when_its_condition_holds(engine: Engine) -> None:
    now = utcnow()

    def row(role: str, source_time: object) -> dict[str, object]:
        return {
            "partner": "idp",
            "user_id": "u1",
            "role": role,
            "deleted": False,
            "source_time": source_time,
            "updated_at": now,
        }

    with begin_write(engine) as connection:

        def upsert(role: str, at: object) -> bool:
            return identity.upsert_newer(
                connection, table=identity_users, key=("partner", "user_id"), row=row(role, at)
            )

        assert upsert("member", now) is True  # inserted
        assert upsert("admin", now + timedelta(seconds=1)) is True  # newer: updated
        assert upsert("viewer", now - timedelta(hours=1)) is False  # older: kept out
        stored = connection.execute(select(identity_users.c.role, identity_users.c.source_time))
        role, source_time = stored.one()
    assert role == "admin"
    assert as_utc(source_time) == now + timedelta(seconds=1)


def _event(partner: str, event_id: str) -> NewRawEvent:
    headers = {"content-type": "application/json", "x-id": event_id}
    return NewRawEvent(partner, event_id, "thing.happened", utcnow(), headers, b'{"a": 1}')


def test_bulk_insert_returns_only_new_keys_first_of_a_batch_wins(engine: Engine) -> None:
    first = [_event("p1", "e1"), _event("p2", "e1")]
    with begin_write(engine) as connection:
        assert record_deliveries(connection, events=first) == {("p1", "e1"), ("p2", "e1")}
    again = [_event("p1", "e1"), _event("p1", "e2"), _event("p1", "e2")]
    with begin_write(engine) as connection:
        assert record_deliveries(connection, events=again) == {("p1", "e2")}
        rows = connection.execute(
            select(raw_events.c.partner, raw_events.c.headers, raw_events.c.body).order_by(
                raw_events.c.id
            )
        ).all()
    assert [(r.partner, r.headers["x-id"], r.body) for r in rows] == [
        ("p1", "e1", b'{"a": 1}'),
        ("p2", "e1", b'{"a": 1}'),
        ("p1", "e2", b'{"a": 1}'),
    ]


def test_bulk_insert_past_one_statement_stores_every_row(engine: Engine) -> None:
    count = dialect.SQLITE_MAX_ROWS_PER_STATEMENT * 2 + 7  # three SQLite statements
    events = [_event("p1", f"e{i}") for i in range(count)]
    with begin_write(engine) as connection:
        inserted = record_deliveries(connection, events=events[: count // 2])
        inserted |= record_deliveries(connection, events=events)
        stored = connection.execute(select(func.count()).select_from(raw_events)).scalar_one()
    assert len(inserted) == count
    assert stored == count


def test_serialize_on_holds_an_advisory_lock_until_the_transaction_ends(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite serializes writers; there is no lock to take")
    held = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
    with begin_write(engine) as connection:
        before = connection.execute(held).scalar_one()
        dialect.serialize_on(connection, key="object-1")
        assert connection.execute(held).scalar_one() == before + 1
    with engine.connect() as connection:
        assert connection.execute(held).scalar_one() == before
