"""A handler is one declaration: declared here, next to the registered ones, it is handled by
a real worker from `build_worker` on a fresh task queue and writes for its event type, with no
other file touched. One generic workflow runs every handler; a handler's own refusal (a
HubError retries cannot fix), or a run of a handler the worker does not have, fails that run at
once, and only that run."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Connection, Engine, MetaData, String, Table, insert, select
from temporalio.testing import WorkflowEnvironment

from integration_hub.connectors.base import PartnerEvent
from integration_hub.connectors.partners import PARTNERS, build_connectors
from integration_hub.errors import HubError
from integration_hub.orchestration.handlers import (
    HANDLERS,
    Handler,
    HandlerContext,
    checked,
    handler_names_for,
    names_by_event_type,
    registered_handlers,
)
from integration_hub.orchestration.outcomes import HandlerOutcome
from integration_hub.orchestration.worker import build_worker
from integration_hub.pipeline.dispatch import Dispatcher
from integration_hub.pipeline.normalizer import Normalizer
from integration_hub.storage.engine import begin_write
from integration_hub.storage.raw_events import NewRawEvent, record_deliveries
from integration_hub.storage.tables import handler_runs
from integration_hub.testing import connector
from tests.helpers import make_settings, wait_until

# The extra handler's own table: in the test's metadata, created on the test's database only.
marks = Table(
    "test_handler_marks",
    MetaData(),
    Column("event_id", String(64), primary_key=True),
    Column("event_type", String(64), nullable=False),
)


def _mark(connection: Connection, event: dict[str, Any], context: HandlerContext) -> HandlerOutcome:
    connection.execute(insert(marks).values(event_id=event["id"], event_type=event["type"]))
    return f"marked {event['type']} on {context.settings.task_queue}"


def _refuse(
    connection: Connection, event: dict[str, Any], context: HandlerContext
) -> HandlerOutcome:
    connection.execute(insert(marks).values(event_id=f"refused-{event['id']}", event_type="x"))
    raise HubError("the test handler refuses every event", reason="test_refused")


def _handled_delivery() -> tuple[str, str, bytes, str]:
    """From the registry: a partner, one of its event types that normalizes to an internal
    type a registered handler takes, a sample of it, and that internal type."""
    for partner in PARTNERS:
        if partner.webhook is None:
            continue
        mapped = connector(partner.name)
        for partner_type, internal_type in sorted(mapped.manifest.event_map.items()):
            if not handler_names_for(internal_type):
                continue
            body = mapped.sample(partner_type)
            drafts = mapped.normalize(PartnerEvent("probe", partner_type, body))
            if [draft.type for draft in drafts] == [internal_type]:
                return partner.name, partner_type, body, internal_type
    raise AssertionError("no partner event type reaches a registered handler")


def _runs(engine: Engine) -> dict[str, tuple[str, str | None]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(handler_runs.c.handler, handler_runs.c.status, handler_runs.c.last_error)
        ).all()
    return {row.handler: (row.status, row.last_error) for row in rows}


async def test_a_declared_handler_is_run_for_its_event_type(
    engine: Engine,
    tmp_path: Path,
    database_url: str,
    temporal: WorkflowEnvironment,
    temporal_address: str,
) -> None:
    partner, partner_type, body, internal_type = _handled_delivery()
    marker = Handler("test.marker", frozenset({internal_type}), _mark)
    refuser = Handler("test.refuser", frozenset({internal_type}), _refuse)
    others = Handler("test.other_type", frozenset({"test.never_sent"}), _mark)
    handlers = checked([*registered_handlers(), marker, refuser, others])
    # Runs are made for this one, but the worker does not have it (a handler since removed).
    gone = Handler("test.gone", frozenset({internal_type}), _mark)
    marks.metadata.create_all(engine)

    settings = make_settings(tmp_path, database_url, temporal_address)  # a fresh task queue
    with begin_write(engine) as connection:
        delivery = NewRawEvent(partner, f"test-{uuid.uuid4()}", partner_type, _now(), {}, body)
        record_deliveries(connection, events=[delivery])
    names = names_by_event_type([*handlers, gone])
    normalizer = Normalizer(engine, build_connectors(settings), names, batch_size=10)
    assert normalizer.drain_batch() == 1
    dispatcher = Dispatcher(engine, task_queue=settings.task_queue, batch_size=10)

    async with build_worker(temporal.client, settings, engine, handlers=handlers):
        assert await dispatcher.dispatch_batch(temporal.client) == len(names(internal_type))
        runs = await wait_until(
            lambda: asyncio.to_thread(_runs, engine),
            lambda r: all(status in {"completed", "skipped", "failed"} for status, _ in r.values()),
            timeout=60,
        )

    core = handler_names_for(internal_type)
    assert set(runs) == {*core, marker.name, refuser.name, gone.name}  # not the other type's
    assert all(runs[name][0] in {"completed", "skipped"} for name in core)
    assert runs[marker.name] == ("completed", None)
    assert runs[refuser.name] == ("failed", "the test handler refuses every event")
    assert runs[gone.name] == ("failed", "no handler named 'test.gone'")
    with engine.connect() as connection:
        written = connection.execute(select(marks.c.event_type)).scalars().all()
    # The marker's write, and none of the refuser's: its transaction was rolled back.
    assert written == [internal_type]


def _now() -> datetime:
    return datetime.now(UTC)


def test_handler_declarations_are_checked() -> None:
    assert [handler.name for handler in HANDLERS] == [
        "ledger",
        "identity",
        "contacts",
        "cleaners",
        "invitations",
        "contracts",
        "email-suppression",
        "escalation",
        "support",
        "reservations",
    ]
    assert registered_handlers()[: len(HANDLERS)] == HANDLERS
    with pytest.raises(ValueError, match="two handlers are named 'ledger'"):
        checked([*HANDLERS, replace(HANDLERS[0], event_types=frozenset({"x.y"}))])
    with pytest.raises(TypeError, match="not a Handler"):
        checked([*HANDLERS, "ledger"])
    with pytest.raises(ValueError, match="must match"):
        Handler("Ledger/1", frozenset(), _mark)
    names = names_by_event_type([*HANDLERS, Handler("second", HANDLERS[0].event_types, _mark)])
    for event_type in HANDLERS[0].event_types:
        assert names(event_type) == ("ledger", "second")
        assert tuple(handler_names_for(event_type)) == ("ledger",)
    assert names("nothing.handles_this") == ()
