"""Google Maps calls out against a real local HTTP server, on a real database (and Temporal)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from integration_hub.connectors.google_maps.calls import GoogleMapsCalls
from integration_hub.connectors.google_maps.settings import MapsSettings
from integration_hub.connectors.google_maps.workflows import MAPS_WORKFLOWS
from integration_hub.orchestration.worker import workflow_runner
from integration_hub.secrets import EnvSecretSource
from tests.helpers import GOOGLE_MAPS_API_KEY
from tests.partner_server import PartnerServer, RecordedRequest, Reply, partner_server

PLACE_ID = "ChIJEcHIDqKw2YgRZU-t3XHylv8"
GEOCODE_OK: dict[str, Any] = {
    "status": "OK",
    "results": [
        {
            "place_id": PLACE_ID,
            "formatted_address": "1000 Brickell Ave, Miami, FL 33131, USA",
            "geometry": {"location": {"lat": 25.7640, "lng": -80.1918}},
        }
    ],
}
DIRECTIONS_OK: dict[str, Any] = {
    "status": "OK",
    "routes": [
        {
            "summary": "US-1 S",
            "legs": [
                {
                    "distance": {"text": "5.1 km", "value": 5100},
                    "duration": {"text": "12 mins", "value": 720},
                    "duration_in_traffic": {"text": "15 mins", "value": 900},
                    "start_location": {"lat": 25.7640, "lng": -80.1918},
                    "end_location": {"lat": 25.7330, "lng": -80.2350},
                }
            ],
        }
    ],
}
DISTANCE_MATRIX_OK: dict[str, Any] = {
    "status": "OK",
    "origin_addresses": ["1000 Brickell Ave, Miami, FL 33131, USA"],
    "destination_addresses": ["3250 Grand Ave, Miami, FL 33133, USA", "Nowhere"],
    "rows": [
        {
            "elements": [
                {
                    "status": "OK",
                    "distance": {"text": "5.1 km", "value": 5100},
                    "duration": {"text": "12 mins", "value": 720},
                    "duration_in_traffic": {"text": "15 mins", "value": 900},
                },
                {"status": "ZERO_RESULTS"},
            ]
        }
    ],
}


def google(request: RecordedRequest) -> Reply:
    """Answers as Google does for each API path."""
    bodies = {
        "/maps/api/geocode/json": GEOCODE_OK,
        "/maps/api/directions/json": DIRECTIONS_OK,
        "/maps/api/distancematrix/json": DISTANCE_MATRIX_OK,
    }
    body = bodies.get(request.path)
    return Reply(body=body) if body else Reply(status=404, body={"error": "unknown path"})


class Clock:
    """An injected clock the test moves forward."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def maps_server() -> Iterator[PartnerServer]:
    yield from partner_server(google)


@pytest.fixture
def clock() -> Clock:
    return Clock()


MakeCalls = Callable[..., GoogleMapsCalls]


@pytest.fixture
def make_calls(engine: Engine, maps_server: PartnerServer, clock: Clock) -> Iterator[MakeCalls]:
    made: list[GoogleMapsCalls] = []

    def make(*, key: str | None = GOOGLE_MAPS_API_KEY, **settings: Any) -> GoogleMapsCalls:
        """`settings`: MapsSettings fields (HUB_MAPS_* without the prefix), over the defaults."""
        # MapsSettings ignores unknown names (the environment holds every HUB_ setting), so a
        # misspelt one here would test the default silently.
        assert set(settings) <= set(MapsSettings.model_fields), set(settings)
        values: dict[str, Any] = {"api_base_url": maps_server.url, **settings}
        secrets = EnvSecretSource(environ={"GOOGLE_MAPS_API_KEY": key} if key else {})
        calls = GoogleMapsCalls(
            MapsSettings(_env_file=None, **values),  # type: ignore[call-arg]
            secrets,
            engine,
            clock=clock,
        )
        made.append(calls)
        return calls

    yield make
    for calls in made:
        calls.close()


@pytest.fixture
def calls(make_calls: MakeCalls) -> GoogleMapsCalls:
    return make_calls()


@contextlib.asynccontextmanager
async def maps_worker(client: Client, calls: GoogleMapsCalls) -> AsyncIterator[str]:
    """A real worker for the Maps workflows and activities on a fresh task queue."""
    task_queue = f"maps-{uuid.uuid4().hex}"
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            client,
            workflow_runner=workflow_runner(),
            task_queue=task_queue,
            workflows=list(MAPS_WORKFLOWS),
            activities=calls.activities(),
            activity_executor=executor,
        ):
            yield task_queue
