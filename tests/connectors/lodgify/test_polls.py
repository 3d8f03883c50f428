"""Lodgify's polls against a local stand-in for its API: the exact requests (path, query,
X-ApiKey), paging by count then asking from the newest change, 429 with Retry-After (the
connection paused for every caller), a refused or missing key, the properties' pages; and a
connection's bookings poll through the real Temporal dev server, stored, its cursor moved, and
normalized. Real SQLite (PostgreSQL when configured)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from integration_hub.connectors import pms
from integration_hub.connectors.lodgify import BOOKINGS_SOURCE, NAME, PARTNER, samples
from integration_hub.connectors.lodgify.polls import next_since, poll_bookings, poll_properties
from integration_hub.connectors.lodgify.webhook import LodgifyConnector
from integration_hub.connectors.partner import CallsContext, PollContext
from integration_hub.errors import CallRefused
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
from integration_hub.storage.tables import internal_events
from tests.partner_server import PartnerServer, Reply

CONNECTION = "grove-stays"
API_KEY = "lgf_7Hq2Zp9Wm4Kx1Rt8Vb3Nc6Yd"
OTHER = "palm-stays"  # another connection: its calls are not under grove-stays' pause
SECRETS = EnvSecretSource(
    environ={"LODGIFY_API_KEY__GROVE-STAYS": API_KEY, "LODGIFY_API_KEY__PALM-STAYS": API_KEY}
)


@pytest.fixture
def server() -> Iterator[PartnerServer]:
    with PartnerServer(Reply(200, {"count": 0, "items": []})) as running:
        yield running


@pytest.fixture
def settings(tmp_path: Path, server: PartnerServer, monkeypatch: pytest.MonkeyPatch) -> Settings:
    # A poll builds its client from HUB_LODGIFY_*, as a worker does.
    monkeypatch.setenv("HUB_LODGIFY_API_BASE_URL", server.url)
    return Settings(_env_file=None, home=tmp_path)  # type: ignore[call-arg]


def context(settings: Settings, engine: Engine, connection: str = CONNECTION) -> PollContext:
    calls = CallsContext(settings=settings, secrets=SECRETS, engine=engine)
    return PollContext(calls, instance=connection, max_events=50)


def query(since: str, page: int) -> dict[str, list[str]]:
    return {"updatedSince": [since], "page": [str(page)], "size": ["50"],
            "includeCount": ["true"], "stayFilter": ["All"]}  # fmt: skip


def test_bookings_page_by_count_then_ask_from_the_newest_change(
    settings: Settings, server: PartnerServer, engine: Engine
) -> None:
    older = samples.booking(501, updated_at="2026-12-01T08:00:00")
    newer = samples.booking(502, updated_at="2026-12-01T12:30:00")
    page_one = [samples.booking(600 + n, updated_at="2026-11-30T10:00:00") for n in range(50)]
    server.reply(
        Reply(200, {"count": 52, "items": page_one}),
        Reply(200, {"count": 52, "items": [newer, older]}),
        Reply(200, {"count": 0, "items": []}),
    )
    start = '{"since":"2026-11-01T00:00:00"}'
    one = poll_bookings(context(settings, engine), start)
    two = poll_bookings(context(settings, engine), one.cursor)
    three = poll_bookings(context(settings, engine), two.cursor)

    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/v2/reservations/bookings")
    ] * 3
    assert [r.query for r in server.requests] == [
        query("2026-11-01T00:00:00", 1),
        query("2026-11-01T00:00:00", 2),
        query("2026-12-01T12:25:00", 1),  # the newest change, 5 minutes back
    ]
    assert {r.headers["x-apikey"] for r in server.requests} == {API_KEY}
    assert (one.more, two.more, three.more) == (True, False, False)
    assert len(one.events) == 50
    assert "started" in orjson.loads(one.cursor or "")  # kept while paging
    assert two.cursor == '{"since":"2026-12-01T12:25:00"}'
    # Nothing changed since: the next query starts where this one started, minus 5 minutes.
    since = datetime.fromisoformat(orjson.loads(three.cursor or "")["since"]).replace(tzinfo=UTC)
    assert timedelta(minutes=4) < datetime.now(UTC) - since < timedelta(minutes=6)
    first = two.events[0]
    assert first.partner_event_id.startswith(f"{CONNECTION}:booking:502:")
    assert (first.event_type, orjson.loads(first.body)) == ("booking.polled", newer)


def test_changes_while_paging_and_bookings_without_update_times_are_not_lost(
    settings: Settings, server: PartnerServer, engine: Engine
) -> None:
    timeless = {k: v for k, v in samples.booking(777).items() if k != "updated_at"}
    server.reply(Reply(200, {"count": 1, "items": [timeless]}),
                 Reply(200, {"count": 1, "items": [timeless]}))  # fmt: skip
    one = poll_bookings(context(settings, engine), '{"since":"2026-11-01T00:00:00"}')
    two = poll_bookings(context(settings, engine), one.cursor)

    since = orjson.loads(one.cursor or "")["since"]
    assert server.requests[1].query["updatedSince"] == [since]
    moved = datetime.now(UTC) - datetime.fromisoformat(since).replace(tzinfo=UTC)
    assert timedelta(minutes=4) < moved < timedelta(minutes=6)
    # Same bytes under another query: stored again (a booking may have changed and back).
    assert one.events[0].partner_event_id != two.events[0].partner_event_id
    # A change seen while paging (after the query's start) does not move past that start.
    assert next_since("2026-12-02T05:00:00", "2026-12-02T04:50:00",
                      "2026-12-01T00:00:00") == "2026-12-02T04:45:00"  # fmt: skip


def test_a_first_poll_asks_a_year_back(
    settings: Settings, server: PartnerServer, engine: Engine
) -> None:
    page = poll_bookings(context(settings, engine), None)
    since = datetime.fromisoformat(server.requests[0].query["updatedSince"][0]).replace(tzinfo=UTC)
    assert timedelta(days=364) < datetime.now(UTC) - since < timedelta(days=366)
    assert (page.events, page.more) == ([], False)


def test_a_429_pauses_the_connection_and_a_refused_key_fails_for_good(
    settings: Settings, server: PartnerServer, engine: Engine
) -> None:
    server.reply(Reply(429, {"message": "Too many requests"}, headers={"Retry-After": "20"}))
    worker = context(settings, engine)  # one worker's context: its pages share the limiter
    with pytest.raises(ApplicationError) as limited:
        poll_bookings(worker, None)
    assert not limited.value.non_retryable
    assert limited.value.next_retry_delay == timedelta(seconds=20)
    with pytest.raises(ApplicationError) as paused:
        poll_bookings(PollContext(worker.calls, instance=CONNECTION), None)
    assert paused.value.type == "lodgify.rate_limited"
    assert len(server.requests) == 1

    # The pause is the connection's for every worker (in the database or Redis when shared),
    # so the refused key is another connection's.
    server.reply(Reply(401, {"message": "Unauthorized"}))
    with pytest.raises(ApplicationError) as refused:
        poll_properties(context(settings, engine, OTHER), None)
    assert refused.value.non_retryable and API_KEY not in str(refused.value)
    with pytest.raises(ApplicationError) as missing:  # no key for this connection: no call
        poll_properties(context(settings, engine, "other-stays"), None)
    assert missing.value.type == CallRefused.__name__
    assert "LODGIFY_API_KEY__OTHER-STAYS" in str(missing.value)
    assert len(server.requests) == 2


def test_properties_are_listed_page_by_page_then_from_the_first(
    settings: Settings, server: PartnerServer, engine: Engine
) -> None:
    first = [samples.property_(1000 + n) for n in range(50)]
    server.reply(Reply(200, {"count": 51, "items": first}),
                 Reply(200, {"count": 51, "items": [samples.property_(276841)]}))  # fmt: skip
    one = poll_properties(context(settings, engine), None)
    two = poll_properties(context(settings, engine), one.cursor)
    assert [r.query for r in server.requests] == [
        {"page": ["1"], "size": ["50"]},
        {"page": ["2"], "size": ["50"]},
    ]
    assert (one.more, one.cursor, two.more, two.cursor) == (True, '{"page":2}', False, "{}")
    assert two.events[0].partner_event_id.startswith(f"{CONNECTION}:property:276841:")


async def test_a_connections_poll_runs_on_temporal_and_is_normalized(
    temporal: WorkflowEnvironment,
    hub_settings: Settings,
    engine: Engine,
    server: PartnerServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUB_LODGIFY_API_BASE_URL", server.url)
    settings = hub_settings
    booking = samples.booking(8812045, updated_at="2026-12-01T12:30:00")
    server.reply(Reply(200, {"count": 1, "items": [booking]}))
    calls = CallsContext(settings=settings, secrets=SECRETS, engine=engine)
    queue = f"lodgify-{uuid.uuid4().hex}"
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            temporal.client,
            task_queue=queue,
            workflows=[PollWorkflow],
            activities=PollActivities(calls, [PARTNER]).activities(),
            activity_executor=executor,
            workflow_runner=workflow_runner(),
        ):
            request = PollInput(NAME, BOOKINGS_SOURCE, instance=CONNECTION)
            result = await run_poll(temporal.client, queue, request)
            again = await run_poll(temporal.client, queue, request)

    assert result == PollResult(pages=1, stored=1, duplicates=0, more=False)
    assert again == PollResult(pages=1, stored=0, duplicates=0, more=False)
    assert server.requests[1].query["updatedSince"] == ["2026-12-01T12:25:00"]
    with engine.connect() as connection:
        [state] = poll_cursors.states(connection, partner=NAME)
    since = datetime.fromisoformat(orjson.loads(state.cursor or "")["since"]).replace(tzinfo=UTC)
    assert state.instance == CONNECTION  # nothing new in the second run: from its start
    assert timedelta(minutes=4) < datetime.now(UTC) - since < timedelta(minutes=6)
    normalizer = Normalizer(engine, {NAME: LodgifyConnector()}, lambda _: [], batch_size=50)
    assert normalizer.drain_batch() == 1
    with engine.connect() as connection:
        [envelope] = connection.execute(select(internal_events.c.envelope)).scalars()
    assert envelope["type"] == pms.RESERVATION_OBSERVED
    assert envelope["data"]["source_reservation_id"] == "8812045"
