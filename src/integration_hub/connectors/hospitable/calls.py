"""Hospitable's activities: fetch one reservation of one connection and store it as a raw
event (`pms.store_fetched`), which the normalizer then reads like a delivered one.

`GET /v2/reservations/{uuid}?include=guest,properties,financials` answers `{"data": {...}}`,
the same object a `reservation.*` webhook carries; the stored body is
`{"fetched_at", "data"}` (`payloads.fetched_body`: the fetch time is its `source_updated_at`),
typed `reservation.fetched`, keyed `<connection>:fetched:<id>:<fetch time>:<hash>` so each
fetch is its own event (A, then B, then A again: three, and the newest fetch wins). The fetch
time is taken before the call: what it answers is at least that new. Without a token for the
connection the activity answers `no_credentials` at once; a reservation Hospitable does not
know, `not_found`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine
from temporalio import activity

from integration_hub.connectors import pms
from integration_hub.connectors.base import PartnerEvent
from integration_hub.connectors.hospitable import NAME, payloads
from integration_hub.connectors.hospitable.api import HospitableApi
from integration_hub.connectors.hospitable.settings import HospitableSettings
from integration_hub.connectors.hospitable.webhook import FETCHED_RESERVATION
from integration_hub.connectors.outbound import refuse
from integration_hub.secrets import SecretSource
from integration_hub.secrets.instances import is_instance_id
from integration_hub.settings import Settings

FETCH = "fetch_reservation"
INCLUDE = "guest,properties,financials"
# Hospitable's reservation ids are UUIDs; anything else never reaches the URL path.
RESERVATION_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


class HospitableCalls:
    def __init__(
        self,
        settings: Settings,
        secrets: SecretSource,
        engine: Engine,
        hospitable: HospitableSettings,
    ) -> None:
        self._engine = engine
        self._api = HospitableApi(settings, secrets, engine, hospitable)

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.fetch_reservation]

    def preflight(self) -> None:
        """Nothing to check: each connection's token is read when its call is made."""

    def close(self) -> None:
        self._api.close()

    @activity.defn(name=pms.fetch_workflow(NAME))
    def fetch_reservation(self, request: pms.FetchReservation) -> pms.FetchOutcome:
        if not is_instance_id(request.connection):
            raise refuse(NAME, FETCH, "the connection id is not one")
        if not RESERVATION_ID.fullmatch(request.source_reservation_id):
            raise refuse(NAME, FETCH, "the reservation id is not a Hospitable id")
        token = self._api.token(request.connection)
        if token is None:
            return pms.FetchOutcome("no_credentials")
        fetched_at = datetime.now(UTC)
        answer = self._api.get(
            request.connection,
            token,
            f"/reservations/{request.source_reservation_id}",
            {"include": INCLUDE},
            operation=FETCH,
            missing_ok=True,
        )
        data = answer.get("data") if answer is not None else None
        if not isinstance(data, dict):
            return pms.FetchOutcome("not_found")
        body = payloads.fetched_body(data, fetched_at)
        stamp = fetched_at.strftime("%Y%m%dT%H%M%S.%fZ")
        digest = pms.content_hash(orjson.dumps(data))
        key = f"fetched:{request.source_reservation_id}:{stamp}:{digest}"
        event = PartnerEvent(
            pms.connection_event_id(request.connection, key), FETCHED_RESERVATION, body
        )
        stored = pms.store_fetched(self._engine, partner=NAME, events=[event])
        return pms.FetchOutcome("stored" if stored else "duplicate")
