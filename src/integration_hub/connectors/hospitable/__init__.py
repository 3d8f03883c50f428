"""Hospitable (Public API v2): a PMS whose webhooks carry whole reservations and properties.

- `webhook.py`: deliveries at `/webhooks/hospitable/<connection>`, signed with the hex
  HMAC-SHA256 of the raw body in `Signature` (the connection's `HOSPITABLE_WEBHOOK_SECRET`);
  the envelope's `id` (a ULID) is the dedup key; `reservation.*` become
  `pms.reservation_observed`, `property.created|changed` `pms.listing_observed`,
  `property.deleted|merged` `pms.listing_removed`.
- `calls.py` / `workflows.py`: `hospitable.fetch_reservation` fetches one reservation with the
  connection's personal access token (`HOSPITABLE_ACCESS_TOKEN`) and stores it as a raw event.
- `polls.py`: one poll per connection lists its properties page by page (a backstop for
  missed `property.*` webhooks); polled and fetched objects carry their fetch time.

Only host mode is supported: each manager's own Hospitable account points its webhook at
its connection's URL and signs with its own secret (base64 of the account's primary e-mail).
The vendor mode (Partner Portal: one URL and one secret for every customer) is not: it would
need the connection read from the payload, not the URL. As a host-mode secret is guessable and
nothing signed is timestamped, pushed reservations are lean (`complete=False`): the core
fetches the truth with the connection's access token (`hospitable.fetch_reservation`).

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

NAME = "hospitable"
WEBHOOK_SECRET = "HOSPITABLE_WEBHOOK_SECRET"  # noqa: S105 (a variable name, not a value)
ACCESS_TOKEN = "HOSPITABLE_ACCESS_TOKEN"  # noqa: S105 (a variable name, not a value)
# Properties change seldom and their webhooks carry them whole: the poll is a backstop.
PROPERTIES_EVERY = timedelta(hours=1)
PER_PAGE = 100  # the most GET /v2/properties serves per page

ACCESS_TOKEN_SECRET = Secret(
    ACCESS_TOKEN,
    format=r"\S{16,}",
    per_instance=True,
    source="Hospitable > Apps > API access > Access tokens > New (the manager's account; "
    "scopes property:read, reservation:read, financials:read)",
)
WEBHOOK_SECRET_FAMILY = Secret(
    WEBHOOK_SECRET,
    format=r"\S{8,}",
    used_for="webhook",
    per_instance=True,
    source="the manager's own account (host mode, one webhook URL per connection): base64 of "
    "the primary user's e-mail address (Hospitable > Apps > Webhooks)",
)


def _webhook(context: WebhookContext) -> Connector:
    from integration_hub.connectors.hospitable.webhook import HospitableConnector

    return HospitableConnector()


def _calls(context: CallsContext) -> PartnerCalls:
    from integration_hub.connectors.hospitable.calls import HospitableCalls
    from integration_hub.connectors.hospitable.settings import HospitableSettings

    # HUB_HOSPITABLE_* are the partner's own settings, read when a worker builds the calls.
    settings = HospitableSettings()
    return HospitableCalls(context.settings, context.secrets, context.engine, settings)


def _workflows() -> tuple[type, ...]:
    from integration_hub.connectors.hospitable.workflows import FetchReservationWorkflow

    return (FetchReservationWorkflow,)


def _fetch_properties(context: PollContext, cursor: str | None) -> PollPage:
    from integration_hub.connectors.hospitable.polls import fetch_properties

    return fetch_properties(context, cursor)


PARTNER = Partner(
    name=NAME,
    priority="P1",
    summary="Reservations: Hospitable webhooks per connection (HMAC), one-reservation fetches "
    "and a property poll (Public API v2, personal access token).",
    capabilities=frozenset({"reservations"}),
    secrets=(WEBHOOK_SECRET_FAMILY, ACCESS_TOKEN_SECRET),
    webhook=_webhook,
    calls=_calls,
    workflows=_workflows,
    polls=(
        PollSource(
            "properties",
            every=PROPERTIES_EVERY,
            fetch=_fetch_properties,
            max_events_per_page=PER_PAGE,
            max_pages_per_run=10,
            per_connection=True,
        ),
    ),
)
