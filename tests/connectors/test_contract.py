"""What every connector in the registry must do, generated per partner and per (partner, event
type) from `PARTNERS`: a new partner or a newly mapped type is covered without a line here."""

from __future__ import annotations

import dataclasses
import logging
import re

import pytest
import structlog
from structlog.testing import capture_logs

from integration_hub import events
from integration_hub.connectors.base import Connector, Delivery, PartnerEvent, storable_key
from integration_hub.connectors.partners import PARTNERS, build_connectors
from integration_hub.errors import MalformedPayload, SignatureError
from integration_hub.settings import Settings
from integration_hub.testing import TEST_CONNECTION, delivered_types, well_formed_secret
from tests.connectors.inflate import unstorable_samples

CONNECTORS = build_connectors(Settings.model_construct())
NOW = 1_750_000_000
STALE = NOW - 3600
# `whsec_` + base64, so it is a well-formed secret for schemes that decode it and those that don't.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
WRONG_SECRET = "whsec_aGVsbG8td3Jvbmctc2VjcmV0LWtleQ=="
PREVIOUS_SECRET = "whsec_cHJldmlvdXMtc2VjcmV0LXZlcnNpb24tMDE="
EVERY_SECRET = (SECRET, WRONG_SECRET, PREVIOUS_SECRET)
# Connectors that receive webhooks (one that only polls is covered by its polled types alone).
WEBHOOK_CONNECTORS = {name: c for name, c in CONNECTORS.items() if delivered_types(c)}
# Every (partner, event type) a delivery carries, and every one only polls or fetches store
# (a type named "*.polled" / "*.fetched", testing.NOT_DELIVERED_SUFFIXES).
PAIRS = sorted((name, t) for name, c in CONNECTORS.items() for t in delivered_types(c))
POLLED_PAIRS = sorted(
    (name, t)
    for name, c in CONNECTORS.items()
    for t in c.manifest.event_map
    if t not in delivered_types(c)
)
TIMESTAMPED = sorted(n for n, c in WEBHOOK_CONNECTORS.items() if c.manifest.signs_timestamp)


def _ids(pairs: list[tuple[str, str]]) -> list[str]:
    return [f"{partner}:{event_type}" for partner, event_type in pairs]


@pytest.fixture(params=sorted(WEBHOOK_CONNECTORS))
def connector(request: pytest.FixtureRequest) -> Connector:
    return CONNECTORS[request.param]


def sample_body(connector: Connector) -> bytes:
    return connector.sample(delivered_types(connector)[0])


def secret_for(connector: Connector, secret: str) -> str:
    """`secret` in the shape the partner declares its webhook secret (e.g. `user:password` for a
    Basic-auth partner); the three test values stay distinct."""
    partner = next(p for p in PARTNERS if p.name == connector.manifest.name)
    try:
        declared = partner.secret(connector.manifest.webhook_secret).format
        return well_formed_secret(declared, token=secret)
    except KeyError:  # a partner that only polls declares no webhook secret
        return secret
    except ValueError:  # a shape none of ours fits (a Twilio token): the scheme takes any string
        return secret


def endpoint_of(connector: Connector) -> str:
    """The endpoint a delivery arrives on: the test connection for a per-endpoint partner (a
    PMS posts to /webhooks/<partner>/<connection>), else the bare path."""
    return TEST_CONNECTION if connector.manifest.secret_per_endpoint else ""


def signed_delivery(
    connector: Connector, body: bytes, *, secret: str = SECRET, timestamp: int = NOW
) -> Delivery:
    endpoint = endpoint_of(connector)
    url = f"https://hub.example.com/webhooks/{connector.manifest.name}"
    url += f"/{endpoint}" if endpoint else ""
    headers = connector.sign(body, secret_for(connector, secret), timestamp=timestamp, url=url)
    return Delivery(
        body=body,
        headers={name.lower(): value for name, value in headers.items()},
        url=url,
        received_at=NOW,
        endpoint=endpoint,
    )


def verify(connector: Connector, delivery: Delivery, secrets: list[str]) -> None:
    connector.verify(delivery, [secret_for(connector, s) for s in secrets], now=NOW)


def test_registry_is_not_empty() -> None:
    assert CONNECTORS
    assert all(name == c.manifest.name for name, c in CONNECTORS.items())
    assert set(CONNECTORS) == {p.name for p in PARTNERS if p.webhook is not None}
    assert {partner for partner, _ in PAIRS + POLLED_PAIRS} == set(CONNECTORS)
    assert {partner for partner, _ in PAIRS} == set(WEBHOOK_CONNECTORS)


def test_signed_sample_verifies(connector: Connector) -> None:
    delivery = signed_delivery(connector, sample_body(connector))

    verify(connector, delivery, [SECRET])

    assert delivery.headers


@pytest.mark.parametrize(
    "name", sorted(n for n, c in WEBHOOK_CONNECTORS.items() if c.manifest.signs_body)
)
def test_tampered_body_is_rejected(name: str) -> None:
    connector = CONNECTORS[name]
    body = sample_body(connector)
    signed = signed_delivery(connector, body)
    tampered = dataclasses.replace(signed, body=body + b" ")

    with pytest.raises(SignatureError):
        verify(connector, tampered, [SECRET])


@pytest.mark.parametrize("name", TIMESTAMPED)
def test_stale_timestamp_is_rejected(name: str) -> None:
    connector = CONNECTORS[name]
    delivery = signed_delivery(connector, sample_body(connector), timestamp=STALE)

    with pytest.raises(SignatureError):
        verify(connector, delivery, [SECRET])


@pytest.mark.parametrize("name", TIMESTAMPED)
def test_the_configured_tolerance_reaches_every_timestamped_scheme(name: str) -> None:
    """HUB_SIGNATURE_TOLERANCE_SECONDS=60: a delivery signed 61 s ago is refused, 59 s ago
    accepted (the default five minutes would take both)."""
    strict = build_connectors(Settings.model_construct(signature_tolerance_seconds=60))[name]
    body = sample_body(strict)

    verify(strict, signed_delivery(strict, body, timestamp=NOW - 59), [SECRET])
    with pytest.raises(SignatureError) as refused:
        verify(strict, signed_delivery(strict, body, timestamp=NOW - 61), [SECRET])
    assert refused.value.reason == "timestamp_out_of_tolerance"
    verify(CONNECTORS[name], signed_delivery(strict, body, timestamp=NOW - 61), [SECRET])


def test_delivery_without_headers_is_rejected(connector: Connector) -> None:
    signed = signed_delivery(connector, sample_body(connector))
    bare = dataclasses.replace(signed, headers={})

    with pytest.raises(SignatureError):
        verify(connector, bare, [SECRET])


def test_wrong_secret_is_rejected(connector: Connector) -> None:
    delivery = signed_delivery(connector, sample_body(connector), secret=WRONG_SECRET)

    with pytest.raises(SignatureError):
        verify(connector, delivery, [SECRET])


@pytest.mark.parametrize("order", ["current-first", "previous-first"])
def test_any_of_several_secret_versions_verifies(connector: Connector, order: str) -> None:
    """Rotation: a delivery signed with the previous secret verifies while both are current,
    whatever their order, and is refused once the previous one is gone."""
    versions = [SECRET, PREVIOUS_SECRET]
    delivery = signed_delivery(connector, sample_body(connector), secret=PREVIOUS_SECRET)

    verify(connector, delivery, versions if order == "current-first" else versions[::-1])
    with pytest.raises(SignatureError):
        verify(connector, delivery, [SECRET])


def _refusals(connector: Connector) -> dict[str, Delivery]:
    body = sample_body(connector)
    signed = signed_delivery(connector, body, secret=WRONG_SECRET)
    refusals: dict[str, Delivery] = {
        "wrong-secret": signed,
        "no-headers": dataclasses.replace(signed, headers={}),
    }
    if connector.manifest.signs_body:
        good = signed_delivery(connector, body)
        refusals["tampered"] = dataclasses.replace(good, body=body + b" ")
    if connector.manifest.signs_timestamp:
        refusals["stale"] = signed_delivery(connector, body, timestamp=STALE)
    return refusals


def test_no_secret_value_in_any_error_or_log_line(
    connector: Connector, caplog: pytest.LogCaptureFixture
) -> None:
    """Every refusal, with several secret versions configured: neither the error nor any log
    line (structlog's or the standard library's) holds a secret or its base64 key text."""
    secrets = [SECRET, PREVIOUS_SECRET]
    texts: list[str] = []
    caplog.set_level(logging.DEBUG)
    with capture_logs() as logs:
        for delivery in _refusals(connector).values():
            with pytest.raises(SignatureError) as refused:
                verify(connector, delivery, secrets)
            texts += [str(refused.value), refused.value.detail, refused.value.reason]
            structlog.get_logger("contract").info("refused", error=str(refused.value))
    texts += [repr(entry) for entry in logs] + [record.getMessage() for record in caplog.records]

    assert logs  # the capture sees log lines: the scan below reads real output
    for secret in {s for base in EVERY_SECRET for s in (base, secret_for(connector, base))}:
        for text in texts:
            assert secret not in text
            assert secret.removeprefix("whsec_") not in text


@pytest.mark.parametrize(("partner", "event_type"), PAIRS, ids=_ids(PAIRS))
def test_every_mapped_type_normalizes_to_schema_valid_events(partner: str, event_type: str) -> None:
    connector = CONNECTORS[partner]
    delivery = signed_delivery(connector, connector.sample(event_type))
    verify(connector, delivery, [SECRET])

    partner_events = connector.split(delivery)

    assert [e.event_type for e in partner_events] == [event_type]
    for partner_event in partner_events:
        assert storable_key(partner_event.partner_event_id)
        assert storable_key(partner_event.event_type)
        drafts = connector.normalize(partner_event)
        assert drafts
        for index, draft in enumerate(drafts):
            event = events.build_event(
                partner=partner,
                partner_event_id=partner_event.partner_event_id,
                index=index,
                draft=draft,
            )
            events.validate_event(event)
            assert event["type"] in connector.manifest.event_map.values()
        # The type's own internal event is among them (an opt-out is also a message).
        assert connector.manifest.event_map[event_type] in {d.type for d in drafts}


def _secret_of(partner: str) -> str:
    return secret_for(CONNECTORS[partner], SECRET)


@pytest.mark.parametrize(("partner", "event_type"), POLLED_PAIRS, ids=_ids(POLLED_PAIRS))
def test_every_polled_type_normalizes_to_schema_valid_events(partner: str, event_type: str) -> None:
    """A type only polls or fetches store (no delivery carries it): its sample, stored as a
    poll stores it (an id of the test connection), normalizes to schema-valid events."""
    connector = CONNECTORS[partner]
    stored = PartnerEvent(f"{TEST_CONNECTION}:sample-1", event_type, connector.sample(event_type))

    drafts = connector.normalize(stored)

    assert drafts
    for index, draft in enumerate(drafts):
        event = events.build_event(
            partner=partner, partner_event_id=stored.partner_event_id, index=index, draft=draft
        )
        events.validate_event(event)
    assert connector.manifest.event_map[event_type] in {d.type for d in drafts}


UNSTORABLE = sorted(
    (partner, event_type, label)
    for partner, event_type in PAIRS
    for label in unstorable_samples(CONNECTORS[partner], event_type, _secret_of(partner))
)


def test_every_partner_has_an_unstorable_key_case() -> None:
    """The case below is not vacuous: each partner's samples carry some key in their body."""
    assert {partner for partner, _, _ in UNSTORABLE} == set(WEBHOOK_CONNECTORS)


@pytest.mark.parametrize(
    ("partner", "event_type", "label"),
    UNSTORABLE,
    ids=[f"{p}:{t}:{label}" for p, t, label in UNSTORABLE],
)
def test_an_unstorable_id_or_type_never_reaches_storage_as_a_key(
    partner: str, event_type: str, label: str
) -> None:
    """An id or type past 255 characters or holding NUL, validly signed: the connector refuses
    the body, keeps the entry apart as malformed, or hands the edge the key unchanged (which
    the edge then refuses: tests/fuzz/test_malformed.py); never another exception, and never
    a key quietly altered to fit."""
    connector = CONNECTORS[partner]
    body = unstorable_samples(connector, event_type, _secret_of(partner))[label]
    delivery = signed_delivery(connector, body)
    verify(connector, delivery, [SECRET])

    try:
        partner_events = connector.split(delivery)
    except MalformedPayload as refused:
        assert refused.reason
        return
    kept_apart = [e for e in partner_events if e.malformed is not None]
    left_to_the_edge = [
        e
        for e in partner_events
        if e.malformed is None
        and not (storable_key(e.partner_event_id) and storable_key(e.event_type))
    ]
    # A per-connection id (pms.connection_event_id) replaces a key too long to store by its
    # SHA-256: the same key always the same id, announced in the id itself.
    hashed = [
        e
        for e in partner_events
        if e.partner_event_id.startswith(f"{endpoint_of(connector)}:sha256-")
        and connector.manifest.secret_per_endpoint
        and label.startswith("id-")
    ]
    assert kept_apart or left_to_the_edge or hashed


def test_every_mapped_internal_type_ships_a_schema(connector: Connector) -> None:
    assert set(connector.manifest.event_map.values()) <= set(events.known_event_types())


def test_webhook_secret_is_an_upper_case_env_var_name(connector: Connector) -> None:
    assert re.fullmatch(r"[A-Z][A-Z0-9_]*", connector.manifest.webhook_secret)


def test_the_webhook_secret_is_declared_by_its_partner(connector: Connector) -> None:
    partner = next(p for p in PARTNERS if p.name == connector.manifest.name)
    secret = partner.secret(connector.manifest.webhook_secret)
    assert secret.used_for == "webhook"
