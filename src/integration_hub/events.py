"""Internal events: the CloudEvents 1.0 JSON envelope, deterministic ids, JSON Schema validation."""

from __future__ import annotations

import uuid
from functools import cache
from importlib import resources
from typing import Any

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


@cache
def _validator(name: str) -> Draft202012Validator:
    path = resources.files("integration_hub.schemas").joinpath(f"{name}.json")
    if not path.is_file():
        raise NormalizationError(f"no schema ships for internal event type {name!r}")
    schema = orjson.loads(path.read_bytes())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def validate_event(event: CloudEvent) -> None:
    """Raise `NormalizationError` naming the first violation of the envelope or the data schema."""
    for name, instance in (("cloudevent", event), (event.get("type", ""), event.get("data"))):
        error = best_match(_validator(name).iter_errors(instance))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            raise NormalizationError(f"{name} schema: {where}: {error.message}")


def known_event_types() -> list[str]:
    files = resources.files("integration_hub.schemas").iterdir()
    return sorted(f.name.removesuffix(".json") for f in files if f.name != "cloudevent.json")
