"""Sources polled per connection (`PollSource.per_connection`, a PMS): one schedule per
connection of the partner, read from pms_connections at worker start and none for the default
instance; a run fetches with the connection as its instance and stores its events apart."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from integration_hub.cli.app import app
from integration_hub.connectors.base import PartnerEvent
from integration_hub.connectors.partner import Partner, PollContext, PollPage, PollSource
from integration_hub.orchestration.calls import ensure_schedules
from integration_hub.orchestration.polls import (
    PollInput,
    PollResult,
    connection_schedule_id,
    ensure_poll_schedules,
    run_poll,
    schedule_id,
)
from integration_hub.settings import Settings
from integration_hub.storage import managers
from integration_hub.storage.engine import begin_write
from integration_hub.storage.tables import pms_connections, raw_events
from tests.orchestration.poll_partner import GuestConnector
from tests.orchestration.test_polls import poll_worker

NAME = "pollguests"  # GuestConnector's name: it normalizes what the fetch returns
SOURCE = "bookings"


def per_connection_partner(asked: list[str]) -> Partner:
    def fetch(context: PollContext, cursor: str | None) -> PollPage:
        asked.append(context.instance)
        item = {"id": f"{context.instance}:b1", "type": "guest.opted_in", "phone": "+13055550001"}
        event = PartnerEvent(str(item["id"]), "guest.opted_in", json.dumps(item).encode())
        return PollPage([event], cursor="done")

    return Partner(
        name=NAME,
        priority="P2",
        summary="bookings per connection (tests)",
        webhook=lambda _: GuestConnector(),
        polls=(PollSource(SOURCE, every=timedelta(minutes=5), fetch=fetch, per_connection=True),),
    )


async def _exists(client: Client, sid: str) -> bool:
    ids = [s.id async for s in await client.list_schedules()]
    return sid in ids


def _add(engine: Engine, *connections: str) -> None:
    with begin_write(engine) as connection:
        managers.add_manager(connection, manager_id="acme", name="Acme")
        for connection_id in connections:
            managers.add_connection(
                connection, connection_id=connection_id, partner=NAME, manager_id="acme"
            )


async def test_one_schedule_per_connection_and_none_for_the_default(
    temporal: WorkflowEnvironment, hub_settings: Settings, engine: Engine
) -> None:
    partner = per_connection_partner([])
    queue = f"polls-{uuid.uuid4().hex}"
    made = await ensure_poll_schedules(
        temporal.client, queue, [partner], [(NAME, "acme-a"), ("other", "x")]
    )
    assert made == [connection_schedule_id(NAME, SOURCE, "acme-a")]
    assert made == [f"poll.{NAME}.{SOURCE}.acme-a"]

    # At worker start: read from pms_connections (a paused connection is not polled).
    _add(engine, "acme-b", "acme-c")
    with begin_write(engine) as connection:
        connection.execute(
            pms_connections.update().where(pms_connections.c.id == "acme-c").values(status="paused")
        )
    await ensure_schedules(temporal.client, hub_settings, [partner], engine=engine)
    assert await _exists(temporal.client, connection_schedule_id(NAME, SOURCE, "acme-b"))
    assert not await _exists(temporal.client, connection_schedule_id(NAME, SOURCE, "acme-c"))
    assert not await _exists(temporal.client, schedule_id(NAME, SOURCE))
    for connection_id in ("acme-a", "acme-b"):
        await temporal.client.get_schedule_handle(
            connection_schedule_id(NAME, SOURCE, connection_id)
        ).delete()


async def test_a_run_fetches_with_the_connection_as_its_instance(
    temporal: WorkflowEnvironment, hub_settings: Settings, engine: Engine
) -> None:
    asked: list[str] = []
    partner = per_connection_partner(asked)
    async with poll_worker(temporal.client, hub_settings, engine, partner) as queue:
        result = await run_poll(temporal.client, queue, PollInput(NAME, SOURCE, "acme-a"))

    assert result == PollResult(pages=1, stored=1, duplicates=0, more=False)
    assert asked == ["acme-a"]
    with engine.connect() as connection:
        [row] = connection.execute(select(raw_events).where(raw_events.c.partner == NAME)).all()
    assert row.partner_event_id == "acme-a:b1"
    assert row.headers == {"poll-source": SOURCE, "poll-instance": "acme-a"}


def test_hub_poll_asks_for_the_connection_of_a_per_connection_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    partner = per_connection_partner([])
    monkeypatch.setattr("integration_hub.connectors.partners.PARTNERS", (partner,))

    missing = CliRunner().invoke(app, ["poll", NAME, SOURCE])
    assert missing.exit_code == 2
    assert "give --connection" in missing.output
    both = CliRunner().invoke(app, ["poll", NAME, SOURCE, "--connection", "a", "--instance", "b"])
    assert both.exit_code == 2
    bad = CliRunner().invoke(app, ["poll", NAME, SOURCE, "--connection", "Not An Id"])
    assert bad.exit_code == 2
