"""Hostaway: a PMS (capability `reservations`), one connection per manager's Hostaway account.

In: the unified webhook (`webhook.py`) at `/webhooks/hostaway/<connection>`, HTTP Basic with
the connection's `login:password` (optional at Hostaway, required by the hub). Hostaway sends
`reservation.created`, `reservation.updated` (a cancellation is an update with status
`cancelled`) and `message.received` (stored, ignored); every payload is the whole reservation.

Out (`api.py`): OAuth2 client credentials per connection (`POST /v1/accessTokens`), a
24-month token kept in the secret store (`HOSTAWAY_ACCESS_TOKEN__<CONNECTION>`) and reused
until Hostaway refuses it; every call under Hostaway's limits, shared by all workers: 15
requests per 10 s per IP (one key for every connection) and 20 per 10 s per account (the hub
keeps to about half by default).

Polls (`polls.py`, one run per connection): `reservations` walks `GET /v1/reservations` by
the `afterId` id cursor, the initial (full) sync, then each run picks up reservations newer than
the last seen id; `listings` walks `GET /v1/listings` the same way and starts over after the
last page, so listing changes are seen once per walk and a deleted listing is removed
(`vanished.py`); `changes` (`changes.py`) asks for reservations by `updatedOn` since the last
run, so a change whose webhook was missed is caught up. `hostaway.fetch_reservation`
(`workflows.py`) fetches one reservation on demand (`GET /v1/reservations/{id}`).

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

NAME = "hostaway"
# One secret holding `login:password`, so the login and the password rotate together as one
# version (the issue named them HOSTAWAY_WEBHOOK_LOGIN and HOSTAWAY_WEBHOOK_PASSWORD).
WEBHOOK_BASIC_AUTH = "HOSTAWAY_WEBHOOK_BASIC_AUTH"
ACCOUNT_ID = "HOSTAWAY_ACCOUNT_ID"
API_KEY = "HOSTAWAY_API_KEY"
ACCESS_TOKEN = "HOSTAWAY_ACCESS_TOKEN"  # noqa: S105 (a variable name, not a value)
ACCOUNT_ID_FORMAT = r"[0-9]{1,12}"
RESERVATIONS_SOURCE, LISTINGS_SOURCE, CHANGES_SOURCE = "reservations", "listings", "changes"


def _webhook(context: WebhookContext) -> Connector:
    from integration_hub.connectors.hostaway.webhook import HostawayConnector

    return HostawayConnector()


def _calls(context: CallsContext) -> PartnerCalls:
    from integration_hub.connectors.hostaway.calls import HostawayCalls
    from integration_hub.connectors.hostaway.settings import HostawaySettings

    # HUB_HOSTAWAY_* are the partner's own settings, read when a worker builds the calls.
    return HostawayCalls(context.settings, context.secrets, context.engine, HostawaySettings())


def _workflows() -> tuple[type, ...]:
    from integration_hub.connectors.hostaway.workflows import HostawayFetchReservationWorkflow

    return (HostawayFetchReservationWorkflow,)


def _poll_reservations(context: PollContext, cursor: str | None) -> PollPage:
    from integration_hub.connectors.hostaway.polls import fetch_reservations

    return fetch_reservations(context, cursor)


def _poll_changes(context: PollContext, cursor: str | None) -> PollPage:
    from integration_hub.connectors.hostaway.changes import fetch_changes

    return fetch_changes(context, cursor)


def _poll_listings(context: PollContext, cursor: str | None) -> PollPage:
    from integration_hub.connectors.hostaway.polls import fetch_listings

    return fetch_listings(context, cursor)


PARTNER = Partner(
    name=NAME,
    priority="P1",
    summary="PMS: reservations by unified webhook (HTTP Basic); initial sync, changes, listings polled.",
    capabilities=frozenset({"reservations"}),
    secrets=(
        Secret(
            WEBHOOK_BASIC_AUTH,
            format=r"[^:\s]{1,200}:\S{8,200}",
            used_for="webhook",
            per_instance=True,
            source=(
                "chosen by you (login:password, one value so both rotate together); set the "
                "same login and password in Hostaway > Settings > Integrations > Webhooks > "
                "Unified webhook, URL HUB_PUBLIC_BASE_URL + /webhooks/hostaway/ + the connection id"
            ),
        ),
        Secret(
            ACCOUNT_ID,
            format=ACCOUNT_ID_FORMAT,
            per_instance=True,
            source="Hostaway > Settings > Hostaway API > Account ID (the OAuth client_id)",
        ),
        Secret(
            API_KEY,
            format=r"\S{16,256}",
            per_instance=True,
            source="Hostaway > Settings > Hostaway API > Create API key (the client_secret)",
        ),
        Secret(
            ACCESS_TOKEN,
            per_instance=True,
            required=False,
            source="issued and stored by the hub (POST /v1/accessTokens; valid 24 months)",
        ),
    ),
    webhook=_webhook,
    calls=_calls,
    workflows=_workflows,
    polls=(
        PollSource(
            RESERVATIONS_SOURCE,
            every=timedelta(minutes=15),
            fetch=_poll_reservations,
            per_connection=True,
        ),
        PollSource(
            CHANGES_SOURCE, every=timedelta(minutes=30), fetch=_poll_changes, per_connection=True
        ),
        PollSource(
            LISTINGS_SOURCE, every=timedelta(hours=6), fetch=_poll_listings, per_connection=True
        ),
    ),
)
