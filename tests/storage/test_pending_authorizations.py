"""Pending sign-ins in the database: hashes only, consumed exactly once, bounded per browser and
in total, expired rows purged."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from integration_hub.storage import pending_authorizations as pending
from integration_hub.storage.engine import begin_write
from integration_hub.storage.rows import utcnow
from integration_hub.storage.tables import pending_authorizations


def _create(engine: Engine, state: str, browser: str = "browser-a", **options: Any) -> None:
    with begin_write(engine) as connection:
        pending.create(
            connection, state=state, browser=browser, purpose="signin", nonce="n" * 43,
            code_verifier="v" * 43, next_url="/status", **options,
        )  # fmt: skip


def _states(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(select(pending_authorizations.c.state_hash)).scalars())


def test_a_pending_sign_in_is_consumed_once(engine: Engine) -> None:
    _create(engine, "state-1")
    assert _states(engine) == {pending.digest("state-1")}  # the state itself is not stored
    with begin_write(engine) as connection:
        first = pending.consume(connection, state="state-1")
        again = pending.consume(connection, state="state-1")
        unknown = pending.consume(connection, state="state-2")
    assert first is not None and first.browser_matches("browser-a")
    assert not first.browser_matches("browser-b") and not first.browser_matches("")
    assert (first.nonce, first.code_verifier, first.next_url) == ("n" * 43, "v" * 43, "/status")
    assert again is None and unknown is None and _states(engine) == set()


def test_one_browser_keeps_its_newest_five(engine: Engine) -> None:
    start = utcnow()
    for i in range(7):
        _create(engine, f"state-{i}", now=start + timedelta(seconds=i))
    _create(engine, "other", browser="browser-b", now=start + timedelta(seconds=8))
    # Each new one leaves the browser's four newest: after seven, states 2 to 6 are left; the
    # other browser's is untouched.
    kept = {pending.digest(f"state-{i}") for i in range(2, 7)} | {pending.digest("other")}
    assert _states(engine) == kept


def test_the_table_is_bounded_and_expired_rows_go(engine: Engine) -> None:
    start = utcnow()
    for i in range(3):
        _create(engine, f"state-{i}", browser=f"browser-{i}", now=start, max_total=3)
    with pytest.raises(pending.TooManyPending):
        _create(engine, "one-too-many", browser="browser-x", now=start, max_total=3)
    # Ten minutes on, the three have expired: purged by the next create, which fits again.
    _create(engine, "later", browser="browser-x", now=start + pending.LIFETIME, max_total=3)
    assert _states(engine) == {pending.digest("later")}
    with begin_write(engine) as connection:
        assert pending.purge_expired(connection, now=start + 2 * pending.LIFETIME) == 1
    with engine.connect() as connection:
        assert (
            connection.execute(
                select(func.count()).select_from(pending_authorizations)
            ).scalar_one()
            == 0
        )
