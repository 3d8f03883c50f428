"""Standard Webhooks (Svix): verify, sign, and the dedup id, for every partner that sends them.

As standard-webhooks `libraries/python/standardwebhooks/webhooks.py` and svix `webhooks.py` (which
maps `svix-*` headers onto `webhook-*`): HMAC-SHA256 over `"{id}.{timestamp}.{body}"`, keyed by
the base64 secret after `whsec_`, base64 signatures `v1,<sig>` separated by spaces, timestamps in
seconds within the tolerance either way. Checks run in the SDKs' order: headers, then the
timestamp window, then each versioned signature in constant time; the clock is injected.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from integration_hub.connectors.schemes.common import (
    DEFAULT_TOLERANCE_SECONDS,
    MAX_PRESENTED_SIGNATURES,
    any_signature_matches,
    hmac_digest,
    too_many_signatures,
)
from integration_hub.errors import SecretNotConfigured, SignatureError

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
VERSION = "v1"
# Both header families carry the same three values; Svix sends `svix-*`, others `webhook-*`.
FAMILIES = ("svix", "webhook")
Family = Literal["svix", "webhook"]
HEADERS = frozenset(f"{family}-{name}" for family in FAMILIES for name in ("id", "timestamp"))


def secret_key(secret: str) -> bytes:
    """The HMAC key a `whsec_<base64>` secret stands for (unpadded secrets too, as the SDKs).
    Raises ValueError (binascii.Error) for a value that is not base64."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX) + "==")


def _usable_keys(secrets: Sequence[str]) -> list[bytes]:
    """The keys of the configured secrets that decode; none: the configuration is at fault (503
    naming no value), not the sender, and every delivery would fail the same way."""
    keys = []
    for secret in secrets:
        try:
            keys.append(secret_key(secret))
        except ValueError:  # binascii.Error: a value pasted wrong; another version may work
            continue
    if not keys:
        raise SecretNotConfigured("no configured webhook secret is a whsec_<base64> value")
    return keys


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return f"{VERSION}," + hmac_digest(key, signed, algorithm="sha256", encoding="base64")


def header(headers: Mapping[str, str], name: str) -> str:
    """`svix-<name>`, else `webhook-<name>`, else "" (names lower case)."""
    return headers.get(f"svix-{name}") or headers.get(f"webhook-{name}") or ""


@dataclass(frozen=True, slots=True)
class StandardWebhooks:
    """The scheme, built once per connector with `HUB_SIGNATURE_TOLERANCE_SECONDS`."""

    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS
    family: Family = "svix"  # the headers `sign` writes

    @staticmethod
    def message_id(headers: Mapping[str, str]) -> str:
        """The dedup key: the message id, which the sender keeps across retries."""
        return header(headers, "id")

    def verify(
        self, headers: Mapping[str, str], body: bytes, secrets: Sequence[str], *, now: float
    ) -> None:
        """Raise `SignatureError` unless a current secret signed `body` within tolerance."""
        message_id, stamp, signatures = (
            header(headers, "id"),
            header(headers, "timestamp"),
            header(headers, "signature"),
        )
        if not (message_id and stamp and signatures):
            raise SignatureError(
                "svix-id, svix-timestamp and svix-signature (or webhook-*) are all required",
                reason="missing_signature",
            )
        # Counted before splitting: the list is the sender's until a signature matches.
        if (count := signatures.count(" ") + 1) > MAX_PRESENTED_SIGNATURES:
            raise too_many_signatures(count, "svix-signature")
        try:
            timestamp = math.floor(float(stamp))
        except (ValueError, OverflowError):  # "nan" is a ValueError; "inf" and "1e400" overflow
            raise SignatureError(
                "the timestamp header is not a number", reason="malformed_signature"
            ) from None
        if abs(now - timestamp) > self.tolerance_seconds:
            raise SignatureError(
                f"timestamp is more than {self.tolerance_seconds}s from now",
                reason="timestamp_out_of_tolerance",
            )
        presented = [
            value
            for version, _, value in (item.partition(",") for item in signatures.split(" "))
            if version == VERSION
        ]
        if not presented:
            raise SignatureError(
                "the signature header has no v1 signature", reason="malformed_signature"
            )
        prefix = len(VERSION) + 1
        expected = [
            signature(key, message_id, timestamp, body)[prefix:] for key in _usable_keys(secrets)
        ]
        if not any_signature_matches(expected, presented):
            raise SignatureError("no v1 signature matches a current webhook secret")

    def sign(
        self, body: bytes, secret: str, *, timestamp: int, message_id: str | None = None
    ) -> dict[str, str]:
        """The headers a sender writes. Without `message_id`, one derived from the body, as a
        retried message keeps its id."""
        message = message_id or "msg_" + hashlib.sha256(body).hexdigest()[:27]
        return {
            f"{self.family}-id": message,
            f"{self.family}-timestamp": str(timestamp),
            f"{self.family}-signature": signature(secret_key(secret), message, timestamp, body),
        }
