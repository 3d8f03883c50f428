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


def _create(
    engine: Engine, state: str, browser: str = "browser-a", client: str = "", **options: Any
) -> None:
    with begin_write(engine) as connection:
        pending.create(
            connection, state=state, browser=browser, client=client or f"client-of-{browser}",
            purpose="signin", nonce="n" * 43, code_verifier="v" * 43, next_url="/status",
            **options,
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


def test_one_client_keeps_its_newest(engine: Engine) -> None:
    # A fresh cookie per start (web/oidc_signin.py): the cap per browser does not bound one
    # address; the cap per client does.
    start = utcnow()
    for i in range(6):
        _create(engine, f"s-{i}", browser=f"b-{i}", client="203.0.113.7",
                now=start + timedelta(seconds=i), max_per_client=4)  # fmt: skip
    _create(engine, "other", browser="b-x", client="198.51.100.9", now=start, max_per_client=4)
    kept = {pending.digest(f"s-{i}") for i in range(2, 6)} | {pending.digest("other")}
    assert _states(engine) == kept


def test_a_full_table_makes_room_from_the_heaviest_client(engine: Engine) -> None:
    # One address fills the table: others still start, at the cost of its oldest rows.
    start = utcnow()
    for i in range(4):
        _create(engine, f"flood-{i}", browser=f"f-{i}", client="203.0.113.7",
                now=start + timedelta(seconds=i), max_total=5)  # fmt: skip
    _create(engine, "real-1", browser="r-1", client="198.51.100.9", now=start, max_total=5)
    for i in range(4, 8):  # the flood goes on: it evicts its own rows, never real-1
        _create(engine, f"flood-{i}", browser=f"f-{i}", client="203.0.113.7",
                now=start + timedelta(seconds=i), max_total=5)  # fmt: skip
    _create(engine, "real-2", browser="r-2", client="192.0.2.1", now=start, max_total=5)
    flood = {pending.digest(f"flood-{i}") for i in range(5, 8)}
    assert _states(engine) == flood | {pending.digest("real-1"), pending.digest("real-2")}


def test_the_table_is_bounded_and_expired_rows_go(engine: Engine) -> None:
    start = utcnow()
    with pytest.raises(pending.TooManyPending):  # no room can be made in a table of none
        _create(engine, "none-fits", now=start, max_total=0)
    for i in range(3):
        _create(engine, f"state-{i}", browser=f"browser-{i}", now=start, max_total=3)
    _create(engine, "one-more", browser="browser-x", now=start, max_total=3)
    assert len(_states(engine)) == 3 and pending.digest("one-more") in _states(engine)
    # Ten minutes on, the three have expired: purged by the next create.
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
