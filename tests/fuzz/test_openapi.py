"""Every operation of the app's own `/openapi.json`, fuzzed by schemathesis against a real hub
over HTTP: no 5xx but the documented 503, and nothing stored (no request here is signed)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode

from tests.fuzz.conftest import FuzzedHub
from tests.helpers import ADMIN_TOKEN
from tests.properties.strategies import LONG_RUN, budget

fuzz = settings(
    max_examples=budget(10),
    deadline=None,
    derandomize=LONG_RUN is None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
AUTHORIZATIONS = [f"Bearer {ADMIN_TOKEN}", None, "Bearer wrong", "Basic x", "Bearer"]
PARTNERS = [None, "stripe", "clerk", "auth0", "twilio"]
# Sends real messages through Twilio and waits up to 60 s for each: not fuzzed here.
CALLS_OUT = {"POST /api/messages"}


def _operations(hub: FuzzedHub) -> dict[str, Any]:
    """Operations by label ("POST /webhooks/{partner}"); an invalid schema fails here."""
    schema = schemathesis.openapi.from_url(f"{hub.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    return {operation.label: operation for operation in operations}


def test_the_document_lists_ingest_and_admin(fuzzed_hub: FuzzedHub) -> None:
    labels = set(_operations(fuzzed_hub))
    assert "POST /webhooks/{partner}" in labels
    assert {"GET /api/events", "POST /api/replay", "GET /healthz"} <= labels


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_survives_generated_requests(
    fuzzed_hub: FuzzedHub, mode: GenerationMode
) -> None:
    before = fuzzed_hub.raw_event_count()
    with httpx.Client(base_url=fuzzed_hub.base_url, timeout=30) as client:
        for label, operation in sorted(_operations(fuzzed_hub).items()):
            if label not in CALLS_OUT:
                _fuzz_operation(client, label, operation, mode)
    assert fuzzed_hub.raw_event_count() == before


def _fuzz_operation(client: httpx.Client, label: str, operation: Any, mode: GenerationMode) -> None:
    @fuzz
    @given(
        case=operation.as_strategy(generation_mode=mode),
        authorization=st.sampled_from(AUTHORIZATIONS),
        partner=st.sampled_from(PARTNERS),
    )
    def run(case: Case[Any], authorization: str | None, partner: str | None) -> None:
        if partner is not None and "partner" in (case.path_parameters or {}):
            case.path_parameters = {**(case.path_parameters or {}), "partner": partner}
        request = case.as_transport_kwargs(base_url=str(client.base_url))
        headers = {**request.get("headers", {})}
        headers.pop("Authorization", None)  # schemathesis fills in an empty bearer token
        if authorization is not None:
            headers["Authorization"] = authorization
        try:
            response = client.request(
                request["method"],
                request["url"],
                params=request.get("params"),
                headers=headers,
                content=_content(request),
                json=request.get("json"),
            )
        except httpx.LocalProtocolError:  # a header value no HTTP client can send
            return
        _check(label, response)

    try:
        run()
    except Unsatisfiable:
        # Nothing to negate: an operation without parameters or body (GET /healthz).
        assert mode is GenerationMode.NEGATIVE, label


def _content(request: dict[str, object]) -> bytes | None:
    for key in ("content", "data"):
        value = request.get(key)
        if isinstance(value, bytes):
            return value
        if isinstance(value, str):
            return value.encode()
    return None  # a JSON body (if any) goes as json=, which takes integers of any size


def _check(label: str, response: httpx.Response) -> None:
    status = response.status_code
    if status == 503:  # documented: secret missing, database or Temporal unavailable
        assert label in {"POST /webhooks/{partner}", "GET /readyz"}, response.text
        return
    assert status < 500, f"{label}: {status} {response.text[:500]}"
