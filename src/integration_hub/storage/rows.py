"""What every query module shares: the row type it returns and UTC time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeAlias

from sqlalchemy import Row

# Rows of any shape (Row is variadic in SQLAlchemy 2.1).
AnyRow: TypeAlias = Row[*tuple[Any, ...]]


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
