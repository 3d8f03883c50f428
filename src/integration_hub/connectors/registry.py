"""The explicit list of connectors. Adding a partner means adding one line here."""

from __future__ import annotations

from collections.abc import Mapping

from integration_hub.connectors.auth0 import Auth0Connector
from integration_hub.connectors.base import Connector
from integration_hub.connectors.clerk import ClerkConnector
from integration_hub.connectors.stripe import StripeConnector
from integration_hub.connectors.twilio import TwilioConnector
from integration_hub.errors import UnknownPartner
from integration_hub.settings import Settings


def build_connectors(settings: Settings) -> dict[str, Connector]:
    connectors: list[Connector] = [
        StripeConnector(tolerance_seconds=settings.signature_tolerance_seconds),
        ClerkConnector(),
        Auth0Connector(),
        TwilioConnector(),
    ]
    return {c.manifest.name: c for c in connectors}


def get_connector(connectors: Mapping[str, Connector], partner: str) -> Connector:
    try:
        return connectors[partner]
    except KeyError:
        raise UnknownPartner(f"no connector named {partner!r}") from None
