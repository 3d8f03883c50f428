"""The shipped schemas stay portable, so the fast validator and the 2020-12 reference agree."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Table

from integration_hub.connectors.base import PartnerEvent
from integration_hub.connectors.partners import build_connectors
from integration_hub.errors import NormalizationError
from integration_hub.events import (
    COLUMN_ATTRIBUTES,
    PORTABLE_KEYWORDS,
    build_event,
    column_limit,
    known_event_types,
    load_schema,
    validate_event,
)
from integration_hub.storage.tables import (
    contact_consent_events,
    contacts,
    identity_memberships,
    identity_users,
    internal_events,
    ledger_entries,
    raw_events,
)
from integration_hub.testing import connector

# Every internal type a shipped schema describes, and every type a registered connector maps
# to (a mapped type without a schema fails to load here).
SCHEMA_NAMES = [
    "cloudevent",
    *sorted(
        set(known_event_types())
        | {t for c in build_connectors().values() for t in c.manifest.event_map.values()}
    ),
]


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


@pytest.mark.parametrize("name", SCHEMA_NAMES)
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


# --- every value a partner sends is bounded ---------------------------------------------------


def _unbounded(node: Any, path: str) -> list[str]:
    """Paths of strings without maxLength, arrays without maxItems, open maps without
    maxProperties and integers without maximum; enum and const values are bounded."""
    if not isinstance(node, dict):
        return []
    found: list[str] = []
    types = node.get("type", [])
    types = types if isinstance(types, list) else [types]
    if "enum" not in node and "const" not in node:
        for kind, bound in (("string", "maxLength"), ("array", "maxItems"), ("integer", "maximum")):
            if kind in types and bound not in node:
                found.append(f"{path}: {kind} without {bound}")
        open_map = "object" in types and node.get("additionalProperties") is not False
        if open_map and "maxProperties" not in node:
            found.append(f"{path}: open object without maxProperties")
    for name, child in (node.get("properties") or {}).items():
        found += _unbounded(child, f"{path}/{name}")
    for key in ("items", "additionalProperties", "propertyNames"):
        found += _unbounded(node.get(key), f"{path}/{key}")
    return found


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_bounds_every_string_array_map_and_integer(name: str) -> None:
    schema = load_schema(name)
    if name == "cloudevent":  # `data` is bounded by the schema of its type
        schema = {**schema, "properties": {**schema["properties"], "data": {}}}
    assert _unbounded(schema, name) == []


def test_a_schema_without_bounds_is_caught() -> None:
    """The check above is not vacuous."""
    loose = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "array", "items": {}}},
        "additionalProperties": {"type": "string", "maxLength": 1},
    }
    assert _unbounded(loose, "x") == [
        "x: open object without maxProperties",
        "x/a: string without maxLength",
        "x/b: array without maxItems",
    ]


def _column_length(table: Table, column: str) -> int:
    length = getattr(table.c[column].type, "length", None)
    assert isinstance(length, int), f"{table.name}.{column} is not a bounded string"
    return length


def test_cloudevent_attributes_fit_the_columns_they_are_stored_in() -> None:
    attributes = load_schema("cloudevent")["properties"]
    stored = {
        "id": (internal_events, "id"),
        "type": (internal_events, "type"),
        "subject": (internal_events, "subject"),
        "partner": (raw_events, "partner"),
        "partnereventid": (raw_events, "partner_event_id"),
    }
    for attribute, (table, column) in stored.items():
        assert attributes[attribute]["maxLength"] == _column_length(table, column), attribute
        if attribute in COLUMN_ATTRIBUTES:
            assert column_limit(attribute) == _column_length(table, column)
    # The ledger keeps the partner of the event that made each entry.
    assert attributes["partner"]["maxLength"] <= _column_length(ledger_entries, "partner")


# Data fields that a handler writes to a column of its own (orchestration/*.py).
HANDLER_COLUMNS: list[tuple[str, str, Table, str]] = [
    *[
        (event_type, field, identity_users, column)
        for event_type in ("identity.user_created", "identity.user_updated")
        for field, column in (
            ("user_id", "user_id"),
            ("primary_email", "primary_email"),
            ("first_name", "first_name"),
            ("last_name", "last_name"),
            ("role", "role"),
        )
    ],
    ("identity.user_deleted", "user_id", identity_users, "user_id"),
    ("identity.membership_changed", "membership_id", identity_memberships, "membership_id"),
    ("identity.membership_changed", "user_id", identity_memberships, "user_id"),
    ("identity.membership_changed", "organization_id", identity_memberships, "organization_id"),
    ("identity.membership_changed", "role", identity_memberships, "role"),
    ("message.received", "from", contacts, "phone"),
    ("message.received", "profile_name", contacts, "profile_name"),
    *[
        (event_type, field, table, column)
        for event_type in ("contact.opted_out", "contact.opted_in")
        for field, table, column in (
            ("phone", contacts, "phone"),
            ("phone", contact_consent_events, "phone"),
            ("keyword", contact_consent_events, "keyword"),
        )
    ],
    *[
        (event_type, field, ledger_entries, column)
        for event_type in ("payment.succeeded", "payment.refunded", "payout.paid", "payout.failed")
        for field, column in (
            ("object_id", "object_id"),
            ("currency", "currency"),
            ("account", "account"),
            ("customer", "customer"),
        )
    ],
]


@pytest.mark.parametrize(
    ("event_type", "field", "table", "column"),
    HANDLER_COLUMNS,
    ids=[f"{t}.{f}->{tb.name}.{c}" for t, f, tb, c in HANDLER_COLUMNS],
)
def test_data_a_handler_stores_fits_its_column(
    event_type: str, field: str, table: Table, column: str
) -> None:
    """A valid event never fails its handler's write for length (on PostgreSQL)."""
    bound = load_schema(event_type)["properties"][field]["maxLength"]
    assert bound <= _column_length(table, column)
