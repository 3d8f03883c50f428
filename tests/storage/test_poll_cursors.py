"""poll_cursors on both databases: the cursor moves only from the value a page was fetched
with; an error keeps the cursor and a success clears it; instances are kept apart."""

from __future__ import annotations

from sqlalchemy import Engine

from integration_hub.storage import poll_cursors
from integration_hub.storage.engine import begin_write

KEY = {"partner": "feedy", "source": "items"}


def advance(engine: Engine, expected: str | None, cursor: str | None, instance: str = "") -> bool:
    with begin_write(engine) as connection:
        return poll_cursors.advance(
            connection, **KEY, instance=instance, expected=expected, cursor=cursor
        )


def cursor(engine: Engine, instance: str = "") -> str | None:
    with engine.connect() as connection:
        return poll_cursors.get_cursor(connection, **KEY, instance=instance)


def test_the_cursor_moves_only_from_the_value_it_was_fetched_with(engine: Engine) -> None:
    assert cursor(engine) is None
    assert advance(engine, None, "c1")
    assert not advance(engine, None, "other")  # a second first page loses
    assert not advance(engine, "c0", "other")
    assert advance(engine, "c1", "c2")
    assert cursor(engine) == "c2"


def test_an_error_keeps_the_cursor_and_the_next_success_clears_it(engine: Engine) -> None:
    with begin_write(engine) as connection:  # before any success: the row starts here
        poll_cursors.record_error(connection, **KEY, error="503 from the partner")
    assert advance(engine, None, "c1")
    with begin_write(engine) as connection:
        poll_cursors.record_error(connection, **KEY, error="401 from the partner")
    with engine.connect() as connection:
        [failed] = poll_cursors.states(connection, partner="feedy")
    assert (failed.cursor, failed.last_error) == ("c1", "401 from the partner")
    assert failed.last_success_at is not None

    assert advance(engine, "c1", "c2")
    with engine.connect() as connection:
        [ok] = poll_cursors.states(connection, partner="feedy")
    assert (ok.cursor, ok.last_error) == ("c2", None)
    assert ok.last_success_at is not None and ok.last_success_at >= failed.last_success_at


def test_instances_of_a_source_keep_their_own_cursor(engine: Engine) -> None:
    assert advance(engine, None, "a1", instance="realm-a")
    assert advance(engine, None, "b1", instance="realm-b")
    assert (cursor(engine, "realm-a"), cursor(engine, "realm-b"), cursor(engine)) == (
        "a1",
        "b1",
        None,
    )
    with engine.connect() as connection:
        listed = poll_cursors.states(connection, partner="feedy", limit=1)
    assert [s.instance for s in listed] == ["realm-a"]  # bounded
