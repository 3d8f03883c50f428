"""What every connector in the registry must do; a new partner is covered by adding it there."""

from __future__ import annotations

import re

import pytest

from integration_hub import events
from integration_hub.connectors.base import Connector, Delivery
from integration_hub.connectors.partners import build_connectors
from integration_hub.errors import SignatureError
from integration_hub.settings import Settings

CONNECTORS = build_connectors(Settings.model_construct())
NOW = 1_750_000_000
STALE = NOW - 3600
# `whsec_` + base64, so it is a well-formed secret for schemes that decode it and those that don't.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
WRONG_SECRET = "whsec_aGVsbG8td3Jvbmctc2VjcmV0LWtleQ=="


@pytest.fixture(params=sorted(CONNECTORS))
def connector(request: pytest.FixtureRequest) -> Connector:
    return CONNECTORS[request.param]


def sample_body(connector: Connector) -> bytes:
    return connector.sample(next(iter(connector.manifest.event_map)))


def signed_delivery(
    connector: Connector, body: bytes, *, secret: str = SECRET, timestamp: int = NOW
) -> Delivery:
    url = f"https://hub.example.com/webhooks/{connector.manifest.name}"
    headers = connector.sign(body, secret, timestamp=timestamp, url=url)
    return Delivery(
        body=body,
        headers={name.lower(): value for name, value in headers.items()},
        url=url,
        received_at=NOW,
    )


def test_registry_is_not_empty() -> None:
    assert CONNECTORS
    assert all(name == c.manifest.name for name, c in CONNECTORS.items())


def test_signed_sample_verifies(connector: Connector) -> None:
    delivery = signed_delivery(connector, sample_body(connector))

    connector.verify(delivery, [SECRET], now=NOW)

    assert delivery.headers


@pytest.mark.parametrize("name", sorted(n for n, c in CONNECTORS.items() if c.manifest.signs_body))
def test_tampered_body_is_rejected(name: str) -> None:
    connector = CONNECTORS[name]
    body = sample_body(connector)
    signed = signed_delivery(connector, body)
    tampered = Delivery(body=body + b" ", headers=signed.headers, url=signed.url, received_at=NOW)

    with pytest.raises(SignatureError):
        connector.verify(tampered, [SECRET], now=NOW)


@pytest.mark.parametrize(
    "name", sorted(n for n, c in CONNECTORS.items() if c.manifest.signs_timestamp)
)
def test_stale_timestamp_is_rejected(name: str) -> None:
    connector = CONNECTORS[name]
    delivery = signed_delivery(connector, sample_body(connector), timestamp=STALE)

    with pytest.raises(SignatureError):
        connector.verify(delivery, [SECRET], now=NOW)


def test_delivery_without_headers_is_rejected(connector: Connector) -> None:
    signed = signed_delivery(connector, sample_body(connector))
    bare = Delivery(body=signed.body, headers={}, url=signed.url, received_at=NOW)

    with pytest.raises(SignatureError):
        connector.verify(bare, [SECRET], now=NOW)


def test_wrong_secret_is_rejected(connector: Connector) -> None:
    delivery = signed_delivery(connector, sample_body(connector), secret=WRONG_SECRET)

    with pytest.raises(SignatureError):
        connector.verify(delivery, [SECRET], now=NOW)


def test_split_then_normalize_validates_against_the_schemas(connector: Connector) -> None:
    delivery = signed_delivery(connector, sample_body(connector))

    partner_events = connector.split(delivery)
    assert partner_events
    for partner_event in partner_events:
        drafts = connector.normalize(partner_event)
        assert drafts
        for index, draft in enumerate(drafts):
            event = events.build_event(
                partner=connector.manifest.name,
                partner_event_id=partner_event.partner_event_id,
                index=index,
                draft=draft,
            )
            events.validate_event(event)
            assert event["type"] in connector.manifest.event_map.values()


def test_every_mapped_internal_type_ships_a_schema(connector: Connector) -> None:
    assert set(connector.manifest.event_map.values()) <= set(events.known_event_types())


def test_webhook_secret_is_an_upper_case_env_var_name(connector: Connector) -> None:
    assert re.fullmatch(r"[A-Z][A-Z0-9_]*", connector.manifest.webhook_secret)
