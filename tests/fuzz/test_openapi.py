"""Every operation of the app's own `/openapi.json`, fuzzed by schemathesis against a real hub
over HTTP: no 5xx but the documented 503, and nothing stored (no request here is signed).

Schemathesis draws values that fit (or break) each declared schema; it rarely draws the values
that break hand-written parsing (issue 10: `²` passes `str.isdigit()`, ids past 64 bits
overflow the column). So every parameter of every admin operation is also given such values
outright, signed in as an admin, and must be answered below 500 in the hub's error shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis

# Imported now, at collection, not lazily on the first load: the Temporal worker's sandbox
# compiles modules in its own thread, and CPython 3.11.7 can fail a compile that runs in two
# threads at once ("AST constructor recursion depth mismatch", seen once in CI).
import schemathesis.specs.openapi.schemas
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode

from tests.fuzz.conftest import FuzzedHub
from tests.helpers import ADMIN_TOKEN, webhook_partners
from tests.properties.strategies import LONG_RUN, budget, text

fuzz = settings(
    max_examples=budget(10),
    deadline=None,
    derandomize=LONG_RUN is None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
AUTHORIZATIONS = [f"Bearer {ADMIN_TOKEN}", None, "Bearer wrong", "Basic x", "Bearer"]
# Every partner that receives webhooks, from the registry (None: schemathesis's own value).
PARTNERS: list[str | None] = [None, *webhook_partners()]
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


# What hand-written parsing gets wrong: digits that are not ASCII (`str.isdigit()` and `int()`
# take them: superscripts, Arabic-Indic, NKO, mathematical bold), numbers past 64 bits, signs,
# exponents, NUL (PostgreSQL text refuses it), dot segments, delimiters, sizes past any column,
# and dates past the ends of the calendar once taken to UTC.
HOSTILE_VALUES = [
    "²", "١٢٣", "\u07c0", "\U0001d7d7", "٣٤٥٦٧٨٩٠", "9223372036854775807",
    "9223372036854775808", str(2**64), "9" * 400, "-1", "-" + "9" * 30, "+1", "1e400", "1_000",
    " 7", "0x10", "NaN", "inf", "", "\x00", "evt\x00", "..", ".", "a/b", "%2F", "%", "?#",
    "é✓日本", "x" * 300, "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
    "2024-02-30T00:00:00Z", "yesterday",
]  # fmt: skip
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# A value drawn for one parameter, and valid values for the other path parameters.
VALID_PATH_VALUES = {"partner": webhook_partners()[0], "partner_event_id": "evt_1"}


@dataclass(frozen=True)
class Parameter:
    method: str
    path: str
    name: str
    in_path: bool
    path_names: tuple[str, ...]

    def request(self, client: httpx.Client, value: str) -> httpx.Response:
        """`value` as this parameter (one encoded segment when in the path)."""
        url = self.path
        for other in self.path_names:
            filled = value if other == self.name else VALID_PATH_VALUES.get(other, "x")
            url = url.replace(f"{{{other}}}", quote(filled, safe=""))
        params = {} if self.in_path else {self.name: value}
        return client.request(self.method, url, params=params)

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.name}"


def _parameters(hub: FuzzedHub) -> list[Parameter]:
    """Every query and path parameter of every admin operation (the webhook edge has its own
    fuzzing, tests/fuzz/test_malformed.py)."""
    document = httpx.get(f"{hub.base_url}/openapi.json", timeout=30).json()
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not path.startswith("/api/") or f"{method.upper()} {path}" in CALLS_OUT:
                continue
            declared = operation.get("parameters", [])
            path_names = tuple(p["name"] for p in declared if p["in"] == "path")
            found += [
                Parameter(method.upper(), path, p["name"], p["in"] == "path", path_names)
                for p in declared
                if p["in"] in {"query", "path"}
            ]
    return found


def test_every_admin_parameter_is_covered(fuzzed_hub: FuzzedHub) -> None:
    covered = {(p.path, p.name) for p in _parameters(fuzzed_hub)}
    for path in ("/api/events", "/api/ledger", "/api/audit"):
        assert {(path, "cursor"), (path, "limit")} <= covered
    assert {("/api/events", name) for name in ("partner", "status", "type", "since")} <= covered
    assert ("/api/events/{partner}/{partner_event_id}/replay", "partner_event_id") in covered


def test_hostile_values_in_every_admin_parameter(fuzzed_hub: FuzzedHub) -> None:
    """Each value above in each parameter of each operation: never a 5xx, always the shape."""
    before = fuzzed_hub.raw_event_count()
    with httpx.Client(base_url=fuzzed_hub.base_url, timeout=30, headers=ADMIN) as client:
        for parameter in _parameters(fuzzed_hub):
            for value in HOSTILE_VALUES:
                _check_shaped(f"{parameter}={value[:40]!r}", parameter.request(client, value))
    assert fuzzed_hub.raw_event_count() == before


def test_generated_values_in_every_admin_parameter(fuzzed_hub: FuzzedHub) -> None:
    """The same with values hypothesis draws around them: any text, huge and negative numbers,
    and digits from every script."""
    values = st.one_of(
        st.sampled_from(HOSTILE_VALUES),
        text,
        st.integers(min_value=-(2**200), max_value=2**200).map(str),
        st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=25),
    )
    with httpx.Client(base_url=fuzzed_hub.base_url, timeout=30, headers=ADMIN) as client:
        for parameter in _parameters(fuzzed_hub):
            _fuzz_parameter(client, parameter, values)


def _fuzz_parameter(
    client: httpx.Client, parameter: Parameter, values: st.SearchStrategy[str]
) -> None:
    @fuzz
    @given(value=values)
    def run(value: str) -> None:
        _check_shaped(f"{parameter}={value[:40]!r}", parameter.request(client, value))

    run()


def _check_shaped(label: str, response: httpx.Response) -> None:
    assert response.status_code < 500, f"{label}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("error"), str) and "detail" in body, f"{label}: {body}"
