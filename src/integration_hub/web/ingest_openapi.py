"""The OpenAPI description of POST /webhooks/{partner}, which bypasses FastAPI routing."""

from __future__ import annotations

from typing import Any


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_SCHEMA}}}


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
}
# The edge bypasses FastAPI routing for speed; this documents it in the same OpenAPI document.
OPENAPI_PATH: dict[str, Any] = {
    "post": {
        "tags": ["webhooks"],
        "summary": "Receive a partner's webhook delivery",
        "description": "Verified on the raw bytes as the partner signs, stored durably, then 2xx.",
        "operationId": "ingest_webhook",
        "parameters": [
            {"name": "partner", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}},
        "responses": {
            "200": {
                "description": "Stored (new) or already stored (duplicate); a batch lists each "
                "entry, malformed ones (stored dead-lettered) with `malformed: true` and `reason`."
            },
            "400": _error(
                "Signature missing, malformed, mismatched or stale, or more signatures than the "
                "scheme allows (`too_many_signatures`); or bad payload."
            ),
            "404": _error("Unknown partner."),
            "405": _error("Not POST."),
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
                    "Secret not configured, or the database could not commit "
                    "(`storage_unavailable`, `overloaded`): nothing was stored, retry."
                ),
                "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
            },
        },
    }
}
