"""Signature primitives shared by several partners' schemes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from collections.abc import Iterable, Mapping, Sequence

from integration_hub.errors import SignatureError


def hmac_sha256_hex(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


# A partner presents one signature per secret it currently signs with: one, two during a
# rotation, a few at most (Svix keeps several keys valid). Anything past this is an attempt to
# make the hub compare thousands of values before it has verified anything.
MAX_PRESENTED_SIGNATURES = 16


def too_many_signatures(count: int, header: str) -> SignatureError:
    return SignatureError(
        f"{header} carries {count} signatures; at most {MAX_PRESENTED_SIGNATURES}",
        reason="too_many_signatures",
    )


def any_signature_matches(expected: Iterable[str], presented: Iterable[str]) -> bool:
    """Constant-time comparison of every expected value against every presented one.

    All pairs are compared (no early exit), so timing does not reveal which secret or
    which presented signature came closest. More than `MAX_PRESENTED_SIGNATURES` presented
    values are refused (`too_many_signatures`) before any comparison, for every scheme.
    """
    presented = list(presented)
    if len(presented) > MAX_PRESENTED_SIGNATURES:
        raise too_many_signatures(len(presented), "the request")
    matched = False
    for candidate in expected:
        for signature in presented:
            matched |= hmac.compare_digest(
                candidate.encode(), signature.encode("utf-8", "surrogateescape")
            )
    return matched


# --- Standard Webhooks (Svix): Clerk today; Resend and others later -----------------------
# standard-webhooks/libraries/python webhooks.py, and svix/webhooks.py, which maps svix-*
# headers onto webhook-*: HMAC-SHA256 over "{id}.{timestamp}.{body}", keyed by the base64
# secret after "whsec_", base64 signatures "v1,<sig>" separated by spaces, 5 minutes either way.

STANDARD_WEBHOOKS_TOLERANCE_SECONDS = 300
STANDARD_WEBHOOKS_SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def standard_webhooks_key(secret: str) -> bytes:
    raw = secret.removeprefix(STANDARD_WEBHOOKS_SECRET_PREFIX)
    return base64.b64decode(raw + "==")  # the SDKs accept unpadded secrets too


def standard_webhooks_signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _header(headers: Mapping[str, str], name: str) -> str:
    return headers.get(f"svix-{name}") or headers.get(f"webhook-{name}") or ""


def standard_webhooks_id(headers: Mapping[str, str]) -> str:
    return _header(headers, "id")


def verify_standard_webhook(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    *,
    now: float,
    tolerance_seconds: int = STANDARD_WEBHOOKS_TOLERANCE_SECONDS,
) -> None:
    """Raise `SignatureError` unless a current secret signed this delivery within tolerance."""
    message_id, stamp, signatures = (
        _header(headers, "id"),
        _header(headers, "timestamp"),
        _header(headers, "signature"),
    )
    if not (message_id and stamp and signatures):
        raise SignatureError(
            "svix-id, svix-timestamp and svix-signature are all required",
            reason="missing_signature",
        )
    # The header's shape first, as for Stripe: counted before splitting, since the list is
    # the attacker's until a signature matches.
    if (count := signatures.count(" ") + 1) > MAX_PRESENTED_SIGNATURES:
        raise too_many_signatures(count, "svix-signature")
    try:
        timestamp = math.floor(float(stamp))
    except (ValueError, OverflowError):  # "nan" is a ValueError; "inf" and "1e400" overflow
        raise SignatureError(
            "svix-timestamp is not a number", reason="malformed_signature"
        ) from None
    if abs(now - timestamp) > tolerance_seconds:
        raise SignatureError(
            f"timestamp is more than {tolerance_seconds}s from now",
            reason="timestamp_out_of_tolerance",
        )
    presented = [
        signature
        for version, _, signature in (item.partition(",") for item in signatures.split(" "))
        if version == "v1"
    ]
    if not presented:
        raise SignatureError("svix-signature has no v1 signature", reason="malformed_signature")
    expected = [
        standard_webhooks_signature(standard_webhooks_key(s), message_id, timestamp, body)[3:]
        for s in secrets
    ]
    if not any_signature_matches(expected, presented):
        raise SignatureError("no v1 signature matches a current webhook secret")
