"""The ECDSA scheme, signed here with a key generated for the test (independently of the
scheme's own `sign`); one test per failure mode."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from integration_hub.connectors.schemes.ecdsa import (
    MAX_SIGNATURE_CHARS,
    EcdsaScheme,
    public_key_text,
)
from integration_hub.errors import SecretNotConfigured, SignatureError

BODY = b'[{"email":"guest@example.com","event":"delivered","sg_event_id":"ev_1"}]'
NOW = 1_750_000_000
SCHEME = EcdsaScheme(header="x-signature", timestamp_header="x-timestamp", tolerance_seconds=300)
KEY = ec.generate_private_key(ec.SECP256R1())
OTHER = ec.generate_private_key(ec.SECP256R1())
PUBLIC = public_key_text(KEY)


def _independent(
    key: ec.EllipticCurvePrivateKey, *, at: int = NOW, body: bytes = BODY
) -> dict[str, str]:
    """What the sender writes, computed without the scheme's code."""
    signature = key.sign(str(at).encode() + body, ec.ECDSA(hashes.SHA256()))
    return {"x-timestamp": str(at), "x-signature": base64.b64encode(signature).decode()}


def _reason(headers: dict[str, str], body: bytes = BODY, keys: list[str] | None = None) -> str:
    with pytest.raises(SignatureError) as refused:
        SCHEME.verify(headers, body, keys or [PUBLIC], now=NOW)
    assert PUBLIC not in str(refused.value)
    return refused.value.reason


def test_a_delivery_signed_with_the_private_key_verifies() -> None:
    SCHEME.verify(_independent(KEY), BODY, [PUBLIC], now=NOW)


def test_the_public_key_is_base64_der_subject_public_key_info() -> None:
    der = KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert base64.b64decode(PUBLIC) == der


def test_sign_writes_what_an_independent_verifier_accepts() -> None:
    headers = SCHEME.sign(BODY, KEY, timestamp=NOW)
    signature = base64.b64decode(headers["x-signature"])
    KEY.public_key().verify(signature, b"%d" % NOW + BODY, ec.ECDSA(hashes.SHA256()))
    SCHEME.verify(headers, BODY, [PUBLIC], now=NOW)


def test_either_key_verifies_during_a_key_change() -> None:
    SCHEME.verify(_independent(OTHER), BODY, [PUBLIC, public_key_text(OTHER)], now=NOW)


def test_a_tampered_body_is_refused() -> None:
    assert _reason(_independent(KEY), body=BODY + b" ") == "signature_mismatch"


def test_a_wrong_key_is_refused() -> None:
    assert _reason(_independent(OTHER)) == "signature_mismatch"


def test_a_tampered_timestamp_is_refused() -> None:
    headers = {**_independent(KEY), "x-timestamp": str(NOW + 1)}
    assert _reason(headers) == "signature_mismatch"


@pytest.mark.parametrize("skew", [301, -301])
def test_a_stale_or_future_timestamp_is_refused(skew: int) -> None:
    assert _reason(_independent(KEY, at=NOW + skew)) == "timestamp_out_of_tolerance"


def test_inside_the_tolerance_verifies() -> None:
    SCHEME.verify(_independent(KEY, at=NOW - 300), BODY, [PUBLIC], now=NOW)


def test_the_configured_tolerance_applies() -> None:
    tight = EcdsaScheme(header="x-signature", timestamp_header="x-timestamp", tolerance_seconds=5)
    with pytest.raises(SignatureError) as refused:
        tight.verify(_independent(KEY, at=NOW - 6), BODY, [PUBLIC], now=NOW)
    assert refused.value.reason == "timestamp_out_of_tolerance"


@pytest.mark.parametrize("header", ["x-signature", "x-timestamp"])
def test_a_missing_header_is_refused(header: str) -> None:
    headers = _independent(KEY)
    del headers[header]
    assert _reason(headers) == "missing_signature"


@pytest.mark.parametrize("stamp", ["17500000OO", "-1750000000", "1" * 13, "1.5e9"])
def test_a_timestamp_that_is_not_unix_seconds_is_malformed(stamp: str) -> None:
    assert _reason({**_independent(KEY), "x-timestamp": stamp}) == "malformed_signature"


def test_a_signature_that_is_not_base64_is_malformed() -> None:
    assert _reason({**_independent(KEY), "x-signature": "not base64!"}) == "malformed_signature"


def test_base64_that_is_not_a_der_signature_does_not_verify() -> None:
    headers = {**_independent(KEY), "x-signature": base64.b64encode(b"\x30\x02junk").decode()}
    assert _reason(headers) == "signature_mismatch"


def test_more_than_one_signature_in_the_header_is_malformed() -> None:
    one = _independent(KEY)["x-signature"]
    assert _reason({**_independent(KEY), "x-signature": f"{one},{one}"}) == "malformed_signature"


def test_an_oversized_signature_is_refused_before_decoding() -> None:
    huge = base64.b64encode(b"\x00" * MAX_SIGNATURE_CHARS).decode()
    assert _reason({**_independent(KEY), "x-signature": huge}) == "malformed_signature"


def test_a_key_on_another_curve_is_not_a_configured_key() -> None:
    other_curve = public_key_text(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(SecretNotConfigured):
        SCHEME.verify(_independent(KEY), BODY, [other_curve, "not a key"], now=NOW)


def test_an_unusable_key_beside_a_good_one_is_skipped() -> None:
    SCHEME.verify(_independent(KEY), BODY, ["not a key", PUBLIC], now=NOW)
