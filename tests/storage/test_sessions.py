"""Panel sessions in the database: only the id's hash is kept, and the daily purge deletes
what has expired, revoked or not, and nothing else."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import select

from integration_hub.storage import migrate, sessions
from integration_hub.storage.engine import begin_write, make_engine
from integration_hub.storage.rows import utcnow
from integration_hub.storage.tables import admin_sessions


def test_sessions_are_found_by_id_revoked_and_purged(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    now = utcnow()
    with begin_write(engine) as connection:

        def start(subject: str, lifetime: timedelta) -> str:
            return sessions.create(
                connection, subject=subject, provider="clerk", role="admin",
                credential="oidc:x", lifetime=lifetime, now=now,
            )  # fmt: skip

        live = start("user_live", timedelta(hours=12))
        logged_out = start("user_out", timedelta(hours=12))
        expired = start("user_old", timedelta(seconds=-1))
        assert sessions.revoke(connection, session_id=logged_out, reason="logout")
        assert not sessions.revoke(connection, session_id=logged_out, reason="logout")
        purged = sessions.purge_expired(connection, now=now)
    with engine.connect() as connection:
        kept = {row.subject: row for row in connection.execute(select(admin_sessions))}
        found = sessions.find(connection, session_id=live)
        gone = sessions.find(connection, session_id=expired)
        unknown = sessions.find(connection, session_id="not-a-session")
    engine.dispose()
    assert purged == 1 and set(kept) == {"user_live", "user_out"}
    assert kept["user_live"].id_hash == hashlib.sha256(live.encode()).hexdigest()
    assert found is not None and found.refusal(now=now, idle_timeout=timedelta(minutes=30)) is None
    assert found.refusal(now=now + timedelta(minutes=31), idle_timeout=timedelta(minutes=30)) == (
        "session_idle"
    )
    assert found.refusal(now=now + timedelta(hours=13), idle_timeout=timedelta(days=1)) == (
        "session_expired"
    )
    assert gone is None and unknown is None
    assert kept["user_out"].revoked_reason == "logout"
