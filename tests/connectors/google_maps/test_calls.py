"""Calls out: the exact requests the official client makes, and how failures are classified."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.google_maps.calls import (
    DirectionsInput,
    DistanceMatrixInput,
    GeocodeInput,
    GoogleMapsCalls,
)
from integration_hub.connectors.partners import partner_named
from integration_hub.orchestration.calls import CALL_WORKFLOWS, partner_calls
from integration_hub.secrets import EnvSecretSource
from integration_hub.settings import Settings
from tests.connectors.google_maps.conftest import (
    PLACE_ID,
    MakeCalls,
)
from tests.helpers import GOOGLE_MAPS_API_KEY
from tests.partner_server import PartnerServer, Reply

ADDRESS = "1000 Brickell Ave, Miami, FL 33131"
OTHER = "3250 Grand Ave, Miami, FL 33133"


def _api_error(status: str) -> Reply:
    return Reply(body={"status": status, "error_message": f"{status} from the test", "results": []})


def test_geocode_is_a_get_with_the_address_and_key(
    calls: GoogleMapsCalls, maps_server: PartnerServer
) -> None:
    result = calls.geocode(GeocodeInput(address=ADDRESS, region="us"))
    [request] = maps_server.requests
    assert (request.method, request.path) == ("GET", "/maps/api/geocode/json")
    assert request.query == {"address": [ADDRESS], "key": [GOOGLE_MAPS_API_KEY], "region": ["us"]}
    assert (result.place_id, result.lat, result.lng) == (PLACE_ID, 25.7640, -80.1918)


def test_geocode_by_a_kept_place_id_sends_place_id(
    calls: GoogleMapsCalls, maps_server: PartnerServer
) -> None:
    result = calls.geocode(GeocodeInput(place_id=PLACE_ID))
    [request] = maps_server.requests
    assert request.path == "/maps/api/geocode/json"
    assert request.query == {"place_id": [PLACE_ID], "key": [GOOGLE_MAPS_API_KEY]}
    assert result.formatted_address == "1000 Brickell Ave, Miami, FL 33131, USA"


def test_directions_sends_origin_destination_mode_and_departure_time(
    calls: GoogleMapsCalls, maps_server: PartnerServer
) -> None:
    result = calls.directions(
        DirectionsInput(origin=ADDRESS, destination=OTHER, departure_time=1_740_830_400)
    )
    [request] = maps_server.requests
    assert (request.method, request.path) == ("GET", "/maps/api/directions/json")
    assert request.query == {
        "origin": [ADDRESS],
        "destination": [OTHER],
        "mode": ["driving"],
        "departure_time": ["1740830400"],
        "key": [GOOGLE_MAPS_API_KEY],
    }
    assert (result.duration_seconds, result.distance_meters) == (900, 5100)


def test_distance_matrix_sends_pipe_separated_origins_and_destinations(
    calls: GoogleMapsCalls, maps_server: PartnerServer
) -> None:
    result = calls.distance_matrix(
        DistanceMatrixInput(
            origins=[ADDRESS], destinations=[OTHER, "Nowhere"], departure_time=1_740_830_400
        )
    )
    [request] = maps_server.requests
    assert (request.method, request.path) == ("GET", "/maps/api/distancematrix/json")
    assert request.query == {
        "origins": [ADDRESS],
        "destinations": [f"{OTHER}|Nowhere"],
        "mode": ["driving"],
        "departure_time": ["1740830400"],
        "key": [GOOGLE_MAPS_API_KEY],
    }
    assert result.durations_seconds == [[900, None]]


def test_distance_matrix_over_100_elements_is_refused_before_any_request(
    calls: GoogleMapsCalls, maps_server: PartnerServer
) -> None:
    with pytest.raises(ApplicationError) as error:
        calls.distance_matrix(
            DistanceMatrixInput(
                origins=[f"{n} Main St" for n in range(11)],
                destinations=[f"{n} Ocean Dr" for n in range(10)],
            )
        )
    assert error.value.non_retryable
    assert maps_server.requests == []


@pytest.mark.parametrize("status", ["REQUEST_DENIED", "INVALID_REQUEST"])
def test_denied_or_invalid_requests_are_not_retryable(
    status: str, calls: GoogleMapsCalls, maps_server: PartnerServer
) -> None:
    maps_server.reply(_api_error(status))
    with pytest.raises(ApplicationError) as error:
        calls.geocode(GeocodeInput(address=ADDRESS))
    assert error.value.non_retryable
    assert error.value.type == f"google_maps.{status}"


def test_over_query_limit_is_retryable_and_not_retried_by_the_client(
    calls: GoogleMapsCalls, maps_server: PartnerServer
) -> None:
    maps_server.reply(_api_error("OVER_QUERY_LIMIT"))
    with pytest.raises(ApplicationError) as error:
        calls.geocode(GeocodeInput(address=ADDRESS))
    assert not error.value.non_retryable
    assert error.value.type == "google_maps.OVER_QUERY_LIMIT"
    assert len(maps_server.requests) == 1


def test_http_503_is_retryable_and_not_retried_by_the_client(
    calls: GoogleMapsCalls, maps_server: PartnerServer
) -> None:
    maps_server.reply(Reply(status=503, body={}))
    with pytest.raises(ApplicationError) as error:
        calls.geocode(GeocodeInput(address=ADDRESS))
    assert not error.value.non_retryable
    assert len(maps_server.requests) == 1


def test_http_429_keeps_retry_after_as_the_next_retry_delay(
    calls: GoogleMapsCalls, maps_server: PartnerServer
) -> None:
    maps_server.reply(Reply(status=429, body={}, headers={"Retry-After": "7"}))
    with pytest.raises(ApplicationError) as error:
        calls.geocode(GeocodeInput(address=ADDRESS))
    assert not error.value.non_retryable
    assert error.value.next_retry_delay is not None
    assert error.value.next_retry_delay.total_seconds() == 7


def test_unreachable_server_is_retryable_and_the_error_never_shows_the_key(
    make_calls: MakeCalls,
) -> None:
    calls = make_calls(api_base_url="http://127.0.0.1:9")  # discard port: refused
    with pytest.raises(ApplicationError) as error:
        calls.geocode(GeocodeInput(address=ADDRESS))
    assert not error.value.non_retryable
    assert GOOGLE_MAPS_API_KEY not in str(error.value)


def test_client_side_rate_limit_refuses_past_the_limit(
    make_calls: MakeCalls, maps_server: PartnerServer
) -> None:
    calls = make_calls(geocode_per_minute=2)
    calls.geocode(GeocodeInput(address="1 Main St"))
    calls.geocode(GeocodeInput(address="2 Main St"))
    with pytest.raises(ApplicationError) as error:
        calls.geocode(GeocodeInput(address="3 Main St"))
    assert error.value.type == "google_maps.rate_limited"
    assert not error.value.non_retryable
    assert len(maps_server.requests) == 2


def test_distance_matrix_takes_one_rate_limit_slot_per_element(
    make_calls: MakeCalls, maps_server: PartnerServer
) -> None:
    calls = make_calls(distance_matrix_elements_per_minute=3)
    calls.distance_matrix(DistanceMatrixInput(origins=[ADDRESS], destinations=[OTHER, "Nowhere"]))
    with pytest.raises(ApplicationError) as error:
        calls.distance_matrix(DistanceMatrixInput(origins=[OTHER], destinations=[ADDRESS, "X"]))
    assert error.value.type == "google_maps.rate_limited"
    assert len(maps_server.requests) == 1


def test_daily_usage_is_exported_per_api(make_calls: MakeCalls) -> None:
    calls = make_calls()
    calls.geocode(GeocodeInput(address="1 Main St"))
    calls.geocode(GeocodeInput(address="2 Main St"))
    calls.distance_matrix(DistanceMatrixInput(origins=[ADDRESS], destinations=[OTHER, "Nowhere"]))
    usage = {
        api: REGISTRY.get_sample_value("hub_maps_daily_usage", {"api": api})
        for api in ("geocode", "distance_matrix")
    }
    assert usage == {"geocode": 2.0, "distance_matrix": 2.0}


def test_daily_warning_is_logged_once_when_the_threshold_is_crossed(
    make_calls: MakeCalls,
) -> None:
    calls = make_calls(geocode_daily_warning=2)
    with capture_logs() as logs:
        for n in range(4):
            calls.geocode(GeocodeInput(address=f"{n} Main St"))
    warnings = [e for e in logs if e["event"] == "maps_daily_usage_warning"]
    assert [(w["api"], w["count"], w["threshold"]) for w in warnings] == [("geocode", 2, 2)]


def test_missing_key_refuses_a_cache_miss_without_a_request(
    make_calls: MakeCalls, maps_server: PartnerServer
) -> None:
    calls = make_calls(key=None)
    with pytest.raises(ApplicationError) as error:
        calls.geocode(GeocodeInput(address=ADDRESS))
    assert error.value.non_retryable
    assert "GOOGLE_MAPS_API_KEY" in error.value.message
    assert maps_server.requests == []


def test_google_maps_calls_are_registered_with_their_workflows(engine: object) -> None:
    from sqlalchemy import Engine

    assert isinstance(engine, Engine)
    calls = partner_calls(Settings(_env_file=None), EnvSecretSource(environ={}), engine)  # type: ignore[call-arg]
    maps = [c for c in calls if isinstance(c, GoogleMapsCalls)]
    assert len(maps) == 1
    assert partner_named("google_maps").priority == "P0"
    assert {w.__name__ for w in CALL_WORKFLOWS} >= {"GeocodeWorkflow", "MapsCachePurgeWorkflow"}
    # One schedule, the daily purge: a wrapper that imports the schedule module when called
    # (the worker creating it for real: tests/orchestration/test_schedules.py).
    [purge] = partner_named("google_maps").schedules
    assert "purge" in purge.__name__
