"""The OpenAPI description of POST /webhooks/{partner}[/{endpoint}], which bypasses FastAPI
routing."""

from __future__ import annotations

from typing import Any

from integration_hub.web.ingest import PREFIX


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_SCHEMA}}}


def _path_parameter(name: str, description: str) -> dict[str, Any]:
    schema = {"type": "string", "minLength": 1}
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
}
PARTNER = _path_parameter("partner", "The partner's name, as `hub connectors` lists it.")
ENDPOINT = _path_parameter(
    "endpoint",
    "One of the partner's further endpoints (e.g. a voice endpoint), or the path token a "
    "partner without signatures is configured with.",
)
RESPONSES: dict[str, Any] = {
    "200": {
        "description": "Stored (new) or already stored (duplicate). A JSON summary, where a "
        "batch lists each entry, malformed ones (stored dead-lettered) with `malformed: true` "
        "and `reason`; or the answer the partner reads (e.g. TwiML), per partner and endpoint."
    },
    "400": _error(
        "Signature missing, malformed, mismatched or stale, or more signatures than the "
        "scheme allows (`too_many_signatures`); or bad payload; or a path of another shape "
        "(`bad_path`); or an invalid Content-Length (`bad_request`)."
    ),
    "404": _error("Unknown partner (`unknown_partner`) or endpoint (`unknown_endpoint`)."),
    "405": _error("Not POST (`method_not_allowed`)."),
    "408": _error("The body did not arrive within HUB_BODY_TIMEOUT_SECONDS."),
    "413": _error(
        "Body larger than HUB_MAX_BODY_BYTES; or more parameters or entries than the "
        "partner sends (`too_many_parameters`, `parameter_name_too_long`, "
        "`too_many_entries`)."
    ),
    "429": {
        **_error(
            "Over the per-client limit (before verification) or the per-partner limit "
            "(verified deliveries only) (`rate_limited`): retry after the number of "
            "seconds in Retry-After."
        ),
        "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
    },
    "431": _error("More than HUB_MAX_HEADER_COUNT headers or HUB_MAX_HEADER_BYTES."),
    "503": {
        **_error(
            "Secret not configured (`secret_not_configured`), or the database could not "
            "commit (`storage_unavailable`, `overloaded`): nothing was stored, retry."
        ),
        "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
    },
}


def _operation(operation_id: str, summary: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "post": {
            "tags": ["webhooks"],
            "summary": summary,
            "description": "Verified on the raw bytes as the partner signs, stored durably, then "
            "2xx. Every refusal carries a reason code and is counted in hub_rejections_total.",
            "operationId": operation_id,
            "parameters": parameters,
            "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}},
            "responses": RESPONSES,
        }
    }


# The edge bypasses FastAPI routing for speed; these document it in the same OpenAPI document.
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    f"{PREFIX}{{partner}}": _operation(
        "ingest_webhook", "Receive a partner's webhook delivery", [PARTNER]
    ),
    f"{PREFIX}{{partner}}/{{endpoint}}": _operation(
        "ingest_webhook_endpoint",
        "Receive a delivery at one of a partner's further endpoints",
        [PARTNER, ENDPOINT],
    ),
}
