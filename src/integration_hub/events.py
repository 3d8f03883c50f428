"""Internal events: the CloudEvents 1.0 JSON envelope, deterministic ids, JSON Schema validation."""

from __future__ import annotations

import uuid
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema
import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from integration_hub.connectors.base import InternalEventDraft
from integration_hub.errors import NormalizationError

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
        "maximum", "minLength", "maxLength", "format", "items",
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


def validate_event(event: CloudEvent) -> None:
    """Raise `NormalizationError` naming the first violation of the envelope or the data schema."""
    for name, instance in (("cloudevent", event), (event.get("type", ""), event.get("data"))):
        fast, reference = _validators(name)
        try:
            fast(instance)
        except fastjsonschema.JsonSchemaException as fast_error:
            error = best_match(reference.iter_errors(instance))
            if error is None:  # e.g. formats the reference only checks with optional extras
                raise NormalizationError(f"{name} schema: {fast_error}") from None
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            raise NormalizationError(f"{name} schema: {where}: {error.message}") from None


def known_event_types() -> list[str]:
    files = resources.files("integration_hub.schemas").iterdir()
    names = (f.name for f in files if f.name.endswith(".json"))
    return sorted(n.removesuffix(".json") for n in names if n != "cloudevent.json")
