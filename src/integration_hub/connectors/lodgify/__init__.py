"""Lodgify: a PMS (capability `reservations`) the hub polls, one connection per manager's
Lodgify account.

Lodgify's webhooks carry no signature the hub could verify (pms.md §3: a `secret` is returned
on subscribe, but no header, algorithm or signed bytes are documented), so the hub takes
none: its connector only normalizes (`endpoints=frozenset()`, the edge answers 404) what the
polls store (`polls.py`): bookings changed since the cursor (`updatedSince`) and the
properties, one event per object. Calls carry the account's API key (`X-ApiKey`).

The declaration is static and cheap: the factories import the modules only when called.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from integration_hub.connectors.partner import (
    Partner,
    PollContext,
    PollPage,
    PollSource,
    Secret,
    WebhookContext,
)

if TYPE_CHECKING:
    from integration_hub.connectors.base import Connector

NAME = "lodgify"
API_KEY = "LODGIFY_API_KEY"
# Never set: Lodgify sends nothing the hub verifies; the manifest needs a name all the same.
NO_WEBHOOK_SECRET = "LODGIFY_NO_WEBHOOK"  # noqa: S105 (a variable name, not a value)
BOOKINGS_SOURCE = "bookings"
PROPERTIES_SOURCE = "properties"
PAGE_SIZE = 50  # Lodgify's largest page


def _webhook(context: WebhookContext) -> Connector:
    from integration_hub.connectors.lodgify.webhook import LodgifyConnector

    return LodgifyConnector()


def _poll_bookings(context: PollContext, cursor: str | None) -> PollPage:
    from integration_hub.connectors.lodgify.polls import poll_bookings

    return poll_bookings(context, cursor)


def _poll_properties(context: PollContext, cursor: str | None) -> PollPage:
    from integration_hub.connectors.lodgify.polls import poll_properties

    return poll_properties(context, cursor)


PARTNER = Partner(
    name=NAME,
    priority="P1",
    summary="PMS: bookings (changed since the last poll) and properties polled per connection.",
    capabilities=frozenset({"reservations"}),
    secrets=(
        Secret(
            API_KEY,
            format=r"[A-Za-z0-9+/=_-]{16,200}",
            per_instance=True,
            source="Lodgify > Settings > Public API > API key (the account's key, X-ApiKey)",
        ),
    ),
    webhook=_webhook,
    polls=(
        PollSource(
            BOOKINGS_SOURCE,
            every=timedelta(minutes=5),
            fetch=_poll_bookings,
            max_events_per_page=PAGE_SIZE,
            per_connection=True,
        ),
        PollSource(
            PROPERTIES_SOURCE,
            every=timedelta(hours=6),
            fetch=_poll_properties,
            max_events_per_page=PAGE_SIZE,
            per_connection=True,
        ),
    ),
)
