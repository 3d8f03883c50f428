"""Internal events: the CloudEvents 1.0 JSON envelope, deterministic ids, JSON Schema validation."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema
import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from integration_hub.errors import NormalizationError
from integration_hub.storage.tables import internal_events


@dataclass(frozen=True, slots=True)
class InternalEventDraft:
    """What a connector says happened; `events.build_event` wraps it in a CloudEvent."""

    type: str
    subject: str
    time: str  # RFC 3339
    data: Mapping[str, Any]


# Fixed forever: changing it would change every internal event id and break replay dedup.
EVENT_ID_NAMESPACE = uuid.UUID("6f1c0b7e-3a8e-5a43-9d55-6a1f0f6f2b10")
SCHEMA_BASE = "https://integration-hub.local/schemas/"

CloudEvent = dict[str, Any]


def internal_event_id(partner: str, partner_event_id: str, index: int, event_type: str) -> str:
    """Same partner event, same position, same type -> same id, on every replay."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{partner}/{partner_event_id}/{index}/{event_type}"))


def build_event(
    *, partner: str, partner_event_id: str, index: int, draft: InternalEventDraft
) -> CloudEvent:
    return {
        "specversion": "1.0",
        "id": internal_event_id(partner, partner_event_id, index, draft.type),
        "source": f"/partners/{partner}",
        "type": draft.type,
        "time": draft.time,
        "subject": draft.subject,
        "datacontenttype": "application/json",
        "dataschema": f"{SCHEMA_BASE}{draft.type}.json",
        "partner": partner,
        "partnereventid": partner_event_id,
        "data": dict(draft.data),
    }


# Our schemas use only keywords that mean the same in draft 7 and 2020-12 (a test checks),
# so fastjsonschema's compiled code (~30x faster) decides, and the reference 2020-12
# validator, when it sees the same violation, explains it with a JSON path.
PORTABLE_KEYWORDS = frozenset(
    {
        "$schema", "$id", "title", "description", "type", "properties", "required",
        "additionalProperties", "propertyNames", "pattern", "const", "enum", "minimum",
        "maximum", "minLength", "maxLength", "format", "items", "maxItems", "maxProperties",
    }
)  # fmt: skip


def load_schema(name: str) -> dict[str, Any]:
    path = resources.files("integration_hub.schemas").joinpath(f"{name}.json")
    if not path.is_file():
        raise NormalizationError(f"no schema ships for internal event type {name!r}")
    schema: dict[str, Any] = orjson.loads(path.read_bytes())
    return schema


@cache
def _validators(name: str) -> tuple[Any, Draft202012Validator]:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    reference = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return fastjsonschema.compile(schema), reference


# Envelope attributes that `store_normalization` writes to their own column: a value the column
# cannot hold is refused here, by name, instead of failing the database write. The limits come
# from the table definition, so a migration that changes a column changes the check.
COLUMN_ATTRIBUTES = {
    "id": internal_events.c.id,
    "type": internal_events.c.type,
    "subject": internal_events.c.subject,
}


def column_limit(attribute: str) -> int:
    """The length (in characters) the column of an envelope attribute holds."""
    length = getattr(COLUMN_ATTRIBUTES[attribute].type, "length", None)
    if not isinstance(length, int):  # every column attribute is a bounded String
        raise TypeError(f"internal_events.{attribute} has no length")
    return length


def check_storable(event: CloudEvent) -> None:
    """Raise `NormalizationError` unless every database can store `event` as it is.

    Column attributes must fit their column and hold no NUL (PostgreSQL text cannot); the whole
    envelope must be strict UTF-8 JSON (a lone surrogate would fail the write on any database).
    The messages name the attribute and the sizes, never the value (it may be personal data).
    """
    for attribute in COLUMN_ATTRIBUTES:
        value = event.get(attribute)
        if not isinstance(value, str):
            continue  # the envelope schema names a missing or non-string attribute
        limit = column_limit(attribute)
        if len(value) > limit:
            raise NormalizationError(
                f"{attribute} is {len(value)} characters; at most {limit}",
                reason="value_too_long",
            )
        if "\x00" in value:
            raise NormalizationError(
                f"{attribute} contains a NUL character", reason="unstorable_value"
            )
    try:
        orjson.dumps(event)
    except orjson.JSONEncodeError as error:  # e.g. "str is not valid UTF-8: surrogates ..."
        raise NormalizationError(
            f"the event is not storable as JSON: {error}", reason="unstorable_value"
        ) from None


def validate_event(event: CloudEvent) -> None:
    """Raise `NormalizationError` naming the first value the database could not store, or the
    first violation of the envelope or the data schema."""
    check_storable(event)
    for name, instance in (("cloudevent", event), (event.get("type", ""), event.get("data"))):
        fast, reference = _validators(name)
        try:
            fast(instance)
        except fastjsonschema.JsonSchemaException as fast_error:
            error = best_match(reference.iter_errors(instance))
            if error is None:  # e.g. formats the reference only checks with optional extras
                rule = getattr(fast_error, "rule", None) or "a rule"
                raise NormalizationError(f"{name} schema: {rule} failed") from None
            where = "/".join(str(p) for p in error.absolute_path)[:MAX_PATH_CHARS] or "(root)"
            raise NormalizationError(f"{name} schema: {where}: {_violation(error)}") from None


# The value that broke a rule is never in the message (it may be personal data, and as long
# as the body): only its size, its type, and the rule. Property names are the partner's keys.
MAX_PATH_CHARS = 200
_NAMES_ONLY = frozenset({"required", "additionalProperties"})


def _violation(error: ValidationError) -> str:
    rule, bound, instance = error.validator, error.validator_value, error.instance
    if rule in _NAMES_ONLY:
        return str(error.message)[:MAX_PATH_CHARS]
    if rule == "maxLength" and isinstance(instance, str):
        return f"is {len(instance)} characters; at most {bound}"
    if rule == "maxItems" and isinstance(instance, list):
        return f"has {len(instance)} items; at most {bound}"
    if rule == "maxProperties" and isinstance(instance, dict):
        return f"has {len(instance)} properties; at most {bound}"
    if rule in ("minimum", "maximum"):
        return f"is out of range ({rule} {bound})"
    if rule == "type":
        return f"is {type(instance).__name__}, not {bound}"
    if rule in ("pattern", "format", "const", "enum", "minLength"):
        return f"fails {rule} {str(bound)[:MAX_PATH_CHARS]}"
    return f"fails {rule}"


def known_event_types() -> list[str]:
    files = resources.files("integration_hub.schemas").iterdir()
    names = (f.name for f in files if f.name.endswith(".json"))
    return sorted(n.removesuffix(".json") for n in names if n != "cloudevent.json")
