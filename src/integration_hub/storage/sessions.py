"""Status panel sessions, stored in the database so every hub process honours them.

The browser holds a random session id (256 bits); the table holds only its SHA-256, so a copy
of the database signs no one in. A session ends at its absolute expiry, after an idle timeout,
at logout, when its user's role changes (the identity handler calls `revoke_subject`), or when
the credential kind it was made from changes (`credential`: a fingerprint of HUB_ADMIN_TOKEN or
of the OIDC issuer and audience, compared on every use). Expired rows are deleted daily by the
retention schedule (orchestration/retention.py).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select, update

from integration_hub.storage.rows import as_utc, utcnow
from integration_hub.storage.tables import admin_sessions

SESSION_ID_BYTES = 32
# last_seen_at is written at most this often per session: the idle timeout needs no finer
# grain, and a write per page view would queue every panel read behind SQLite's one writer.
TOUCH_INTERVAL = timedelta(seconds=60)


def id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredSession:
    subject: str
    provider: str
    role: str | None
    credential: str
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime
    revoked_at: datetime | None

    def refusal(self, *, now: datetime, idle_timeout: timedelta) -> str | None:
        """Why this session no longer signs anyone in, or None while it does."""
        if self.revoked_at is not None:
            return "session_revoked"
        if now >= self.expires_at:
            return "session_expired"
        if now >= self.last_seen_at + idle_timeout:
            return "session_idle"
        return None

    def needs_touch(self, now: datetime) -> bool:
        return now - self.last_seen_at >= TOUCH_INTERVAL


def create(
    connection: Connection,
    *,
    subject: str,
    provider: str,
    role: str | None,
    credential: str,
    lifetime: timedelta,
    now: datetime | None = None,
) -> str:
    """Store a new session; returns its id (for the cookie only: it is not stored)."""
    session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
    moment = now or utcnow()
    connection.execute(
        admin_sessions.insert().values(
            id_hash=id_hash(session_id),
            subject=subject,
            provider=provider,
            role=role,
            credential=credential,
            created_at=moment,
            expires_at=moment + lifetime,
            last_seen_at=moment,
        )
    )
    return session_id


def find(connection: Connection, *, session_id: str) -> StoredSession | None:
    row = connection.execute(
        select(admin_sessions).where(admin_sessions.c.id_hash == id_hash(session_id))
    ).first()
    if row is None:
        return None
    return StoredSession(
        subject=row.subject,
        provider=row.provider,
        role=row.role,
        credential=row.credential,
        created_at=as_utc(row.created_at),
        expires_at=as_utc(row.expires_at),
        last_seen_at=as_utc(row.last_seen_at),
        revoked_at=as_utc(row.revoked_at) if row.revoked_at is not None else None,
    )


def touch(connection: Connection, *, session_id: str, now: datetime | None = None) -> None:
    connection.execute(
        update(admin_sessions)
        .where(admin_sessions.c.id_hash == id_hash(session_id))
        .values(last_seen_at=now or utcnow())
    )


def revoke(connection: Connection, *, session_id: str, reason: str) -> bool:
    """End one session (logout); False when there was no live one."""
    result = connection.execute(
        update(admin_sessions)
        .where(
            admin_sessions.c.id_hash == id_hash(session_id), admin_sessions.c.revoked_at.is_(None)
        )
        .values(revoked_at=utcnow(), revoked_reason=reason[:32])
    )
    return bool(result.rowcount)


def revoke_subject(connection: Connection, *, provider: str, subject: str, reason: str) -> int:
    """End every live session of one user of one provider (their role changed); returns how
    many."""
    result = connection.execute(
        update(admin_sessions)
        .where(
            admin_sessions.c.provider == provider,
            admin_sessions.c.subject == subject,
            admin_sessions.c.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow(), revoked_reason=reason[:32])
    )
    return int(result.rowcount)


def purge_expired(connection: Connection, *, now: datetime | None = None) -> int:
    """Delete sessions past their absolute expiry (revoked or idle ones included: they expire
    too); returns how many."""
    result = connection.execute(
        delete(admin_sessions).where(admin_sessions.c.expires_at < (now or utcnow()))
    )
    return int(result.rowcount)
