"""Stripe's `t=,v1=` scheme: properties, cross-checked with the official stripe SDK."""

from __future__ import annotations

import time

import stripe
from hypothesis import example, given
from hypothesis import strategies as st

from integration_hub.connectors.base import Delivery
from integration_hub.connectors.schemes.common import MAX_PRESENTED_SIGNATURES
from integration_hub.connectors.stripe.webhook import MAX_SIGNATURE_ITEMS, StripeConnector
from integration_hub.errors import SignatureError
from tests.properties.strategies import (
    bounded,
    byte_changes,
    char_changes,
    header_values,
    nonempty_text,
    text,
)

TOLERANCE = 300
stripe_connector = StripeConnector(tolerance_seconds=TOLERANCE)
secrets = nonempty_text.map(lambda s: "whsec_" + s)
# Seconds from "now" to the signed timestamp: old but within tolerance, or in the future.
offsets = st.integers(-TOLERANCE + 30, 10**6)


def _ours_accepts(body: bytes, header: str, keys: list[str], now: float) -> bool:
    delivery = Delivery(body, {"stripe-signature": header}, "", now)
    try:
        stripe_connector.verify(delivery, keys, now=now)
    except SignatureError:
        return False
    return True


def _sdk_accepts(body: str, header: str, secret: str) -> bool:
    try:
        stripe.WebhookSignature.verify_header(body, header, secret, tolerance=TOLERANCE)
    except stripe.SignatureVerificationError:
        return False
    return True


def _sign(body: bytes, secret: str, timestamp: int) -> str:
    return stripe_connector.sign(body, secret, timestamp=timestamp, url="")["Stripe-Signature"]


@bounded
@given(body=text, secret=secrets, offset=offsets)
def test_sign_then_verify_round_trips_and_the_sdk_agrees(
    body: str, secret: str, offset: int
) -> None:
    now = int(time.time())
    header = _sign(body.encode(), secret, now + offset)

    assert _ours_accepts(body.encode(), header, [secret], now)
    assert _sdk_accepts(body, header, secret)
    sdk_header = stripe.WebhookSignature.generate_signature_header(body, secret, now + offset)
    assert sdk_header == header


@bounded
@given(body=st.binary(max_size=2048), secret=secrets, other=secrets, data=st.data())
def test_any_current_secret_verifies_arbitrary_bytes(
    body: bytes, secret: str, other: str, data: st.DataObject
) -> None:
    now = 1_750_000_000
    keys = data.draw(st.permutations([secret, other]))
    assert _ours_accepts(body, _sign(body, secret, now), keys, now)


@bounded
@given(body=st.binary(min_size=1, max_size=2048), secret=secrets, data=st.data())
def test_any_single_byte_change_to_the_body_is_rejected(
    body: bytes, secret: str, data: st.DataObject
) -> None:
    now = int(time.time())
    header = _sign(body, secret, now)
    changed = data.draw(byte_changes(body))

    assert not _ours_accepts(changed, header, [secret], now)
    try:
        decoded = changed.decode()
    except UnicodeDecodeError:
        return  # the SDK only takes text bodies
    assert not _sdk_accepts(decoded, header, secret)


@bounded
@given(body=text, secret=secrets, data=st.data())
def test_any_single_character_change_to_the_header_is_rejected(
    body: str, secret: str, data: st.DataObject
) -> None:
    """The header carries the timestamp and the signature: changing either fails, for both."""
    now = int(time.time())
    header = _sign(body.encode(), secret, now)
    changed = data.draw(char_changes(header))

    assert not _ours_accepts(body.encode(), changed, [secret], now)
    assert not _sdk_accepts(body, changed, secret)


@bounded
@given(body=text, secret=secrets, delta=st.integers(-(10**9), 10**9).filter(bool))
def test_a_different_timestamp_is_rejected(body: str, secret: str, delta: int) -> None:
    now = int(time.time())
    header = _sign(body.encode(), secret, now)
    signature = header.split(",v1=")[1]
    moved = f"t={now + delta},v1={signature}"

    assert not _ours_accepts(body.encode(), moved, [secret], now)
    assert not _sdk_accepts(body, moved, secret)


@bounded
@given(body=text, secret=secrets, age=st.integers(TOLERANCE + 1, 10**9))
def test_a_stale_timestamp_is_rejected_even_when_signed(body: str, secret: str, age: int) -> None:
    now = int(time.time())
    header = _sign(body.encode(), secret, now - age)

    assert not _ours_accepts(body.encode(), header, [secret], now)
    assert not _sdk_accepts(body, header, secret)


@bounded
@given(body=text, secret=secrets, wrong=secrets)
def test_a_different_secret_is_rejected(body: str, secret: str, wrong: str) -> None:
    now = int(time.time())
    header = _sign(body.encode(), wrong, now)

    assert _ours_accepts(body.encode(), header, [secret], now) == (secret == wrong)


@bounded
@given(header=header_values, body=text)
@example(header="t=" + "9" * 5000 + ",v1=00", body="")
@example(header="t=1,v1=\xe9", body="")
def test_arbitrary_headers_are_refused_as_signature_errors_like_the_sdk(
    header: str, body: str
) -> None:
    """Any header value: a SignatureError, never another exception; never accepted."""
    secret = "whsec_test"
    assert not _ours_accepts(body.encode(), header, [secret], 0)
    if header.isascii():  # the SDK's own compare raises TypeError on non-ASCII signatures
        assert not _sdk_accepts(body, header, secret)


@bounded
@given(
    key=secrets,
    body=st.binary(max_size=512),
    junk=st.integers(0, MAX_PRESENTED_SIGNATURES - 1),
    position=st.integers(0, MAX_PRESENTED_SIGNATURES - 1),
)
def test_a_valid_v1_among_as_many_as_the_cap_allows_still_verifies(
    key: str, body: bytes, junk: int, position: int
) -> None:
    """The cap on presented signatures never refuses what Stripe sends (one v1 per active
    secret): up to the cap, the valid value is found wherever it stands."""
    now = int(time.time())
    valid = _sign(body, key, now).split(",", 1)[1]
    values = ["v1=" + "0" * 64] * junk
    values.insert(min(position, junk), valid)
    assert _ours_accepts(body, f"t={now}," + ",".join(values), [key], now)


@bounded
@given(key=secrets, extra=st.integers(1, 3000))
def test_more_items_than_the_cap_are_refused_before_any_comparison(key: str, extra: int) -> None:
    now = int(time.time())
    valid = _sign(b"{}", key, now)
    header = valid + ",v1=00" * (MAX_SIGNATURE_ITEMS - 1 + extra)
    delivery = Delivery(b"{}", {"stripe-signature": header}, "", now)
    try:
        stripe_connector.verify(delivery, [key], now=now)
    except SignatureError as refused:
        assert refused.reason == "too_many_signatures"
    else:
        raise AssertionError("a header past the cap was verified")
