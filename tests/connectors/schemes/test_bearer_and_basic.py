"""Bearer tokens and HTTP Basic: constant-time comparison with every current value, one test per
failure mode."""

from __future__ import annotations

import base64

import httpx
import pytest

from integration_hub.connectors.schemes.basic import BasicAuth
from integration_hub.connectors.schemes.bearer import BearerToken
from integration_hub.errors import SignatureError

TOKEN = "bearer-test-token-0123456789abcdef"
OLD = "bearer-old-token-fedcba9876543210"
bearer = BearerToken()
strict = BearerToken(allow_bare=False)
basic = BasicAuth()
CREDENTIALS = "hub:correct horse battery staple"


def _reason(check: object, headers: dict[str, str], secrets: list[str]) -> str:
    with pytest.raises(SignatureError) as refused:
        check.verify(headers, secrets)  # type: ignore[attr-defined]
    assert TOKEN not in refused.value.detail and CREDENTIALS not in refused.value.detail
    return refused.value.reason


@pytest.mark.parametrize("presented", [f"Bearer {TOKEN}", TOKEN], ids=["bearer", "bare"])
def test_the_token_verifies_with_or_without_the_prefix(presented: str) -> None:
    bearer.verify({"authorization": presented}, [TOKEN])


def test_sign_writes_the_bearer_header() -> None:
    assert bearer.sign(TOKEN) == {"Authorization": f"Bearer {TOKEN}"}


def test_a_bare_token_is_refused_when_the_prefix_is_required() -> None:
    strict.verify({"authorization": f"Bearer {TOKEN}"}, [TOKEN])
    assert _reason(strict, {"authorization": TOKEN}, [TOKEN]) == "signature_mismatch"


def test_any_current_token_verifies_rotation() -> None:
    bearer.verify({"authorization": f"Bearer {OLD}"}, [TOKEN, OLD])
    assert _reason(bearer, {"authorization": f"Bearer {OLD}"}, [TOKEN]) == "signature_mismatch"


def test_a_missing_header_is_refused() -> None:
    assert _reason(bearer, {}, [TOKEN]) == "missing_signature"


@pytest.mark.parametrize("presented", [f"Bearer {TOKEN}x", f"bearer {TOKEN}", TOKEN[:-1], "x"])
def test_a_wrong_token_is_refused(presented: str) -> None:
    assert _reason(bearer, {"authorization": presented}, [TOKEN]) == "signature_mismatch"


def test_another_header_name() -> None:
    custom = BearerToken(header="x-api-key")

    custom.verify({"x-api-key": TOKEN}, [TOKEN])
    assert custom.sign(TOKEN) == {"X-Api-Key": f"Bearer {TOKEN}"}


def _basic(credentials: str, scheme: str = "Basic") -> dict[str, str]:
    return {"authorization": f"{scheme} {base64.b64encode(credentials.encode()).decode()}"}


@pytest.mark.parametrize("scheme", ["Basic", "basic", "BASIC"])
def test_basic_credentials_verify(scheme: str) -> None:
    basic.verify(_basic(CREDENTIALS, scheme), [CREDENTIALS])


def test_basic_sign_writes_what_an_http_client_sends() -> None:
    request = httpx.Request("POST", "http://hub/")
    signed = next(httpx.BasicAuth(*CREDENTIALS.split(":", 1)).auth_flow(request))
    assert basic.sign(CREDENTIALS) == {"Authorization": signed.headers["authorization"]}


def test_basic_any_current_credentials_verify_rotation() -> None:
    basic.verify(_basic("hub:old"), [CREDENTIALS, "hub:old"])
    assert _reason(basic, _basic("hub:old"), [CREDENTIALS]) == "signature_mismatch"


def test_basic_missing_header_is_refused() -> None:
    assert _reason(basic, {}, [CREDENTIALS]) == "missing_signature"


@pytest.mark.parametrize("value", ["Bearer abc", "Basic", "Basic   ", "Digest x=1"])
def test_basic_other_schemes_are_refused_as_malformed(value: str) -> None:
    assert _reason(basic, {"authorization": value}, [CREDENTIALS]) == "malformed_signature"


@pytest.mark.parametrize("credentials", ["hub:wrong", "other:correct horse battery staple", "hub"])
def test_basic_wrong_credentials_are_refused(credentials: str) -> None:
    assert _reason(basic, _basic(credentials), [CREDENTIALS]) == "signature_mismatch"
