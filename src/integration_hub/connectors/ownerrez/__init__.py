"""OwnerRez: a PMS (capability `reservations`), one connection per manager's OwnerRez account.

In: webhooks of an OwnerRez OAuth app (`webhook.py`): HTTP Basic with the user and password set
in the app's Webhooks settings, at `/webhooks/ownerrez/<connection>`. A delivery says only
which booking changed (`entity_id`): it becomes `pms.reservation_hinted`, and the core fetches
the booking through `ownerrez.fetch_reservation` (`workflows.py`, `calls.py`).
Polls per connection (`polls.py`): bookings changed since the cursor (`since_utc`, OwnerRez's
required changed-since filter) and the properties, both normalized like delivered events.
Calls: HTTP Basic with the account's username and a personal access token.

The declaration is static and cheap: the factories import the modules only when called.
"""

from __future__ import annotations

from collections.abc import Sequence
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

NAME = "ownerrez"
# One secret (`user:password`) so both halves rotate together as one version.
WEBHOOK_BASIC_AUTH = "OWNERREZ_WEBHOOK_BASIC_AUTH"
USERNAME = "OWNERREZ_USERNAME"
ACCESS_TOKEN = "OWNERREZ_ACCESS_TOKEN"  # noqa: S105 (a variable name, not a value)
BASIC_AUTH_FORMAT = r"[^:\s]{1,200}:\S{8,200}"
# Personal access tokens are shown once, prefixed `pt_`.
ACCESS_TOKEN_FORMAT = r"pt_[A-Za-z0-9]{16,128}"  # noqa: S105 (a shape, not a value)

BOOKINGS_SOURCE = "bookings"
PROPERTIES_SOURCE = "properties"


def _webhook(context: WebhookContext) -> Connector:
    from integration_hub.connectors.ownerrez.webhook import OwnerRezConnector

    return OwnerRezConnector()


def _calls(context: CallsContext) -> PartnerCalls:
    from integration_hub.connectors.ownerrez.calls import OwnerRezCalls
    from integration_hub.connectors.ownerrez.settings import OwnerRezSettings

    # HUB_OWNERREZ_* are the partner's own settings, read when a worker builds the calls.
    return OwnerRezCalls(context.settings, context.secrets, context.engine, OwnerRezSettings())


def _workflows() -> Sequence[type]:
    from integration_hub.connectors.ownerrez.workflows import FetchReservationWorkflow

    return [FetchReservationWorkflow]


def _poll_bookings(context: PollContext, cursor: str | None) -> PollPage:
    from integration_hub.connectors.ownerrez.polls import poll_bookings

    return poll_bookings(context, cursor)


def _poll_properties(context: PollContext, cursor: str | None) -> PollPage:
    from integration_hub.connectors.ownerrez.polls import poll_properties

    return poll_properties(context, cursor)


PARTNER = Partner(
    name=NAME,
    display_name="OwnerRez",
    priority="P1",
    summary="PMS: booking webhooks (Basic auth) fetched in full; bookings and properties polled.",
    capabilities=frozenset({"reservations"}),
    secrets=(
        Secret(
            WEBHOOK_BASIC_AUTH,
            format=BASIC_AUTH_FORMAT,
            used_for="webhook",
            per_instance=True,
            source=(
                "OwnerRez > Settings > Developers/API > your OAuth app > Webhooks: URL "
                "HUB_PUBLIC_BASE_URL + /webhooks/ownerrez/<connection>, a User and a Password "
                "you choose (stored here as user:password), Booking create and update"
            ),
        ),
        Secret(
            USERNAME,
            format=r"\S{1,200}",
            per_instance=True,
            source="the OwnerRez account's sign-in e-mail (the username of API Basic auth)",
        ),
        Secret(
            ACCESS_TOKEN,
            format=ACCESS_TOKEN_FORMAT,
            per_instance=True,
            source="OwnerRez > Settings > Developers/API > Personal access tokens > Create",
        ),
    ),
    webhook=_webhook,
    calls=_calls,
    workflows=_workflows,
    polls=(
        PollSource(
            BOOKINGS_SOURCE,
            every=timedelta(minutes=15),
            fetch=_poll_bookings,
            max_events_per_page=1000,  # OwnerRez's own page size; a bigger page is refused
            per_connection=True,
        ),
        PollSource(
            PROPERTIES_SOURCE,
            every=timedelta(hours=6),
            fetch=_poll_properties,
            max_events_per_page=1000,
            per_connection=True,
        ),
    ),
)
