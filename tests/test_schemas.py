"""The shipped schemas stay portable, so the fast validator and the 2020-12 reference agree."""

from __future__ import annotations

from typing import Any

import pytest

from integration_hub.connectors.base import PartnerEvent
from integration_hub.errors import NormalizationError
from integration_hub.events import (
    PORTABLE_KEYWORDS,
    build_event,
    known_event_types,
    load_schema,
    validate_event,
)
from integration_hub.testing import connector


def _keywords(node: Any, parent_is_properties: bool = False) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if not parent_is_properties:
                found.add(key)
            found |= _keywords(
                value, parent_is_properties=key == "properties" and not parent_is_properties
            )
    elif isinstance(node, list):
        for item in node:
            found |= _keywords(item)
    return found


@pytest.mark.parametrize("name", ["cloudevent", *known_event_types()])
def test_schema_uses_only_portable_keywords(name: str) -> None:
    assert _keywords(load_schema(name)) <= PORTABLE_KEYWORDS


def _payment_event() -> dict[str, Any]:
    stripe = connector("stripe")
    body = stripe.sample("payment_intent.succeeded")
    draft = stripe.normalize(PartnerEvent("evt_x", "payment_intent.succeeded", body))[0]
    return build_event(partner="stripe", partner_event_id="evt_x", index=0, draft=draft)


@pytest.mark.parametrize(
    "breakage",
    [
        {"time": "yesterday"},
        {"specversion": "0.3"},
        {"Bad-Name": 1},
        {"data": {"amount": -1}},
        {"data": {"currency": "USD"}},
        {"data": {"unexpected": True}},
    ],
    ids=[
        "time-format",
        "specversion",
        "attribute-name",
        "negative-amount",
        "currency",
        "extra-field",
    ],
)
def test_fast_validator_rejects_what_the_reference_rejects(breakage: dict[str, Any]) -> None:
    event = _payment_event()
    for key, value in breakage.items():
        if key == "data":
            event["data"] = {**event["data"], **value}
        else:
            event[key] = value
    with pytest.raises(NormalizationError):
        validate_event(event)


def test_valid_event_passes() -> None:
    validate_event(_payment_event())
