"""The feed's poll source run by the generic poll workflow on the real Temporal dev server,
for one connection (PollInput.instance): the calendar lands in raw_events once, the cursor
moves, a second run (304) stores nothing, and the normalizer makes a valid calendar event."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine, select
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from integration_hub import events
from integration_hub.connectors.ical import FEED_URL, PARTNER, POLL_SOURCE
from integration_hub.connectors.ical.poll import Cursor
from integration_hub.connectors.ical.webhook import IcalConnector
from integration_hub.connectors.partner import CallsContext
from integration_hub.orchestration.polls import (
    PollActivities,
    PollInput,
    PollResult,
    PollWorkflow,
    run_poll,
)
from integration_hub.orchestration.worker import workflow_runner
from integration_hub.pipeline.normalizer import Normalizer
from integration_hub.secrets import EnvSecretSource
from integration_hub.settings import Settings
from integration_hub.storage import poll_cursors
from integration_hub.storage.tables import internal_events, raw_events
from tests.connectors.ical.conftest import CONNECTION, TOKEN, add_connection, feed_url
from tests.partner_server import PartnerServer


async def test_a_poll_run_per_connection_stores_the_calendar_and_moves_the_cursor(
    temporal: WorkflowEnvironment, hub_settings: Settings, engine: Engine, server: PartnerServer
) -> None:
    add_connection(engine)
    settings = hub_settings  # HUB_ICAL_* from conftest: loopback allowed, every tick fetches
    secrets = EnvSecretSource(environ={FEED_URL.for_instance(CONNECTION): feed_url(server)})
    activities = PollActivities(CallsContext(settings, secrets, engine), [PARTNER])
    queue = f"ical-{uuid.uuid4().hex}"
    poll = PollInput(PARTNER.name, POLL_SOURCE, CONNECTION)
    with ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(
            temporal.client,
            task_queue=queue,
            workflows=[PollWorkflow],
            activities=activities.activities(),
            activity_executor=executor,
            workflow_runner=workflow_runner(),
        ):
            first = await run_poll(temporal.client, queue, poll)
            # The second run asks with the first one's ETag: a 304 stores nothing.
            second = await run_poll(temporal.client, queue, poll)

    assert first == PollResult(pages=1, stored=1, duplicates=0, more=False)
    assert second == PollResult(pages=1, stored=0, duplicates=0, more=False)
    assert server.requests[-1].headers["if-none-match"] == '"v1"'
    with engine.connect() as connection:
        [state] = poll_cursors.states(connection, partner="ical")
        [(event_id, body)] = connection.execute(
            select(raw_events.c.partner_event_id, raw_events.c.body)
        ).all()
    assert state.instance == CONNECTION and state.last_error is None
    assert Cursor.load(state.cursor).n == 1 and event_id.startswith(f"{CONNECTION}:1:")
    assert TOKEN.encode() not in body

    normalizer = Normalizer(engine, {"ical": IcalConnector()}, lambda _: [], batch_size=10)
    assert normalizer.drain_batch() == 1
    with engine.connect() as connection:
        [(kind, envelope)] = connection.execute(
            select(internal_events.c.type, internal_events.c.envelope)
        ).all()
    data = envelope["data"]
    events.validate_event(envelope)
    assert kind == "pms.calendar_observed"
    assert (data["connection"], data["source_listing_id"]) == (CONNECTION, CONNECTION)
    assert [(e["check_in"], e["is_block"]) for e in data["entries"]] == [
        ("2026-12-04", False),
        ("2026-12-10", True),
        ("2026-12-18", False),
    ]
