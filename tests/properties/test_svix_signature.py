"""Svix / Standard Webhooks (the shared scheme, and Clerk on it): properties, cross-checked with the official svix SDK."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

from hypothesis import example, given
from hypothesis import strategies as st
from svix.webhooks import Webhook, WebhookVerificationError

from integration_hub.connectors.clerk.webhook import ClerkConnector
from integration_hub.connectors.schemes.common import MAX_PRESENTED_SIGNATURES
from integration_hub.connectors.schemes.standard_webhooks import (
    StandardWebhooks,
    secret_key,
)
from integration_hub.connectors.schemes.standard_webhooks import signature as svix_signature
from integration_hub.errors import SignatureError
from tests.properties.strategies import (
    bounded,
    byte_changes,
    char_changes,
    header_values,
    text,
)

TOLERANCE = 300
scheme = StandardWebhooks(tolerance_seconds=TOLERANCE)
keys = st.binary(min_size=1, max_size=64)
# Svix message ids: no spaces or commas are needed, but any printable text is signed as is.
message_ids = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40
)
offsets = st.integers(-TOLERANCE + 30, TOLERANCE - 30)


def _secret(key: bytes) -> str:
    return "whsec_" + base64.b64encode(key).decode()


def _headers(message_id: str, timestamp: int | str, signature: str) -> dict[str, str]:
    return {"svix-id": message_id, "svix-timestamp": str(timestamp), "svix-signature": signature}


def _ours_accepts(headers: dict[str, str], body: bytes, secrets: list[str], now: float) -> bool:
    try:
        scheme.verify(headers, body, secrets, now=now)
    except SignatureError:
        return False
    return True


def _sdk_accepts(headers: dict[str, str], body: bytes, secret: str) -> bool:
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


@bounded
@given(key=keys, message_id=message_ids, body=text, offset=offsets)
def test_sign_then_verify_round_trips_and_the_sdk_agrees(
    key: bytes, message_id: str, body: str, offset: int
) -> None:
    now = int(time.time())
    secret = _secret(key)
    ours = svix_signature(key, message_id, now + offset, body.encode())
    theirs = Webhook(secret).sign(message_id, datetime.fromtimestamp(now + offset, UTC), body)
    headers = _headers(message_id, now + offset, ours)

    assert ours == theirs
    assert _ours_accepts(headers, body.encode(), [secret], now)
    assert _sdk_accepts(headers, body.encode(), secret)


@bounded
@given(key=keys, body=st.binary(max_size=2048), other=keys, data=st.data())
def test_clerk_signs_arbitrary_bytes_verifiably_with_any_current_secret(
    key: bytes, body: bytes, other: bytes, data: st.DataObject
) -> None:
    now = 1_750_000_000
    clerk = ClerkConnector()
    secret = _secret(key)
    # The unpadded form of a secret is the same secret (the SDKs add the padding back).
    stored = data.draw(st.sampled_from([secret, secret.rstrip("=")]))
    headers = clerk.sign(body, secret, timestamp=now, url="")
    lowered = {k.lower(): v for k, v in headers.items()}

    assert secret_key(stored) == key
    assert _ours_accepts(lowered, body, data.draw(st.permutations([stored, _secret(other)])), now)


@bounded
@given(key=keys, message_id=message_ids, body=st.binary(min_size=1, max_size=2048), data=st.data())
def test_any_single_byte_change_to_the_body_is_rejected(
    key: bytes, message_id: str, body: bytes, data: st.DataObject
) -> None:
    now = int(time.time())
    headers = _headers(message_id, now, svix_signature(key, message_id, now, body))
    changed = data.draw(byte_changes(body))

    assert not _ours_accepts(headers, changed, [_secret(key)], now)
    try:
        changed.decode()
    except UnicodeDecodeError:
        return  # the SDK only takes text bodies
    assert not _sdk_accepts(headers, changed, _secret(key))


@bounded
@given(key=keys, message_id=message_ids, body=text, data=st.data())
def test_any_change_to_id_timestamp_or_signature_is_rejected(
    key: bytes, message_id: str, body: str, data: st.DataObject
) -> None:
    now = int(time.time())
    good = _headers(message_id, now, svix_signature(key, message_id, now, body.encode()))
    name = data.draw(st.sampled_from(sorted(good)))
    alphabet = "0123456789" if name == "svix-timestamp" else None
    changed = {**good, name: data.draw(char_changes(good[name], alphabet))}
    # A different, still current timestamp proves the signature covers it (not only the window).
    assert _ours_accepts(good, body.encode(), [_secret(key)], now)
    accepted = _ours_accepts(changed, body.encode(), [_secret(key)], now)

    assert not accepted
    # The SDK decodes base64 leniently (it ignores stray characters and padding bits), so it
    # may accept an altered signature that decodes to the same bytes; we compare strictly.
    if name != "svix-signature":
        assert not _sdk_accepts(changed, body.encode(), _secret(key))


@bounded
@given(key=keys, message_id=message_ids, body=text, skew=st.integers(TOLERANCE + 1, 10**9))
def test_a_timestamp_outside_five_minutes_either_way_is_rejected(
    key: bytes, message_id: str, body: str, skew: int
) -> None:
    now = int(time.time())
    for stamp in (now - skew, now + skew):
        signed = svix_signature(key, message_id, stamp, body.encode())
        headers = _headers(message_id, stamp, signed)

        assert not _ours_accepts(headers, body.encode(), [_secret(key)], now)
        assert not _sdk_accepts(headers, body.encode(), _secret(key))


@bounded
@given(key=keys, other=keys, message_id=message_ids, body=text)
def test_a_different_secret_is_rejected(
    key: bytes, other: bytes, message_id: str, body: str
) -> None:
    now = int(time.time())
    headers = _headers(message_id, now, svix_signature(other, message_id, now, body.encode()))

    assert _ours_accepts(headers, body.encode(), [_secret(key)], now) == (key == other)


@bounded
@given(stamp=header_values, signature=header_values, message_id=header_values)
@example(stamp="inf", signature="v1,AAAA", message_id="msg")  # was OverflowError: a 500
@example(stamp="-1e400", signature="v1,AAAA", message_id="msg")
@example(stamp="nan", signature="v1,AAAA", message_id="msg")
def test_arbitrary_headers_are_refused_as_signature_errors(
    stamp: str, signature: str, message_id: str
) -> None:
    """Any header values: a SignatureError, never another exception; never accepted."""
    headers = _headers(message_id, stamp, signature)
    assert not _ours_accepts(headers, b"{}", [_secret(b"k" * 24)], time.time())


@bounded
@given(
    key=keys,
    message_id=message_ids,
    body=text,
    junk=st.integers(0, MAX_PRESENTED_SIGNATURES - 1),
    position=st.integers(0, MAX_PRESENTED_SIGNATURES - 1),
)
def test_a_valid_signature_among_as_many_as_the_cap_allows_verifies_and_the_sdk_agrees(
    key: bytes, message_id: str, body: str, junk: int, position: int
) -> None:
    """Svix presents one signature per active secret; the cap never refuses that."""
    now = int(time.time())
    valid = svix_signature(key, message_id, now, body.encode())
    values = ["v1,AAAAAAAA"] * junk
    values.insert(min(position, junk), valid)
    headers = _headers(message_id, now, " ".join(values))
    assert _ours_accepts(headers, body.encode(), [_secret(key)], now)
    assert _sdk_accepts(headers, body.encode(), _secret(key))


@bounded
@given(key=keys, message_id=message_ids, extra=st.integers(1, 3000))
def test_more_signatures_than_the_cap_are_refused_even_with_a_valid_one(
    key: bytes, message_id: str, extra: int
) -> None:
    now = int(time.time())
    valid = svix_signature(key, message_id, now, b"{}")
    headers = _headers(
        message_id, now, " ".join([valid] + ["v1,AA"] * (MAX_PRESENTED_SIGNATURES - 1 + extra))
    )
    try:
        scheme.verify(headers, b"{}", [_secret(key)], now=now)
    except SignatureError as refused:
        assert refused.reason == "too_many_signatures"
    else:
        raise AssertionError("a header past the cap was verified")
