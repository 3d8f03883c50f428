"""Migration 0015: outbound_messages.to_phone becomes to_address (320 characters) with its rows
kept, on both databases; the downgrade gives the phone column back."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import Insert, inspect, table, text
from sqlalchemy import column as sa_column

from integration_hub.storage import migrate
from integration_hub.storage.engine import make_engine

NOW = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
ADDRESS = "a" * 64 + "@" + "b" * 251 + ".org"  # 320 characters, the RFC 5321 maximum


def _row(message_id: str, column: str, to: str) -> tuple[Insert, dict[str, object]]:
    """An outbound row as the schema of the time holds it (`column`: to_phone or to_address)."""
    rows = table(
        "outbound_messages",
        *(sa_column(name) for name in ("message_id", "partner", "channel", column, "state")),
        *(sa_column(name) for name in ("attempts", "created_at", "updated_at")),
    )
    values: dict[str, object] = {"message_id": message_id, "partner": "twilio", "channel": "sms"}
    values[column] = to
    values |= {"state": "sent", "attempts": 1, "created_at": NOW, "updated_at": NOW}
    return rows.insert(), values


def test_phone_rows_survive_the_rename_and_email_addresses_fit(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0014")
    with engine.begin() as connection:
        connection.execute(*_row("sms-1", "to_phone", "+13055550142"))

    migrate.upgrade(engine)

    with engine.begin() as connection:
        kept = connection.execute(
            text("SELECT to_address FROM outbound_messages WHERE message_id = 'sms-1'")
        ).scalar_one()
        connection.execute(*_row("mail-1", "to_address", ADDRESS))
        stored = connection.execute(
            text("SELECT to_address FROM outbound_messages WHERE message_id = 'mail-1'")
        ).scalar_one()
    indexes = {i["name"] for i in inspect(engine).get_indexes("outbound_messages")}
    engine.dispose()
    assert kept == "+13055550142"
    assert stored == ADDRESS and len(ADDRESS) == 320
    assert "ix_outbound_messages_to_address" in indexes


def test_the_downgrade_gives_the_phone_column_back(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(*_row("sms-2", "to_address", "+13055550142"))
    config = migrate.alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0014")

    with engine.connect() as connection:
        phone = connection.execute(
            text("SELECT to_phone FROM outbound_messages WHERE message_id = 'sms-2'")
        ).scalar_one()
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert phone == "+13055550142"
    assert not {"email_suppressions", "email_suppression_events"} & tables
