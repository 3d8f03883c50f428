"""Guesty (Open API): a PMS (capability `reservations`), one connection per manager's account.

In (`webhook.py`): Svix-signed webhooks at `/webhooks/guesty/<connection>`, each connection
verified with its own `GUESTY_WEBHOOK_SECRET__<CONNECTION>`; the lean v2 reservation events
become incomplete `pms.reservation_observed` (the core then starts `guesty.fetch_reservation`),
the legacy ones and listing events carry the whole object. Out (`calls.py`, `workflows.py`):
one reservation fetched with the connection's client-credentials token (kept in the secret
store: Guesty issues at most 5 per key a day) under its shared call limits; every 30 minutes
each connection's reservations updated since the last run are polled (`polls.py`), for what
the webhooks missed.

The declaration is static and cheap: the factories import the modules only when called.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from integration_hub.connectors.partner import (
    CallsContext,
    Partner,
    PollContext,
    PollPage,
    PollSource,
    Secret,
    WebhookContext,
)

if TYPE_CHECKING:
    from integration_hub.connectors.base import Connector
    from integration_hub.connectors.outbound import PartnerCalls

NAME = "guesty"
WEBHOOK_SECRET = "GUESTY_WEBHOOK_SECRET"  # noqa: S105 (a family name, not a value)
CLIENT_ID = "GUESTY_CLIENT_ID"
CLIENT_SECRET = "GUESTY_CLIENT_SECRET"  # noqa: S105 (a family name, not a value)
ACCESS_TOKEN = "GUESTY_ACCESS_TOKEN"  # noqa: S105 (a family name, not a value)
# Svix secrets: whsec_ and base64.
WHSEC_FORMAT = (
    r"whsec_(?:[0-9A-Za-z+/]{4}){4,}(?:[0-9A-Za-z+/]{2}==|[0-9A-Za-z+/]{3}=|[0-9A-Za-z+/]{2,3})?"
)


def _webhook(context: WebhookContext) -> Connector:
    from integration_hub.connectors.guesty.webhook import GuestyConnector

    return GuestyConnector(tolerance_seconds=context.tolerance_seconds)


def _calls(context: CallsContext) -> PartnerCalls:
    from integration_hub.connectors.guesty.calls import GuestyCalls
    from integration_hub.connectors.guesty.settings import GuestySettings

    # HUB_GUESTY_* are the partner's own settings, read when a worker builds the calls.
    return GuestyCalls(context.settings, context.secrets, context.engine, GuestySettings())


def _workflows() -> tuple[type, ...]:
    from integration_hub.connectors.guesty.workflows import GuestyFetchReservationWorkflow

    return (GuestyFetchReservationWorkflow,)


def _poll_reservations(context: PollContext, cursor: str | None) -> PollPage:
    from integration_hub.connectors.guesty.polls import fetch

    return fetch(context, cursor)


PARTNER = Partner(
    name=NAME,
    priority="P1",
    summary="PMS: reservations and listings (Svix webhooks per connection), fetched and polled.",
    capabilities=frozenset({"reservations"}),
    secrets=(
        Secret(
            WEBHOOK_SECRET,
            format=WHSEC_FORMAT,
            used_for="webhook",
            per_instance=True,
            source=(
                "Guesty Open API: register HUB_PUBLIC_BASE_URL + /webhooks/guesty/ + the "
                "connection id (POST /v1/webhooks, events reservation.created.v2, "
                "reservation.updated.v2, listing.new, listing.updated), then GET "
                "/v1/webhooks-v2/secret?url= that URL"
            ),
        ),
        Secret(
            CLIENT_ID,
            format=r"[0-9A-Za-z_-]{8,128}",
            per_instance=True,
            source="Guesty > Integrations > API & Webhooks > New secret token > Client ID",
        ),
        Secret(
            CLIENT_SECRET,
            format=r"[0-9A-Za-z_.~+/=-]{16,256}",
            per_instance=True,
            source="Guesty > Integrations > API & Webhooks > New secret token > Client secret",
        ),
        Secret(
            ACCESS_TOKEN,
            required=False,
            per_instance=True,
            source="issued and stored by the hub (POST /oauth2/token, at most 5 a day per key)",
        ),
    ),
    webhook=_webhook,
    calls=_calls,
    workflows=_workflows,
    # What the webhooks missed, from the reservations list by update time (polls.py).
    polls=(
        PollSource(
            "reservations",
            every=timedelta(minutes=30),
            fetch=_poll_reservations,
            max_events_per_page=100,
            max_pages_per_run=10,
            per_connection=True,
        ),
    ),
)
