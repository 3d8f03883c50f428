"""Internal event ids, envelope and data validation, and the shipped JSON Schemas."""

from __future__ import annotations

import uuid
from importlib import resources
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

from integration_hub import events
from integration_hub.connectors.base import InternalEventDraft
from integration_hub.errors import NormalizationError

SCHEMAS = resources.files("integration_hub.schemas")
SHIPPED_SCHEMAS = sorted(f.name for f in SCHEMAS.iterdir() if f.name.endswith(".json"))


def valid_event() -> dict[str, Any]:
    draft = InternalEventDraft(
        type="payment.succeeded",
        subject="pi_123",
        time="2024-06-20T12:00:00Z",
        data={
            "amount": 1099,
            "currency": "usd",
            "object_id": "pi_123",
            "customer": None,
            "account": None,
            "metadata": {"order": "42"},
            "livemode": False,
        },
    )
    return events.build_event(partner="stripe", partner_event_id="evt_1", index=0, draft=draft)


# --- internal_event_id ------------------------------------------------------------------------


def test_internal_event_id_is_deterministic() -> None:
    first = events.internal_event_id("stripe", "evt_1", 0, "payment.succeeded")
    second = events.internal_event_id("stripe", "evt_1", 0, "payment.succeeded")

    assert first == second
    assert uuid.UUID(first).version == 5


def test_internal_event_id_differs_by_partner() -> None:
    assert events.internal_event_id("stripe", "evt_1", 0, "t") != events.internal_event_id(
        "twilio", "evt_1", 0, "t"
    )


def test_internal_event_id_differs_by_partner_event_id() -> None:
    assert events.internal_event_id("stripe", "evt_1", 0, "t") != events.internal_event_id(
        "stripe", "evt_2", 0, "t"
    )


def test_internal_event_id_differs_by_index() -> None:
    assert events.internal_event_id("stripe", "evt_1", 0, "t") != events.internal_event_id(
        "stripe", "evt_1", 1, "t"
    )


def test_internal_event_id_differs_by_type() -> None:
    assert events.internal_event_id(
        "stripe", "evt_1", 0, "payment.succeeded"
    ) != events.internal_event_id("stripe", "evt_1", 0, "payment.failed")


def test_build_event_uses_the_internal_event_id() -> None:
    event = valid_event()

    assert event["id"] == events.internal_event_id("stripe", "evt_1", 0, "payment.succeeded")


# --- validate_event ---------------------------------------------------------------------------


def test_valid_event_passes_validation() -> None:
    event = valid_event()

    events.validate_event(event)

    assert event["specversion"] == "1.0"


def test_missing_required_data_field_is_rejected() -> None:
    event = valid_event()
    del event["data"]["currency"]

    with pytest.raises(NormalizationError, match="currency"):
        events.validate_event(event)


def test_amount_as_string_is_rejected() -> None:
    event = valid_event()
    event["data"]["amount"] = "1099"

    with pytest.raises(NormalizationError, match="amount"):
        events.validate_event(event)


def test_upper_case_currency_is_rejected() -> None:
    event = valid_event()
    event["data"]["currency"] = "USD"

    with pytest.raises(NormalizationError, match="currency"):
        events.validate_event(event)


def test_currency_with_trailing_newline_is_rejected() -> None:
    event = valid_event()
    event["data"]["currency"] = "usd\n"

    with pytest.raises(NormalizationError, match="currency"):
        events.validate_event(event)


def test_bad_specversion_is_rejected() -> None:
    event = valid_event()
    event["specversion"] = "0.3"

    with pytest.raises(NormalizationError, match="specversion"):
        events.validate_event(event)


def test_type_without_a_schema_is_rejected() -> None:
    event = valid_event()
    event["type"] = "no.such.type"

    with pytest.raises(NormalizationError, match=r"no\.such\.type"):
        events.validate_event(event)


def test_validation_error_has_the_normalization_reason() -> None:
    event = valid_event()
    event["data"]["amount"] = -1

    with pytest.raises(NormalizationError) as caught:
        events.validate_event(event)

    assert caught.value.reason == "normalization_failed"
    assert not caught.value.retryable


# --- shipped schemas --------------------------------------------------------------------------


@pytest.mark.parametrize("file_name", SHIPPED_SCHEMAS)
def test_shipped_schema_is_a_valid_draft_2020_12_schema(file_name: str) -> None:
    schema = orjson.loads(SCHEMAS.joinpath(file_name).read_bytes())

    Draft202012Validator.check_schema(schema)

    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"{events.SCHEMA_BASE}{file_name}"


def test_known_event_types_are_exactly_the_shipped_event_schemas() -> None:
    shipped = [name.removesuffix(".json") for name in SHIPPED_SCHEMAS if name != "cloudevent.json"]

    assert events.known_event_types() == shipped


@pytest.mark.parametrize("event_type", events.known_event_types())
def test_known_event_type_schema_is_a_valid_draft_2020_12_schema(event_type: str) -> None:
    schema = orjson.loads(SCHEMAS.joinpath(f"{event_type}.json").read_bytes())

    Draft202012Validator.check_schema(schema)

    assert schema["title"] == event_type


# --- values every database can store ----------------------------------------------------------


@pytest.mark.parametrize(("attribute", "limit"), [("subject", 255), ("type", 128), ("id", 64)])
def test_an_attribute_longer_than_its_column_is_refused_by_name(attribute: str, limit: int) -> None:
    event = valid_event()
    event[attribute] = "x" * (limit + 48)

    with pytest.raises(NormalizationError) as refused:
        events.validate_event(event)

    assert str(refused.value) == f"{attribute} is {limit + 48} characters; at most {limit}"
    assert refused.value.reason == "value_too_long"


def test_an_attribute_as_long_as_its_column_passes_the_column_check() -> None:
    event = valid_event()
    event["subject"] = "x" * events.column_limit("subject")

    events.check_storable(event)


def test_column_limits_come_from_the_table_definition() -> None:
    from integration_hub.storage.tables import internal_events

    for attribute in ("id", "type", "subject"):
        column_type: Any = internal_events.c[attribute].type
        assert events.column_limit(attribute) == column_type.length


def test_a_nul_in_a_column_attribute_is_refused() -> None:
    event = valid_event()
    event["subject"] = "pi_\x00"

    with pytest.raises(NormalizationError, match="subject contains a NUL character"):
        events.validate_event(event)


def test_a_lone_surrogate_anywhere_in_the_envelope_is_refused() -> None:
    event = valid_event()
    event["data"] = {**event["data"], "metadata": {"note": "\ud800"}}

    with pytest.raises(NormalizationError, match="not storable as JSON") as refused:
        events.validate_event(event)

    assert "\ud800" not in str(refused.value)
