"""Hostaway's activities: fetch one reservation on demand (`pms.fetch_workflow("hostaway")`).

Hostaway's webhooks carry the whole reservation, so the core rarely needs this; it serves a
reconciliation or a reservation the hub has only heard of. The fetched object is stored as a
`reservation.fetched` raw event (`pms.store_fetched`), normalized like a delivered one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine
from temporalio import activity

from integration_hub.connectors import pms
from integration_hub.connectors.base import PartnerEvent
from integration_hub.connectors.hostaway import NAME
from integration_hub.connectors.hostaway.api import HostawayApi, NoCredentials
from integration_hub.connectors.hostaway.settings import HostawaySettings
from integration_hub.connectors.hostaway.webhook import RESERVATION_FETCHED, canonical
from integration_hub.connectors.outbound import refuse
from integration_hub.secrets import SecretSource
from integration_hub.secrets.instances import is_instance_id
from integration_hub.settings import Settings

OPERATION = "get_reservation"
MAX_RESERVATION_DIGITS = 18


class HostawayCalls:
    """Built once per worker; `api` is for tests (a client pointed at a local server)."""

    def __init__(
        self,
        settings: Settings,
        secrets: SecretSource,
        engine: Engine,
        hostaway: HostawaySettings,
        *,
        api: HostawayApi | None = None,
    ) -> None:
        self._engine = engine
        self._api = api or HostawayApi(settings, secrets, engine, hostaway)

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.fetch_reservation]

    def preflight(self) -> None:
        return None  # Hostaway has no test keys to tell apart from live ones

    @activity.defn(name="hostaway.get_reservation")
    def fetch_reservation(self, request: pms.FetchReservation) -> pms.FetchOutcome:
        """Fetch one reservation and store it; without credentials, nothing is called."""
        reservation_id = request.source_reservation_id
        if not is_instance_id(request.connection):
            raise refuse(NAME, OPERATION, "the connection id is not one")
        if not reservation_id.isdigit() or len(reservation_id) > MAX_RESERVATION_DIGITS:
            return pms.FetchOutcome("not_found")  # Hostaway's ids are numbers
        try:
            answer = self._api.get(
                request.connection, f"/v1/reservations/{reservation_id}", operation=OPERATION
            )
        except NoCredentials:
            return pms.FetchOutcome("no_credentials")
        found = None if answer is None else answer.get("result")
        if not isinstance(found, dict):
            return pms.FetchOutcome("not_found")
        body = canonical(found)
        key = f"fetched:{reservation_id}:{pms.content_hash(body)}"
        event = PartnerEvent(pms.connection_event_id(request.connection, key),
                             RESERVATION_FETCHED, body)  # fmt: skip
        stored = pms.store_fetched(self._engine, partner=NAME, events=[event])
        return pms.FetchOutcome("stored" if stored else "duplicate")
