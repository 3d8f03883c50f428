"""`guesty.fetch_reservation` on the real Temporal dev server: the core starts it by its agreed
name (pms.fetch_workflow) and the reservation it stores normalizes into a complete
observation; a connection without credentials ends at once."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import Engine, select
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from integration_hub.connectors import pms
from integration_hub.connectors.base import PartnerEvent
from integration_hub.connectors.partners import build_connectors, partner_named
from integration_hub.orchestration.worker import workflow_runner
from integration_hub.settings import Settings
from integration_hub.storage.tables import raw_events
from tests.connectors.guesty.fake import CONNECTION, RESERVATION_ID, FakeGuesty, calls, secret_store
from tests.partner_server import PartnerServer


async def test_the_fetch_workflow_stores_a_reservation_the_connector_completes(
    temporal: WorkflowEnvironment, hub_settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    fake = FakeGuesty()
    fake.add(status="reserved", source="homeaway2")
    guesty = partner_named("guesty")
    assert guesty.workflows is not None
    queue = f"guesty-{uuid.uuid4().hex}"
    with PartnerServer(fake) as server, ThreadPoolExecutor(max_workers=2) as executor:
        activities = calls(hub_settings, secret_store(tmp_path / "secrets"), server.url, engine)
        async with Worker(
            temporal.client,
            task_queue=queue,
            workflows=list(guesty.workflows()),
            activities=activities.activities(),
            activity_executor=executor,
            workflow_runner=workflow_runner(),
        ):
            outcomes = []
            for request in (pms.FetchReservation(CONNECTION, RESERVATION_ID),
                            pms.FetchReservation("brickell-rentals", RESERVATION_ID)):  # fmt: skip
                outcomes.append(
                    await temporal.client.execute_workflow(
                        pms.fetch_workflow("guesty"),
                        request,
                        id=pms.fetch_workflow_id("guesty", request),
                        task_queue=queue,
                        result_type=pms.FetchOutcome,
                    )
                )
        activities.close()

    assert outcomes == [pms.FetchOutcome("stored"), pms.FetchOutcome("no_credentials")]
    with engine.connect() as connection:
        [row] = connection.execute(select(raw_events).where(raw_events.c.partner == "guesty"))
    assert row.headers == {"fetched": "1"}
    [draft] = build_connectors()["guesty"].normalize(
        PartnerEvent(row.partner_event_id, row.event_type, bytes(row.body))
    )
    assert draft.type == pms.RESERVATION_OBSERVED
    assert draft.data["complete"] is True
    assert (draft.data["status"], draft.data["channel"]) == ("pending", "vrbo")
    assert draft.data["guest"]["name"] == "Lucía Fernández"
