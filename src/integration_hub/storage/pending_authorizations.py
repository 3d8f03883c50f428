"""Authorizations in flight: a sign-in (or an OAuth connection) between the redirect to the
provider and its redirect back.

The row holds what the callback needs and the browser must not: the nonce, the PKCE
`code_verifier` and where to go next. It is keyed by the SHA-256 of `state` and bound to the
browser by the SHA-256 of its short-lived cookie, so neither a copy of the table nor a leaked
callback URL completes a sign-in. `consume` deletes the row in the transaction that reads it:
a replayed callback finds nothing. The table is bounded: expired rows are purged on every
`create`, one browser keeps its `MAX_PER_BROWSER` newest, and past `MAX_TOTAL` live rows new
sign-ins are refused (`TooManyPending`) until some expire.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, select

from integration_hub.storage.rows import as_utc, utcnow
from integration_hub.storage.tables import pending_authorizations as table

LIFETIME = timedelta(minutes=10)
MAX_PER_BROWSER = 5
MAX_TOTAL = 1000


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()


class TooManyPending(Exception):
    """More sign-ins are in flight than the table holds; try again in a few minutes."""


@dataclass(frozen=True, slots=True)
class Pending:
    browser_hash: str
    purpose: str
    nonce: str
    code_verifier: str
    next_url: str
    expires_at: datetime

    def browser_matches(self, cookie: str) -> bool:
        return bool(cookie) and hmac.compare_digest(self.browser_hash, digest(cookie))


def create(
    connection: Connection,
    *,
    state: str,
    browser: str,
    purpose: str,
    nonce: str,
    code_verifier: str,
    next_url: str,
    now: datetime | None = None,
    lifetime: timedelta = LIFETIME,
    max_total: int = MAX_TOTAL,
) -> None:
    """Store one pending authorization (raises TooManyPending when the table is full)."""
    moment = now or utcnow()
    connection.execute(delete(table).where(table.c.expires_at <= moment))
    browser_hash = digest(browser)
    # The browser's oldest beyond MAX_PER_BROWSER - 1 make room for this one.
    kept = (
        select(table.c.state_hash)
        .where(table.c.browser_hash == browser_hash)
        .order_by(table.c.created_at.desc())
        .limit(MAX_PER_BROWSER - 1)
    )
    connection.execute(
        delete(table).where(
            table.c.browser_hash == browser_hash,
            table.c.state_hash.not_in(kept.scalar_subquery()),
        )
    )
    live = connection.execute(select(func.count()).select_from(table)).scalar_one()
    if live >= max_total:
        raise TooManyPending(f"{live} sign-ins are pending")
    connection.execute(
        table.insert().values(
            state_hash=digest(state),
            browser_hash=browser_hash,
            purpose=purpose,
            nonce=nonce,
            code_verifier=code_verifier,
            next_url=next_url,
            created_at=moment,
            expires_at=moment + lifetime,
        )
    )


def consume(connection: Connection, *, state: str) -> Pending | None:
    """Take the pending authorization of `state` out of the table: the first caller gets it,
    any later one (a replay, a second process racing) None. Expired rows are returned too, so
    the caller can tell an expired sign-in from an unknown one."""
    key = digest(state)
    row = connection.execute(select(table).where(table.c.state_hash == key)).first()
    if row is None:
        return None
    if not connection.execute(delete(table).where(table.c.state_hash == key)).rowcount:
        return None  # another process consumed it between the read and the delete
    return Pending(
        browser_hash=row.browser_hash,
        purpose=row.purpose,
        nonce=row.nonce,
        code_verifier=row.code_verifier,
        next_url=row.next_url,
        expires_at=as_utc(row.expires_at),
    )


def purge_expired(connection: Connection, *, now: datetime | None = None) -> int:
    result = connection.execute(delete(table).where(table.c.expires_at <= (now or utcnow())))
    return int(result.rowcount)
