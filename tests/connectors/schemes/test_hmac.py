"""The HMAC scheme in each of its shapes, re-signed independently with `hmac`; one test per
failure mode."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from integration_hub.connectors.schemes.common import MAX_PRESENTED_SIGNATURES
from integration_hub.connectors.schemes.hmac import HmacScheme
from integration_hub.errors import SignatureError

SECRET = "hmac-test-secret-0123456789"
OTHER = "another-hmac-secret-abcdefgh"
BODY = b'{"id":"evt_1","type":"thing.happened"}'
NOW = 1_750_000_000

BODY_SHA256_HEX = HmacScheme(header="x-hub-signature-256", prefix="sha256=")
BODY_SHA1_HEX = HmacScheme(header="x-hub-signature", algorithm="sha1", prefix="sha1=")
BODY_SHA256_BASE64 = HmacScheme(header="x-shopify-hmac-sha256", encoding="base64")
NUMBERED = HmacScheme(header="x-docusign-signature-", encoding="base64", numbered=True)
TIMESTAMPED = HmacScheme(
    header="x-signature", timestamp_header="x-timestamp", separator=b":", tolerance_seconds=300
)
TIMESTAMPED_MS = HmacScheme(
    header="x-signature", timestamp_header="x-timestamp", timestamp_unit="ms", tolerance_seconds=60
)
SCHEMES = {
    "sha256-hex-prefixed": BODY_SHA256_HEX,
    "sha1-hex-prefixed": BODY_SHA1_HEX,
    "sha256-base64": BODY_SHA256_BASE64,
    "numbered": NUMBERED,
    "timestamped": TIMESTAMPED,
    "timestamped-ms": TIMESTAMPED_MS,
}


def _independent(scheme: HmacScheme, secret: str, message: bytes) -> str:
    digest = hmac.new(secret.encode(), message, getattr(hashlib, scheme.algorithm))
    text = digest.hexdigest() if scheme.encoding == "hex" else base64.b64encode(digest.digest())
    return scheme.prefix + (text if isinstance(text, str) else text.decode())


def _headers(scheme: HmacScheme, *, secret: str = SECRET, at: int = NOW) -> dict[str, str]:
    """What the sender writes, computed here without the scheme's own code."""
    if scheme.timestamp_header is None:
        name = scheme.header + ("1" if scheme.numbered else "")
        return {name: _independent(scheme, secret, BODY)}
    stamp = str(at * 1000 if scheme.timestamp_unit == "ms" else at)
    message = stamp.encode() + scheme.separator + BODY
    return {scheme.timestamp_header: stamp, scheme.header: _independent(scheme, secret, message)}


def _reason(scheme: HmacScheme, headers: dict[str, str], body: bytes = BODY) -> str:
    with pytest.raises(SignatureError) as refused:
        scheme.verify(headers, body, [SECRET], now=NOW)
    return refused.value.reason


@pytest.fixture(params=sorted(SCHEMES))
def scheme(request: pytest.FixtureRequest) -> HmacScheme:
    return SCHEMES[request.param]


def test_an_independently_signed_delivery_verifies(scheme: HmacScheme) -> None:
    scheme.verify(_headers(scheme), BODY, [SECRET], now=NOW)


def test_sign_writes_what_an_independent_signer_writes(scheme: HmacScheme) -> None:
    assert scheme.sign(BODY, SECRET, timestamp=NOW) == _headers(scheme)


def test_any_current_secret_verifies_rotation(scheme: HmacScheme) -> None:
    headers = _headers(scheme, secret=OTHER)

    scheme.verify(headers, BODY, [SECRET, OTHER], now=NOW)
    assert _reason(scheme, headers) == "signature_mismatch"


def test_a_tampered_body_is_refused(scheme: HmacScheme) -> None:
    assert _reason(scheme, _headers(scheme), BODY + b" ") == "signature_mismatch"


def test_a_missing_signature_header_is_refused(scheme: HmacScheme) -> None:
    headers = {k: v for k, v in _headers(scheme).items() if k == scheme.timestamp_header}

    assert _reason(scheme, headers) == "missing_signature"


def test_known_digests() -> None:
    """Published shapes: GitHub's `sha256=<hex>` and `sha1=<hex>`, Shopify's base64."""
    key, body = b"It's a Secret to Everybody", b"Hello, World!"
    github = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert BODY_SHA256_HEX.digest(key.decode(), body) == f"sha256={github}"
    assert BODY_SHA1_HEX.digest("k", b"m") == "sha1=" + hmac.new(b"k", b"m", "sha1").hexdigest()


def test_numbered_headers_any_of_which_may_match() -> None:
    headers = {
        "x-docusign-signature-1": _independent(NUMBERED, OTHER, BODY),
        "x-docusign-signature-2": _independent(NUMBERED, SECRET, BODY),
    }

    NUMBERED.verify(headers, BODY, [SECRET], now=NOW)


def test_more_numbered_headers_than_the_cap_are_refused() -> None:
    valid = _independent(NUMBERED, SECRET, BODY)
    headers = {f"x-docusign-signature-{n}": valid for n in range(1, MAX_PRESENTED_SIGNATURES + 2)}

    assert _reason(NUMBERED, headers) == "too_many_signatures"


@pytest.mark.parametrize("scheme", [TIMESTAMPED, TIMESTAMPED_MS], ids=["s", "ms"])
def test_a_stale_or_future_timestamp_is_refused(scheme: HmacScheme) -> None:
    for at in (NOW - scheme.tolerance_seconds - 1, NOW + scheme.tolerance_seconds + 1):
        assert _reason(scheme, _headers(scheme, at=at)) == "timestamp_out_of_tolerance"
    scheme.verify(_headers(scheme, at=NOW - scheme.tolerance_seconds), BODY, [SECRET], now=NOW)


def test_a_missing_timestamp_is_refused() -> None:
    headers = _headers(TIMESTAMPED)
    del headers["x-timestamp"]

    assert _reason(TIMESTAMPED, headers) == "missing_signature"


@pytest.mark.parametrize("stamp", ["soon", "-1", "1e9", "١٢٣", "9" * 40])
def test_a_timestamp_that_is_no_unix_time_is_refused(stamp: str) -> None:
    headers = {**_headers(TIMESTAMPED), "x-timestamp": stamp}

    assert _reason(TIMESTAMPED, headers) == "malformed_signature"


def test_a_changed_timestamp_breaks_the_signature() -> None:
    headers = {**_headers(TIMESTAMPED), "x-timestamp": str(NOW - 1)}

    assert _reason(TIMESTAMPED, headers) == "signature_mismatch"


def test_no_error_names_a_secret_or_the_expected_signature(scheme: HmacScheme) -> None:
    expected = next(iter(_headers(scheme).values()))
    with pytest.raises(SignatureError) as refused:
        scheme.verify(_headers(scheme, secret=OTHER), BODY, [SECRET], now=NOW)

    assert SECRET not in refused.value.detail
    assert expected not in refused.value.detail
