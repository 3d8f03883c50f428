"""The OIDC client's pure parts: the PKCE challenge (RFC 7636's own example) and discovery
parsing (what a provider's document must hold)."""

from __future__ import annotations

from typing import Any

import pytest

from integration_hub.web.oidc import Discovery, SignInError, new_verifier, s256

ISSUER = "https://tenant.example.com/"


def _document(**changes: Any) -> dict[str, Any]:
    return {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}authorize",
        "token_endpoint": f"{ISSUER}oauth/token",
        "jwks_uri": f"{ISSUER}.well-known/jwks.json",
        **changes,
    }


def test_the_s256_challenge_is_rfc_7636s() -> None:
    # RFC 7636, Appendix B.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    made = new_verifier()
    assert len(made) == 43 and made != new_verifier()


def test_discovery_defaults_to_client_secret_basic_and_keeps_end_session() -> None:
    found = Discovery.parse(ISSUER.rstrip("/"), _document(end_session_endpoint=f"{ISSUER}logout"))
    assert found.token_auth_methods == ("client_secret_basic",)
    assert found.end_session_endpoint == f"{ISSUER}logout"
    listed = Discovery.parse(ISSUER, _document(token_endpoint_auth_methods_supported=["x", 3]))
    assert listed.token_auth_methods == ("x",) and listed.end_session_endpoint is None


@pytest.mark.parametrize(
    "changes",
    [
        {"issuer": "https://other.example.com/"},
        {"token_endpoint": None},
        {"jwks_uri": "http://tenant.example.com/jwks"},  # downgraded from an https issuer
        {"authorization_endpoint": "javascript:alert(1)"},
    ],
)
def test_discovery_that_does_not_fit_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(SignInError) as refused:
        Discovery.parse(ISSUER, _document(**changes))
    assert refused.value.reason == "discovery_invalid" and refused.value.status == 502


def test_a_downgraded_end_session_endpoint_is_dropped() -> None:
    found = Discovery.parse(ISSUER, _document(end_session_endpoint="http://tenant.example.com/x"))
    assert found.end_session_endpoint is None
