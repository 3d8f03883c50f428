"""Standard Webhooks / Svix: re-signed independently with `hmac`, cross-checked with the official
svix and standardwebhooks SDKs, one test per failure mode; the tolerance is the one given."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook
from svix.webhooks import Webhook as SvixWebhook

from integration_hub.connectors.schemes.common import MAX_PRESENTED_SIGNATURES
from integration_hub.connectors.schemes.standard_webhooks import StandardWebhooks
from integration_hub.errors import SecretNotConfigured, SignatureError

KEY = b"standard-webhooks-test-key-0123456789"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
OTHER = "whsec_" + base64.b64encode(b"another-key-for-standard-webhooks!").decode()
NOW = 1_750_000_000
BODY = b'{"type":"user.created","data":{"id":"user_1"}}'
scheme = StandardWebhooks(tolerance_seconds=300)


def _independent(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _headers(family: str = "svix", *, at: int = NOW, key: bytes = KEY) -> dict[str, str]:
    return {
        f"{family}-id": "msg_1",
        f"{family}-timestamp": str(at),
        f"{family}-signature": _independent(key, "msg_1", at, BODY),
    }


def _refused(headers: dict[str, str], body: bytes = BODY) -> str:
    with pytest.raises(SignatureError) as refused:
        scheme.verify(headers, body, [SECRET], now=NOW)
    return refused.value.reason


@pytest.mark.parametrize("family", ["svix", "webhook"])
def test_an_independently_signed_delivery_verifies_in_both_header_families(family: str) -> None:
    headers = _headers(family)

    scheme.verify(headers, BODY, [SECRET], now=NOW)

    assert scheme.message_id(headers) == "msg_1"


@pytest.mark.parametrize("family", ["svix", "webhook"])
def test_sign_writes_what_both_sdks_accept(family: str) -> None:
    signer = StandardWebhooks(family=family)  # type: ignore[arg-type]
    now = int(datetime.now(UTC).timestamp())

    headers = signer.sign(BODY, SECRET, timestamp=now, message_id="msg_9")

    assert headers[f"{family}-signature"] == _independent(KEY, "msg_9", now, BODY)
    svix_headers = {k.replace("webhook-", "svix-"): v for k, v in headers.items()}
    SvixWebhook(SECRET).verify(BODY, svix_headers)
    webhook_headers = {k.replace("svix-", "webhook-"): v for k, v in headers.items()}
    StandardWebhook(SECRET).verify(BODY, webhook_headers)


def test_the_sdk_signature_verifies_here() -> None:
    at = datetime.fromtimestamp(NOW, UTC)
    headers = {
        "webhook-id": "msg_2",
        "webhook-timestamp": str(NOW),
        "webhook-signature": StandardWebhook(SECRET).sign("msg_2", at, BODY.decode()),
    }

    scheme.verify(headers, BODY, [SECRET], now=NOW)


def test_without_a_message_id_sign_derives_one_from_the_body() -> None:
    first = scheme.sign(BODY, SECRET, timestamp=NOW)
    again = scheme.sign(BODY, SECRET, timestamp=NOW + 5)

    assert first["svix-id"] == again["svix-id"]  # a redelivery keeps its id
    assert first["svix-id"] != scheme.sign(BODY + b" ", SECRET, timestamp=NOW)["svix-id"]


def test_any_current_secret_verifies_rotation() -> None:
    headers = _headers()

    scheme.verify(headers, BODY, [OTHER, SECRET], now=NOW)
    assert _refused_with([OTHER], headers) == "signature_mismatch"


def _refused_with(secrets: list[str], headers: dict[str, str]) -> str:
    with pytest.raises(SignatureError) as refused:
        scheme.verify(headers, BODY, secrets, now=NOW)
    return refused.value.reason


@pytest.mark.parametrize("name", ["id", "timestamp", "signature"])
def test_a_missing_header_is_refused(name: str) -> None:
    headers = _headers()
    del headers[f"svix-{name}"]

    assert _refused(headers) == "missing_signature"


def test_a_tampered_body_is_refused() -> None:
    assert _refused(_headers(), BODY + b" ") == "signature_mismatch"


def test_a_wrong_secret_is_refused() -> None:
    assert _refused(_headers(key=b"not-the-key")) == "signature_mismatch"


@pytest.mark.parametrize("skew", [-301, 301], ids=["old", "future"])
def test_a_timestamp_outside_the_tolerance_is_refused_either_way(skew: int) -> None:
    assert _refused(_headers(at=NOW + skew)) == "timestamp_out_of_tolerance"


def test_the_tolerance_is_the_configured_one() -> None:
    strict = StandardWebhooks(tolerance_seconds=60)
    within, outside = _headers(at=NOW - 60), _headers(at=NOW - 61)

    strict.verify(within, BODY, [SECRET], now=NOW)
    with pytest.raises(SignatureError) as refused:
        strict.verify(outside, BODY, [SECRET], now=NOW)
    assert refused.value.reason == "timestamp_out_of_tolerance"
    scheme.verify(outside, BODY, [SECRET], now=NOW)  # the default five minutes take it


@pytest.mark.parametrize("stamp", ["soon", "nan", "inf", "1e400", ""])
def test_a_timestamp_that_is_no_number_is_refused(stamp: str) -> None:
    headers = {**_headers(), "svix-timestamp": stamp}

    assert _refused(headers) in {"malformed_signature", "missing_signature"}


def test_a_signature_header_without_v1_is_refused() -> None:
    headers = {**_headers(), "svix-signature": "v2,AAAA v1a,BBBB"}

    assert _refused(headers) == "malformed_signature"


def test_more_signatures_than_the_cap_are_refused_before_comparing() -> None:
    valid = _headers()["svix-signature"]
    headers = {**_headers(), "svix-signature": " ".join([valid] * (MAX_PRESENTED_SIGNATURES + 1))}

    assert _refused(headers) == "too_many_signatures"


def test_no_error_names_a_secret_or_the_expected_signature() -> None:
    headers = _headers(key=b"wrong")
    with pytest.raises(SignatureError) as refused:
        scheme.verify(headers, BODY, [SECRET], now=NOW)

    expected = _independent(KEY, "msg_1", NOW, BODY)
    for text in (str(refused.value), refused.value.detail):
        assert SECRET not in text and expected[3:] not in text


def test_a_secret_that_is_not_base64_is_the_configurations_fault_not_a_500() -> None:
    broken = "whsec_" + "A" * 17  # 17 base64 characters: no padding makes it decode
    headers = _headers()
    # Another version that decodes still verifies: one mistyped version does not stop ingest.
    scheme.verify(headers, BODY, [broken, SECRET], now=NOW)
    with pytest.raises(SecretNotConfigured) as refused:
        scheme.verify(headers, BODY, [broken], now=NOW)
    assert refused.value.status == 503 and broken not in str(refused.value)


def test_the_declared_svix_format_accepts_only_values_that_decode() -> None:
    import re

    from integration_hub.connectors.partners import PARTNERS, build_connectors

    connectors = build_connectors()
    svix_secrets = [
        p.secret(connectors[p.name].manifest.webhook_secret)
        for p in PARTNERS
        if p.name in connectors
        and isinstance(getattr(connectors[p.name], "scheme", None), StandardWebhooks)
    ]
    assert svix_secrets  # the registry has a Standard Webhooks partner
    for secret in svix_secrets:
        assert re.fullmatch(secret.format, SECRET) and re.fullmatch(secret.format, OTHER)
        assert not re.fullmatch(secret.format, "whsec_" + "A" * 17)
