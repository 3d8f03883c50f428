"""OwnerRez's activities: fetch one booking (`GET /v2/bookings/{id}?include_guest=true`, as
the bookings list asks: without it the guest is missing) after a webhook named it,
and store it as a `booking.fetched` raw event of the connection (`pms.store_fetched`), which
the normalizer turns into `pms.reservation_observed` like any other OwnerRez event."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import httpx
import orjson
from sqlalchemy import Engine
from temporalio import activity

from integration_hub.connectors import pms
from integration_hub.connectors.base import PartnerEvent
from integration_hub.connectors.outbound import refuse
from integration_hub.connectors.ownerrez import NAME
from integration_hub.connectors.ownerrez.api import NoCredentials, OwnerRezApi
from integration_hub.connectors.ownerrez.gone import gone_event
from integration_hub.connectors.ownerrez.settings import OwnerRezSettings
from integration_hub.connectors.ownerrez.webhook import BOOKING_FETCHED
from integration_hub.secrets import SecretSource
from integration_hub.secrets.instances import is_instance_id
from integration_hub.settings import Settings

FETCH_ACTIVITY = "ownerrez.fetch_booking"


def fetched_event(connection: str, booking: dict[str, Any]) -> PartnerEvent:
    """The fetched booking as a raw event: keyed by its id and a hash of its bytes, so the same
    booking fetched twice unchanged is a duplicate."""
    body = orjson.dumps(booking, option=orjson.OPT_SORT_KEYS)
    key = f"fetched:{pms.bounded(booking.get('id'), pms.MAX_ID)}:{pms.content_hash(body)}"
    return PartnerEvent(pms.connection_event_id(connection, key), BOOKING_FETCHED, body)


class OwnerRezCalls:
    """Built once per worker; `http` is for tests."""

    def __init__(
        self,
        settings: Settings,
        secrets: SecretSource,
        engine: Engine,
        ownerrez: OwnerRezSettings,
        *,
        http: httpx.Client | None = None,
    ) -> None:
        self._engine = engine
        self.api = OwnerRezApi(settings, secrets, engine, ownerrez, http=http)

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.fetch_booking]

    def preflight(self) -> None:
        """Nothing to check: a connection without credentials is answered `no_credentials`."""

    def close(self) -> None:
        self.api.close()

    @activity.defn(name=FETCH_ACTIVITY)
    def fetch_booking(self, request: pms.FetchReservation) -> pms.FetchOutcome:
        operation = "bookings.get"
        booking_id = request.source_reservation_id
        if not is_instance_id(request.connection):
            raise refuse(NAME, operation, "the connection id is not one")
        if not booking_id.isdigit() or len(booking_id) > 20:
            raise refuse(NAME, operation, "an OwnerRez booking id is a number")
        try:
            booking = self.api.get(
                request.connection, operation, f"/v2/bookings/{quote(booking_id)}",
                {"include_guest": "true"}, missing_ok=True,
            )  # fmt: skip
        except NoCredentials:
            return pms.FetchOutcome("no_credentials")
        if booking is None:
            # Deleted at OwnerRez: cancel what the hub last observed of it (gone.py).
            gone = gone_event(self._engine, request.connection, booking_id)
            if gone is not None:
                pms.store_fetched(self._engine, partner=NAME, events=[gone])
            return pms.FetchOutcome("not_found")
        if not isinstance(booking, dict) or str(booking.get("id")) != booking_id:
            raise refuse(NAME, operation, "OwnerRez answered something other than the booking")
        event = fetched_event(request.connection, booking)
        stored = pms.store_fetched(self._engine, partner=NAME, events=[event])
        return pms.FetchOutcome("stored" if stored else "duplicate")
