"""PARTNERS: the one explicit list of partners. Adding a partner means adding one line here;
everything else (the edge, `hub init`, doctor, the worker, the admin API, the CLI, the status
panel, the test suites) loops over it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from integration_hub.connectors import auth0, clerk, google_maps, stripe, twilio
from integration_hub.connectors.partner import Partner, WebhookContext
from integration_hub.errors import UnknownPartner

if TYPE_CHECKING:  # types only: importing the list stays cheap (`hub --help` reads it)
    from integration_hub.connectors.base import Connector
    from integration_hub.settings import Settings

PARTNERS: tuple[Partner, ...] = (
    stripe.PARTNER,
    twilio.PARTNER,
    google_maps.PARTNER,
    clerk.PARTNER,
    auth0.PARTNER,
)


def partner_named(name: str, partners: Sequence[Partner] = PARTNERS) -> Partner:
    for partner in partners:
        if partner.name == name:
            return partner
    raise UnknownPartner(f"no partner named {name!r}")


def build_connectors(
    settings: Settings | None = None, partners: Sequence[Partner] = PARTNERS
) -> dict[str, Connector]:
    """The edge's connectors by name: every partner that receives webhooks. Without
    `settings`, the defaults (for samples and signing, as `hub send` and tests use them)."""
    tolerance = settings.signature_tolerance_seconds if settings else 300
    context = WebhookContext(tolerance_seconds=tolerance)
    return {p.name: p.webhook(context) for p in partners if p.webhook is not None}


def get_connector(connectors: Mapping[str, Connector], partner: str) -> Connector:
    try:
        return connectors[partner]
    except KeyError:
        raise UnknownPartner(f"no connector named {partner!r}") from None
