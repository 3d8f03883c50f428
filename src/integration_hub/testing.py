"""Helpers shared by the tests, `hub send` and the benchmarks: sign exactly as a partner does."""

from __future__ import annotations

import time
from functools import cache

from integration_hub.connectors.base import Connector
from integration_hub.connectors.registry import build_connectors, get_connector
from integration_hub.settings import Settings


@cache
def connector(partner: str) -> Connector:
    """The registered connector, with default settings (connectors hold no mutable state)."""
    return get_connector(build_connectors(Settings.model_construct()), partner)


def sign_as(
    partner: str, body: bytes, *, secret: str, timestamp: int | None = None
) -> dict[str, str]:
    """The headers `partner` would send with `body`, signed with `secret`."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return connector(partner).sign(body, secret, timestamp=stamp)


def sample_delivery(
    partner: str, event_type: str, *, secret: str, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """A realistic, freshly identified, correctly signed delivery of `event_type`."""
    body = connector(partner).sample(event_type)
    return body, sign_as(partner, body, secret=secret, timestamp=timestamp)
