"""The poll activity called directly (its Temporal side is in test_polls.py): what it refuses
before storing anything, what it keeps dead-lettered, and a cursor moved by another run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.base import PartnerEvent
from integration_hub.connectors.partner import (
    CallsContext,
    Partner,
    PollContext,
    PollPage,
    PollSource,
)
from integration_hub.orchestration.polls import CURSOR_MOVED, PageInput, PollActivities
from integration_hub.secrets import EnvSecretSource
from integration_hub.settings import Settings
from integration_hub.storage import poll_cursors
from integration_hub.storage.engine import begin_write
from integration_hub.storage.tables import MAX_CURSOR_LENGTH, RawStatus, raw_events

NAME, SOURCE = "pollfeed", "feed"
FIRST = PageInput(NAME, SOURCE, "", page=0)
Fetch = Callable[[PollContext, str | None], PollPage]


def activities(settings: Settings, engine: Engine, fetch: Fetch) -> PollActivities:
    source = PollSource(SOURCE, every=timedelta(hours=1), fetch=fetch, max_events_per_page=2)
    partner = Partner(name=NAME, priority="P3", summary="a feed (tests)", polls=(source,))
    context = CallsContext(settings=settings, secrets=EnvSecretSource(environ={}), engine=engine)
    return PollActivities(context, [partner])


def event(number: int, *, body: bytes = b"{}") -> PartnerEvent:
    return PartnerEvent(f"item_{number}", "item.created", body)


def rows(engine: Engine) -> list[tuple[str, str, str | None]]:
    with engine.connect() as connection:
        query = select(raw_events.c.partner_event_id, raw_events.c.status, raw_events.c.last_error)
        return [tuple(row) for row in connection.execute(query.order_by(raw_events.c.id))]


def stored_state(engine: Engine) -> poll_cursors.PollState | None:
    with engine.connect() as connection:
        found = poll_cursors.states(connection, partner=NAME)
    return found[0] if found else None


def refusal(settings: Settings, engine: Engine, page: PollPage) -> ApplicationError:
    with pytest.raises(ApplicationError) as raised:
        activities(settings, engine, lambda _, __: page).poll_page(FIRST)
    assert raised.value.non_retryable
    assert rows(engine) == []  # nothing of a refused page is stored
    state = stored_state(engine)
    assert state is not None and state.cursor is None and state.last_success_at is None
    assert state.last_error == raised.value.message
    return raised.value


def test_a_page_over_the_sources_bound_is_refused(hub_settings: Settings, engine: Engine) -> None:
    page = PollPage([event(1), event(2), event(3)], cursor="c1")
    assert refusal(hub_settings, engine, page).type == "poll_page_too_large"


def test_a_cursor_too_long_to_store_is_refused(hub_settings: Settings, engine: Engine) -> None:
    page = PollPage([event(1)], cursor="c" * (MAX_CURSOR_LENGTH + 1))
    assert refusal(hub_settings, engine, page).type == "poll_cursor_too_long"


def test_an_event_over_the_body_limit_is_dead_lettered_alone_and_the_cursor_moves(
    hub_settings: Settings, engine: Engine
) -> None:
    settings = hub_settings.model_copy(update={"max_body_bytes": 16})
    page = PollPage([event(1, body=b"x" * 17), event(2, body=b"{}")], cursor="c1")
    poller = activities(settings, engine, lambda _, __: page)

    result = poller.poll_page(FIRST)

    assert (result.stored, result.duplicates) == (2, 0)
    [big, good] = sorted(rows(engine), key=lambda row: row[0] == "item_2")
    assert big[0].startswith("malformed:") and big[1] == RawStatus.FAILED.value
    assert "exceeds HUB_MAX_BODY_BYTES" in big[2]
    assert good == ("item_2", RawStatus.RECEIVED.value, None)
    with engine.connect() as connection:  # the oversized bytes are not kept
        assert (
            connection.execute(
                select(raw_events.c.body).where(raw_events.c.partner_event_id == big[0])
            ).scalar_one()
            == b""
        )


def test_an_id_that_does_not_fit_is_kept_dead_lettered_and_the_cursor_moves(
    hub_settings: Settings, engine: Engine
) -> None:
    long_id = PartnerEvent("x" * 300, "item.created", b'{"n": 1}')
    page = PollPage([event(1), long_id], cursor="c1")
    result = activities(hub_settings, engine, lambda _, __: page).poll_page(FIRST)

    assert (result.stored, result.duplicates) == (2, 0)
    [good, bad] = rows(engine)
    assert good == ("item_1", RawStatus.RECEIVED.value, None)
    assert bad[0].startswith("malformed:") and bad[1] == RawStatus.FAILED.value
    state = stored_state(engine)
    assert state is not None and state.cursor == "c1"


def test_a_cursor_moved_by_another_run_during_the_fetch_stores_nothing(
    hub_settings: Settings, engine: Engine
) -> None:
    def racing(context: PollContext, cursor: str | None) -> PollPage:
        # Another run of the same source stores its page while this one fetches.
        with begin_write(context.calls.engine) as connection:
            poll_cursors.advance(
                connection, partner=NAME, source=SOURCE, expected=cursor, cursor="theirs"
            )
        return PollPage([event(1)], cursor="mine")

    with pytest.raises(ApplicationError) as raised:
        activities(hub_settings, engine, racing).poll_page(FIRST)

    assert raised.value.type == CURSOR_MOVED and not raised.value.non_retryable
    assert rows(engine) == []
    state = stored_state(engine)
    assert state is not None and (state.cursor, state.last_error) == ("theirs", None)


def test_an_undeclared_source_is_refused(hub_settings: Settings, engine: Engine) -> None:
    polls = activities(hub_settings, engine, lambda _, __: PollPage([], cursor=None))
    with pytest.raises(ApplicationError) as raised:
        polls.poll_page(PageInput(NAME, "other", "", page=0))
    assert raised.value.type == "unknown_poll_source" and raised.value.non_retryable
    assert stored_state(engine) is None
