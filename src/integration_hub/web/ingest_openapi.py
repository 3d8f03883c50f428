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
            "200": {"description": "Stored (new) or already stored (duplicate)."},
            "400": _error("Signature missing, malformed, mismatched or stale; or bad payload."),
            "404": _error("Unknown partner."),
            "405": _error("Not POST."),
            "408": _error("The body did not arrive within HUB_BODY_TIMEOUT_SECONDS."),
            "413": _error("Body larger than HUB_MAX_BODY_BYTES."),
            "429": {
                **_error(
                    "Over the per-partner or per-client rate limit (`rate_limited`): retry "
                    "after the number of seconds in Retry-After."
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
