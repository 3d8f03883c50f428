"""Guesty's activities: fetch one reservation (`GET /v1/reservations/{id}`) and store it as a
raw `reservation.fetched` event of the connection (`pms.store_fetched`), which the connector
normalizes into a complete `pms.reservation_observed`: the lean v2 webhooks carry no guest and
no money. The stored id is the reservation id and a hash of the answer's bytes, so a fetch of
an unchanged reservation stores nothing new."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import orjson
from sqlalchemy import Engine
from temporalio import activity

from integration_hub.connectors import pms
from integration_hub.connectors.base import PartnerEvent
from integration_hub.connectors.guesty import NAME
from integration_hub.connectors.guesty.api import GuestyApi
from integration_hub.connectors.guesty.settings import GuestySettings
from integration_hub.connectors.guesty.webhook import FETCHED_TYPE
from integration_hub.connectors.outbound import call_failed, refuse
from integration_hub.secrets import SecretSource
from integration_hub.secrets.instances import is_instance_id
from integration_hub.settings import Settings

# Guesty's ids are Mongo ObjectIds (24 hex); anything else never goes into a path.
GUESTY_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
FETCH_ACTIVITY = f"{NAME}.get_reservation"


class GuestyCalls:
    """Built once per worker with the core settings, the secrets, the engine and Guesty's own
    settings; `http` and `clock` are for tests."""

    def __init__(
        self,
        settings: Settings,
        secrets: SecretSource,
        engine: Engine,
        guesty: GuestySettings,
        *,
        http: httpx.Client | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._engine = engine
        options: dict[str, Any] = {"http": http} | ({"clock": clock} if clock else {})
        self.api = GuestyApi(settings, secrets, engine, guesty, **options)

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.fetch_reservation]

    def preflight(self) -> None:
        """Nothing to refuse at start: a connection without credentials is not fetched."""

    def close(self) -> None:
        self.api.close()

    @activity.defn(name=FETCH_ACTIVITY)
    def fetch_reservation(self, request: pms.FetchReservation) -> pms.FetchOutcome:
        operation = "reservations.get"
        if not is_instance_id(request.connection):
            raise refuse(NAME, operation, "the connection is not a connection id")
        if not GUESTY_ID.fullmatch(request.source_reservation_id):
            raise refuse(NAME, operation, "the reservation id is not one of Guesty's")
        if self.api.credentials(request.connection) is None:
            return pms.FetchOutcome("no_credentials")
        path = f"/reservations/{request.source_reservation_id}"
        response = self.api.get(request.connection, operation, path)
        if response is None:
            return pms.FetchOutcome("not_found")
        body = response.content
        try:
            reservation = orjson.loads(body)
        except orjson.JSONDecodeError:
            reservation = None
        if not isinstance(reservation, dict) or reservation.get("_id") != (
            request.source_reservation_id
        ):
            raise call_failed(
                NAME, operation, status=response.status_code,
                message="the answer is not the reservation asked for",
            )  # fmt: skip
        key = f"fetched:{request.source_reservation_id}:{pms.content_hash(body)}"
        event = PartnerEvent(pms.connection_event_id(request.connection, key), FETCHED_TYPE, body)
        stored = pms.store_fetched(self._engine, partner=NAME, events=[event])
        return pms.FetchOutcome("stored" if stored else "duplicate")
