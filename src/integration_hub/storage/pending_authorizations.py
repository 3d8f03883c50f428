"""Authorizations in flight: a sign-in (or an OAuth connection) between the redirect to the
provider and its redirect back.

The row holds what the callback needs and the browser must not: the nonce, the PKCE
`code_verifier` and where to go next. It is keyed by the SHA-256 of `state` and bound to the
browser by the SHA-256 of its short-lived cookie, so neither a copy of the table nor a leaked
callback URL completes a sign-in. `consume` deletes the row in the transaction that reads it:
a replayed callback finds nothing. The table is bounded without letting one client starve the
others: expired rows are purged on every `create`, one browser keeps its `MAX_PER_BROWSER`
newest, one client address (the caller's key: an IPv6 address's /64) its `MAX_PER_CLIENT`
newest, and at `MAX_TOTAL` live rows the heaviest client's oldest make room. `TooManyPending`
is left for a table that is full all the same (a `max_total` below what one create needs).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, delete, func, select

from integration_hub.storage.rows import as_utc, utcnow
from integration_hub.storage.tables import pending_authorizations as table

LIFETIME = timedelta(minutes=10)
MAX_PER_BROWSER = 5
MAX_PER_CLIENT = 20
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
    client: str,
    now: datetime | None = None,
    lifetime: timedelta = LIFETIME,
    max_per_client: int = MAX_PER_CLIENT,
    max_total: int = MAX_TOTAL,
) -> None:
    """Store one pending authorization for `client` (its address), making room as the module
    says; raises TooManyPending only when no room can be made."""
    moment = now or utcnow()
    connection.execute(delete(table).where(table.c.expires_at <= moment))
    browser_hash, client_hash = digest(browser), digest(client)
    # The browser's and the client's oldest beyond their caps make room for this one.
    _keep_newest(connection, table.c.browser_hash == browser_hash, MAX_PER_BROWSER - 1)
    _keep_newest(connection, table.c.client_hash == client_hash, max_per_client - 1)
    live = connection.execute(select(func.count()).select_from(table)).scalar_one()
    if live >= max_total:
        # Full: the client holding the most rows gives up its oldest, not everyone else.
        heaviest = connection.execute(
            select(table.c.client_hash)
            .group_by(table.c.client_hash)
            .order_by(func.count().desc())
            .limit(1)
        ).scalar_one_or_none()
        if heaviest is not None:
            oldest = (
                select(table.c.state_hash)
                .where(table.c.client_hash == heaviest)
                .order_by(table.c.created_at)
                .limit(live - max_total + 1)
            )
            connection.execute(
                delete(table).where(table.c.state_hash.in_(oldest.scalar_subquery()))
            )
        live = connection.execute(select(func.count()).select_from(table)).scalar_one()
        if live >= max_total:
            raise TooManyPending(f"{live} sign-ins are pending")
    connection.execute(
        table.insert().values(
            state_hash=digest(state),
            browser_hash=browser_hash,
            client_hash=client_hash,
            purpose=purpose,
            nonce=nonce,
            code_verifier=code_verifier,
            next_url=next_url,
            created_at=moment,
            expires_at=moment + lifetime,
        )
    )


def _keep_newest(connection: Connection, owner: ColumnElement[bool], keep: int) -> None:
    """Delete the rows of `owner` beyond its `keep` newest."""
    kept = select(table.c.state_hash).where(owner).order_by(table.c.created_at.desc()).limit(keep)
    connection.execute(
        delete(table).where(owner, table.c.state_hash.not_in(kept.scalar_subquery()))
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
