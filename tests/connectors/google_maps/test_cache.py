"""The cache: a second geocode is served from it, and never past its lifetime (at most 30 days)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, func, select

from integration_hub.connectors.google_maps import cache
from integration_hub.connectors.google_maps.calls import (
    DistanceMatrixInput,
    GeocodeInput,
    GoogleMapsCalls,
    PurgeInput,
)
from integration_hub.storage.tables import maps_cache
from tests.connectors.google_maps.conftest import PLACE_ID, Clock, MakeCalls
from tests.partner_server import PartnerServer, Reply

ADDRESS = "1000 Brickell Ave, Miami, FL 33131"


def _rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(maps_cache)).scalar_one())


def test_second_geocode_is_served_from_the_cache_without_a_request(
    calls: GoogleMapsCalls, maps_server: PartnerServer
) -> None:
    first = calls.geocode(GeocodeInput(address=ADDRESS))
    second = calls.geocode(GeocodeInput(address=ADDRESS))
    assert (first.from_cache, second.from_cache) == (False, True)
    assert second.results == first.results
    assert len(maps_server.requests) == 1


def test_addresses_differing_in_case_and_spacing_share_one_entry(
    calls: GoogleMapsCalls, maps_server: PartnerServer
) -> None:
    calls.geocode(GeocodeInput(address=ADDRESS))
    again = calls.geocode(GeocodeInput(address="  1000 BRICKELL   Ave,  Miami, fl 33131 "))
    assert again.from_cache
    assert len(maps_server.requests) == 1


def test_distance_matrix_is_served_from_the_cache_on_the_second_call(
    calls: GoogleMapsCalls, maps_server: PartnerServer
) -> None:
    request = DistanceMatrixInput(origins=[ADDRESS], destinations=["Nowhere"])
    calls.distance_matrix(request)
    assert calls.distance_matrix(request).from_cache
    assert len(maps_server.requests) == 1


def test_lifetime_of_90_configured_days_is_capped_at_30(
    make_calls: MakeCalls, maps_server: PartnerServer, clock: Clock
) -> None:
    calls = make_calls(cache_days=90)
    calls.geocode(GeocodeInput(address=ADDRESS))
    clock.advance(timedelta(days=30) - timedelta(seconds=1))
    assert calls.geocode(GeocodeInput(address=ADDRESS)).from_cache
    clock.advance(timedelta(seconds=1))
    assert not calls.geocode(GeocodeInput(address=ADDRESS)).from_cache
    assert len(maps_server.requests) == 2


def test_a_shorter_configured_lifetime_is_kept(
    make_calls: MakeCalls, maps_server: PartnerServer, clock: Clock
) -> None:
    calls = make_calls(cache_days=7)
    calls.geocode(GeocodeInput(address=ADDRESS))
    clock.advance(timedelta(days=7))
    assert not calls.geocode(GeocodeInput(address=ADDRESS)).from_cache


def test_purge_deletes_expired_rows_and_keeps_live_ones(
    make_calls: MakeCalls, engine: Engine, clock: Clock
) -> None:
    calls = make_calls(cache_days=90)
    calls.geocode(GeocodeInput(address=ADDRESS))
    clock.advance(timedelta(days=20))
    calls.geocode(GeocodeInput(address="3250 Grand Ave, Miami, FL 33133"))
    clock.advance(timedelta(days=10))  # the first is 30 days old, the second 10
    assert calls.purge_cache(PurgeInput()).deleted == 1
    assert _rows(engine) == 1


def test_geocode_keeps_the_place_id_of_the_first_result_in_its_own_column(
    calls: GoogleMapsCalls, engine: Engine
) -> None:
    calls.geocode(GeocodeInput(address=ADDRESS))
    with engine.connect() as connection:
        assert connection.execute(select(maps_cache.c.place_id)).scalars().all() == [PLACE_ID]


def test_nothing_found_is_not_cached(
    calls: GoogleMapsCalls, maps_server: PartnerServer, engine: Engine
) -> None:
    maps_server.reply(Reply(body={"status": "ZERO_RESULTS", "results": []}))
    assert calls.geocode(GeocodeInput(address="Nowhere 1")).results == []
    assert _rows(engine) == 0


def test_cache_key_separates_apis_and_ignores_key_order() -> None:
    assert cache.cache_key("geocode", {"a": 1, "b": 2}) == cache.cache_key(
        "geocode", {"b": 2, "a": 1}
    )
    assert cache.cache_key("geocode", {"a": 1}) != cache.cache_key("directions", {"a": 1})
