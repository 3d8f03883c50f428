"""Hospitable's workflows on the session's real Temporal dev server: `hospitable.fetch_reservation`
stores a fetched reservation (and answers no_credentials for a connection without a token), and
the properties poll of one connection stores its pages and moves that connection's cursor."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from integration_hub.connectors import pms
from integration_hub.connectors.hospitable import PARTNER, samples
from integration_hub.connectors.hospitable.api import close_apis
from integration_hub.connectors.hospitable.calls import HospitableCalls
from integration_hub.connectors.hospitable.settings import HospitableSettings
from integration_hub.connectors.partner import CallsContext
from integration_hub.orchestration.polls import PollActivities, PollInput, PollWorkflow, run_poll
from integration_hub.orchestration.worker import workflow_runner
from integration_hub.secrets import EnvSecretSource
from integration_hub.storage import poll_cursors
from integration_hub.storage.tables import raw_events
from tests.helpers import make_settings
from tests.partner_server import PartnerServer, Reply

CONNECTION = "wynwood-lofts"
SECRETS = EnvSecretSource(
    environ={"HOSPITABLE_ACCESS_TOKEN__WYNWOOD-LOFTS": "hsp_pat_wynwood_0001"}
)


@pytest.fixture
def server() -> Iterator[PartnerServer]:
    with PartnerServer() as running:
        yield running


async def test_the_fetch_workflow_and_the_properties_poll_store_what_they_fetch(
    temporal: WorkflowEnvironment,
    temporal_address: str,
    tmp_path: Path,
    database_url: str,
    engine: Engine,
    server: PartnerServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUB_HOSPITABLE_API_BASE_URL", f"{server.url}/v2")
    settings = make_settings(tmp_path, database_url, temporal_address)
    reservation = samples.reservation_data()
    properties = {"data": [samples.property_data("p1"), samples.property_data("p2")],
                  "meta": {"current_page": 1, "last_page": 1, "total": 2}}  # fmt: skip
    server.reply(Reply(200, {"data": reservation}), Reply(200, properties))
    calls = HospitableCalls(settings, SECRETS, engine, HospitableSettings())
    polls = PollActivities(CallsContext(settings, SECRETS, engine), [PARTNER])
    queue = f"hospitable-{uuid.uuid4().hex}"
    client = temporal.client
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[*PARTNER.workflows(), PollWorkflow],  # type: ignore[misc]
            activities=[*calls.activities(), *polls.activities()],
            activity_executor=executor,
            workflow_runner=workflow_runner(),
        ):
            fetched, no_token = [
                await client.execute_workflow(
                    pms.fetch_workflow("hospitable"),
                    request,
                    id=pms.fetch_workflow_id("hospitable", request),
                    task_queue=queue,
                    result_type=pms.FetchOutcome,
                )
                for request in (
                    pms.FetchReservation(CONNECTION, reservation["id"]),
                    pms.FetchReservation("no-token-yet", reservation["id"]),
                )
            ]
            polled = await run_poll(
                client, queue, PollInput("hospitable", "properties", instance=CONNECTION)
            )
    calls.close()
    close_apis()

    assert (fetched, no_token) == (pms.FetchOutcome("stored"), pms.FetchOutcome("no_credentials"))
    assert (polled.pages, polled.stored, polled.more) == (1, 2, False)
    assert [r.path for r in server.requests] == [
        f"/v2/reservations/{reservation['id']}",
        "/v2/properties",
    ]
    with engine.connect() as connection:
        types = connection.execute(
            select(raw_events.c.event_type).order_by(raw_events.c.id)
        ).scalars().all()  # fmt: skip
        [state] = poll_cursors.states(connection, partner="hospitable")
    assert types == ["reservation.fetched", "property.polled", "property.polled"]
    assert (state.instance, state.last_error) == (CONNECTION, None)
    assert state.cursor is not None and state.cursor.endswith(":1")  # a new pass, page 1
