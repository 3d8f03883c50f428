"""The Google Maps results cache: keyword-only functions over a Connection.

The Maps terms allow no permanent storage: latitude and longitude may be kept for at most 30
consecutive days, `place_id` indefinitely. Every row therefore expires at most
`MAX_CACHE_DAYS` after it was written, whatever the configuration asks for, and reads ignore
expired rows even before the purge deletes them. The `place_id` column only makes rows
findable by place; it goes with its row (callers may keep the place_id they were returned).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select

from integration_hub.storage import dialect
from integration_hub.storage.tables import maps_cache

MAX_CACHE_DAYS = 30  # Google Maps Platform service terms: lat/lng for at most 30 days


@dataclass(frozen=True, slots=True)
class CachedResult:
    result: Any
    place_id: str | None
    created_at: datetime
    expires_at: datetime


def normalize_text(value: str) -> str:
    """Addresses differing only in case or spacing are one request."""
    return " ".join(value.split()).casefold()


def cache_key(api: str, request: Mapping[str, Any]) -> str:
    """sha256 of the API name and the normalized request (canonical JSON, sorted keys)."""
    canonical = json.dumps(
        {"api": api, "request": request}, sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def lifetime(configured_days: int) -> timedelta:
    """The configured lifetime, never longer than the terms allow."""
    return timedelta(days=max(0, min(configured_days, MAX_CACHE_DAYS)))


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def get(connection: Connection, *, key: str, now: datetime) -> CachedResult | None:
    """The cached result for `key` if it has not expired at `now`."""
    row = connection.execute(
        select(
            maps_cache.c.result,
            maps_cache.c.place_id,
            maps_cache.c.created_at,
            maps_cache.c.expires_at,
        ).where(maps_cache.c.key == key, maps_cache.c.expires_at > now)
    ).first()
    if row is None:
        return None
    return CachedResult(
        result=row.result,
        place_id=row.place_id,
        created_at=_utc(row.created_at),
        expires_at=_utc(row.expires_at),
    )


def put(
    connection: Connection,
    *,
    key: str,
    api: str,
    result: Any,
    place_id: str | None,
    now: datetime,
    days: int,
) -> datetime:
    """Store (or refresh) a result; returns when it expires (at most 30 days from `now`)."""
    expires_at = now + lifetime(days)
    values = {
        "key": key,
        "api": api,
        "result": result,
        "place_id": place_id,
        "created_at": now,
        "expires_at": expires_at,
    }
    connection.execute(
        dialect.upsert(
            connection,
            maps_cache,
            key=["key"],
            values=values,
            changes=lambda new: {k: new[k] for k in values if k != "key"},
        )
    )
    return expires_at


def purge(connection: Connection, *, now: datetime) -> int:
    """Delete every row expired at `now`; returns how many."""
    return connection.execute(delete(maps_cache).where(maps_cache.c.expires_at <= now)).rowcount
