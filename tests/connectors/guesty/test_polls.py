"""The reconciliation poll of one connection: on the real Temporal dev server the generic poll
workflow stores each reservation of the list once and moves the cursor; a page of equal
update times still moves on (the cursor counts what it took); unset connections fetch nothing."""

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
from integration_hub.connectors.base import PartnerEvent
from integration_hub.connectors.guesty.polls import close_api, fetch_page
from integration_hub.connectors.partner import CallsContext
from integration_hub.connectors.partners import build_connectors, partner_named
from integration_hub.orchestration.polls import PollActivities, PollInput, PollWorkflow
from integration_hub.orchestration.worker import workflow_runner
from integration_hub.settings import Settings
from integration_hub.storage import poll_cursors
from integration_hub.storage.tables import raw_events
from tests.connectors.guesty.fake import CONNECTION, FakeGuesty, calls, secret_store
from tests.partner_server import PartnerServer

T1, T2, T3 = "2026-12-01T10:00:00.000Z", "2026-12-01T11:30:00.000Z", "2026-12-02T04:00:00.000Z"


@pytest.fixture
def fake() -> FakeGuesty:
    fake = FakeGuesty()
    fake.add("6650b1f2e4a0c10013d2c701", lastUpdatedAt=T1)
    fake.add("6650b1f2e4a0c10013d2c702", lastUpdatedAt=T2, status="canceled")
    fake.add("6650b1f2e4a0c10013d2c703", lastUpdatedAt=T2)
    return fake


@pytest.fixture
def server(fake: FakeGuesty) -> Iterator[PartnerServer]:
    with PartnerServer(fake) as running:
        yield running


def polled(engine: Engine) -> list[PartnerEvent]:
    with engine.connect() as connection:
        rows = connection.execute(select(raw_events).where(raw_events.c.partner == "guesty"))
        return [PartnerEvent(r.partner_event_id, r.event_type, bytes(r.body)) for r in rows]


async def test_a_poll_run_stores_each_reservation_once_and_moves_the_cursor(
    temporal: WorkflowEnvironment,
    hub_settings: Settings,
    engine: Engine,
    tmp_path: Path,
    server: PartnerServer,
    fake: FakeGuesty,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUB_GUESTY_API_BASE_URL", server.url)
    context = CallsContext(hub_settings, secret_store(tmp_path / "secrets"), engine)
    activities = PollActivities(context, [partner_named("guesty")])
    queue = f"guesty-polls-{uuid.uuid4().hex}"
    run = PollInput("guesty", "reservations", instance=CONNECTION)
    with ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(temporal.client, task_queue=queue, workflows=[PollWorkflow],
                          activities=activities.activities(), activity_executor=executor,
                          workflow_runner=workflow_runner()):  # fmt: skip
            first = await temporal.client.execute_workflow(
                PollWorkflow.run, run, id=f"poll-{uuid.uuid4()}", task_queue=queue
            )
            fake.add("6650b1f2e4a0c10013d2c701", lastUpdatedAt=T3, status="checked_in")
            second = await temporal.client.execute_workflow(
                PollWorkflow.run, run, id=f"poll-{uuid.uuid4()}", task_queue=queue
            )
    close_api(context)

    assert (first.stored, second.stored) == (3, 1)
    with engine.connect() as connection:
        cursor = poll_cursors.get_cursor(
            connection, partner="guesty", source="reservations", instance=CONNECTION
        )
    assert cursor == f"{T3}|1"
    lists = [r for r in server.requests if r.path == "/v1/reservations"]
    assert "filters" not in lists[0].query  # the first run takes everything
    assert lists[-1].query["filters"] == [
        f'[{{"field":"lastUpdatedAt","operator":"$gte","value":"{T2}"}}]'
    ]
    assert lists[-1].query["skip"] == ["2"] and lists[-1].query["sort"] == ["lastUpdatedAt"]
    events = polled(engine)
    assert {e.event_type for e in events} == {"reservation.polled"}
    assert all(pms.connection_of(e.partner_event_id) == CONNECTION for e in events)
    guesty = build_connectors()["guesty"]
    statuses = sorted(guesty.normalize(e)[0].data["status"] for e in events)
    assert statuses == ["cancelled", "checked_in", "confirmed", "confirmed"]


def test_a_full_page_of_equal_times_moves_on_by_count(
    hub_settings: Settings, engine: Engine, tmp_path: Path, server: PartnerServer
) -> None:
    api = calls(hub_settings, secret_store(tmp_path / "secrets"), server.url, engine).api
    first = fetch_page(api, CONNECTION, None, 2)
    second = fetch_page(api, CONNECTION, first.cursor, 2)
    third = fetch_page(api, CONNECTION, second.cursor, 2)

    assert (first.cursor, first.more) == (f"{T2}|1", True)
    assert (second.cursor, len(second.events), second.more) == (f"{T2}|2", 1, False)
    assert (third.events, third.cursor) == ([], None)  # nothing new: the cursor stays
    bare = calls(hub_settings, secret_store(tmp_path / "bare", environ={}), server.url, engine)
    assert fetch_page(bare.api, CONNECTION, None, 2).events == []
    assert fetch_page(api, "", None, 2).events == []  # a run for no connection
    api.close()
    bare.close()
