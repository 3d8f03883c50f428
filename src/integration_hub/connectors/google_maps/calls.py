"""Google Maps Platform calls out: Geocoding, Directions and Distance Matrix as activities.

Every call goes through the cache first (`cache.py`, at most 30 days); only a miss takes a
client-side rate-limit slot, counts towards the daily usage and reaches Google. The same
methods run outside Temporal too (`hub maps geocode` calls `geocode` directly).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from temporalio import activity

from integration_hub.connectors.google_maps import KEY_NAME, cache, quota
from integration_hub.connectors.google_maps.client import PARTNER, call, make_client
from integration_hub.connectors.google_maps.quota import DailyUsage
from integration_hub.connectors.google_maps.settings import MapsSettings
from integration_hub.connectors.outbound import CallLimiter, refuse
from integration_hub.secrets import SecretSource
from integration_hub.storage.engine import begin_write

GEOCODE, DIRECTIONS, DISTANCE_MATRIX = "geocode", "directions", "distance_matrix"
# Distance Matrix usage limits: at most 25 origins, 25 destinations, 100 elements a request.
MAX_SIDE, MAX_ELEMENTS = 25, 100


@dataclass(frozen=True)
class GeocodeInput:
    address: str | None = None  # a property address, or
    place_id: str | None = None  # a place_id returned earlier (kept by the caller)
    region: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class GeocodeResult:
    results: list[dict[str, Any]]  # Google's results, as returned
    place_id: str | None  # of the first result
    formatted_address: str | None
    lat: float | None
    lng: float | None
    from_cache: bool


@dataclass(frozen=True)
class DirectionsInput:
    origin: str
    destination: str
    mode: str = "driving"
    departure_time: int | None = None  # Unix seconds; driving durations then include traffic
    language: str | None = None


@dataclass(frozen=True)
class DirectionsResult:
    routes: list[dict[str, Any]]
    duration_seconds: int | None  # first route, all legs; in traffic when Google knows it
    distance_meters: int | None
    from_cache: bool


@dataclass(frozen=True)
class DistanceMatrixInput:
    origins: list[str]
    destinations: list[str]
    mode: str = "driving"
    departure_time: int | None = None
    language: str | None = None


@dataclass(frozen=True)
class DistanceMatrixResult:
    rows: list[dict[str, Any]]
    durations_seconds: list[list[int | None]]  # [origin][destination]; None: no route
    from_cache: bool


@dataclass(frozen=True)
class PurgeInput:
    """Nothing to choose: the purge deletes every row expired at the activity's clock."""


@dataclass(frozen=True)
class PurgeResult:
    deleted: int


def _seconds(element: Mapping[str, Any]) -> int | None:
    if element.get("status", "OK") != "OK":
        return None
    duration = element.get("duration_in_traffic") or element.get("duration") or {}
    value = duration.get("value")
    return int(value) if value is not None else None


class GoogleMapsCalls:
    """Built once per worker with the Maps settings, secrets and the engine (PartnerCalls)."""

    def __init__(
        self,
        settings: MapsSettings,
        secrets: SecretSource,
        engine: Engine,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._settings = settings
        self._key = next(iter(secrets.versions(KEY_NAME)), None)
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))
        self._client: Any = None
        self._client_lock = threading.Lock()
        self.limiter = CallLimiter(
            PARTNER,
            {
                GEOCODE: settings.geocode_per_minute,
                DIRECTIONS: settings.directions_per_minute,
                DISTANCE_MATRIX: settings.distance_matrix_elements_per_minute,
            },
        )
        self.usage = DailyUsage(
            {
                GEOCODE: settings.geocode_daily_warning,
                DIRECTIONS: settings.directions_daily_warning,
                DISTANCE_MATRIX: settings.distance_matrix_daily_warning,
            }
        )

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.geocode, self.directions, self.distance_matrix, self.purge_cache]

    def preflight(self) -> None:
        """Nothing to refuse: Maps keys have no test/live modes (unlike Stripe's), and a
        missing key only fails cache misses, one call at a time."""

    # --- activities ---------------------------------------------------------------------

    @activity.defn(name="google_maps.geocode")
    def geocode(self, input: GeocodeInput) -> GeocodeResult:
        if not (input.address and input.address.strip()) and not input.place_id:
            raise refuse(PARTNER, GEOCODE, "geocode needs an address or a place_id")
        address = input.address.strip() if input.address else None
        request = {
            "address": cache.normalize_text(address) if address else None,
            "place_id": input.place_id,
            "region": input.region,
            "language": input.language,
        }
        results, from_cache = self._cached(
            GEOCODE,
            request,
            lambda client: client.geocode(
                address=address,
                place_id=input.place_id,
                region=input.region,
                language=input.language,
            ),
        )
        first: dict[str, Any] = results[0] if results else {}
        location = first.get("geometry", {}).get("location", {})
        return GeocodeResult(
            results=results,
            place_id=first.get("place_id"),
            formatted_address=first.get("formatted_address"),
            lat=location.get("lat"),
            lng=location.get("lng"),
            from_cache=from_cache,
        )

    @activity.defn(name="google_maps.directions")
    def directions(self, input: DirectionsInput) -> DirectionsResult:
        request = {
            "origin": cache.normalize_text(input.origin),
            "destination": cache.normalize_text(input.destination),
            "mode": input.mode,
            "departure_time": input.departure_time,
            "language": input.language,
        }
        routes, from_cache = self._cached(
            DIRECTIONS,
            request,
            lambda client: client.directions(
                input.origin,
                input.destination,
                mode=input.mode,
                departure_time=input.departure_time,
                language=input.language,
            ),
        )
        legs = routes[0].get("legs", []) if routes else []
        durations = [_seconds({"status": "OK", **leg}) for leg in legs]
        distances = [leg.get("distance", {}).get("value") for leg in legs]
        return DirectionsResult(
            routes=routes,
            duration_seconds=sum(d for d in durations if d is not None) if legs else None,
            distance_meters=sum(int(d) for d in distances if d is not None) if legs else None,
            from_cache=from_cache,
        )

    @activity.defn(name="google_maps.distance_matrix")
    def distance_matrix(self, input: DistanceMatrixInput) -> DistanceMatrixResult:
        elements = len(input.origins) * len(input.destinations)
        if not elements or max(len(input.origins), len(input.destinations)) > MAX_SIDE:
            raise refuse(PARTNER, DISTANCE_MATRIX, f"1 to {MAX_SIDE} origins and destinations")
        if elements > MAX_ELEMENTS:
            raise refuse(PARTNER, DISTANCE_MATRIX, f"{elements} elements; at most {MAX_ELEMENTS}")
        request = {
            "origins": [cache.normalize_text(o) for o in input.origins],
            "destinations": [cache.normalize_text(d) for d in input.destinations],
            "mode": input.mode,
            "departure_time": input.departure_time,
            "language": input.language,
        }
        body, from_cache = self._cached(
            DISTANCE_MATRIX,
            request,
            lambda client: client.distance_matrix(
                input.origins,
                input.destinations,
                mode=input.mode,
                departure_time=input.departure_time,
                language=input.language,
            ),
            units=elements,
        )
        rows = body.get("rows", [])
        return DistanceMatrixResult(
            rows=rows,
            durations_seconds=[[_seconds(e) for e in row.get("elements", [])] for row in rows],
            from_cache=from_cache,
        )

    @activity.defn(name="google_maps.purge_cache")
    def purge_cache(self, input: PurgeInput) -> PurgeResult:
        with begin_write(self._engine) as connection:
            deleted = cache.purge(connection, now=self._clock())
        return PurgeResult(deleted=deleted)

    # --- the cache in front of every call ---------------------------------------------

    def _cached(
        self,
        api: str,
        request: Mapping[str, Any],
        fetch: Callable[[Any], Any],
        *,
        units: int = 1,
    ) -> tuple[Any, bool]:
        """(result, from_cache): a live cached copy, or one call to Google, then cached."""
        key = cache.cache_key(api, request)
        with self._engine.connect().execution_options(read_only=True) as connection:
            hit = cache.get(connection, key=key, now=self._clock())
        if hit is not None:
            quota.CACHE.labels(api, "hit").inc()
            return hit.result, True
        quota.CACHE.labels(api, "miss").inc()
        client = self._get_client(api)
        self.limiter.acquire(api, cost=units)  # Distance Matrix is limited in elements
        self.usage.record(api, units, now=self._clock())
        result = call(api, lambda: fetch(client))
        if result:  # nothing found is not cached: a corrected address gets a fresh answer
            place_id = result[0].get("place_id") if api == GEOCODE else None
            with begin_write(self._engine) as connection:
                cache.put(
                    connection,
                    key=key,
                    api=api,
                    result=result,
                    place_id=place_id,
                    now=self._clock(),
                    days=self._settings.cache_days,
                )
        return result, False

    def close(self) -> None:
        """Close the client's HTTP connections (the worker keeps them for its lifetime)."""
        with self._client_lock:
            if self._client is not None:
                self._client.session.close()
                self._client = None

    def _get_client(self, api: str) -> Any:
        if self._key is None:
            raise refuse(PARTNER, api, f"{KEY_NAME} is not set")
        with self._client_lock:
            if self._client is None:
                self._client = make_client(self._key, base_url=self._settings.api_base_url)
            return self._client
