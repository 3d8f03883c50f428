"""ECDSA P-256 over timestamp + body (the shape of an email provider's Event Webhook): the
sender signs `<timestamp as sent><body>` with SHA-256, sends the DER signature base64-encoded
in one header and the unix time (seconds) in another, and publishes its public key as base64
DER (SubjectPublicKeyInfo). The hub holds public keys only, so the "secret" versions are
public keys; during a key change either of them verifies.

One signature per delivery: a header holding more than one value is malformed. Every size is
bounded before any decoding or curve arithmetic.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from integration_hub.connectors.schemes.common import (
    DEFAULT_TOLERANCE_SECONDS,
    MAX_PRESENTED_SIGNATURES,
)
from integration_hub.errors import SecretNotConfigured, SignatureError

# A DER ECDSA P-256 signature is at most 72 bytes (96 base64 characters); a little slack for
# padding variants, nothing that makes the hub decode kilobytes for an unverified request.
MAX_SIGNATURE_CHARS = 128
MAX_TIMESTAMP_DIGITS = 12  # unix seconds have 10 digits until the year 2286
# A base64 DER P-256 public key is 124 characters; longer is not one.
MAX_PUBLIC_KEY_CHARS = 512


@functools.lru_cache(maxsize=MAX_PRESENTED_SIGNATURES)
def _public_key(text: str) -> ec.EllipticCurvePublicKey | None:
    """The P-256 key a configured version holds, or None when it is not one (parsed once:
    ingest verifies every delivery with the same few keys)."""
    if len(text) > MAX_PUBLIC_KEY_CHARS:
        return None
    try:
        key = serialization.load_der_public_key(base64.b64decode(text.strip(), validate=True))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        return None
    return key


def public_key_text(private_key: ec.EllipticCurvePrivateKey) -> str:
    """The base64 DER public key a sender publishes for `private_key` (what the hub stores)."""
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


@dataclass(frozen=True, slots=True)
class EcdsaScheme:
    """`header` carries the signature, `timestamp_header` the unix time; both lower case."""

    header: str
    timestamp_header: str
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS

    def message(self, body: bytes, stamp: str) -> bytes:
        return stamp.encode() + body

    def _stamp(self, headers: Mapping[str, str], now: float) -> str:
        stamp = headers.get(self.timestamp_header, "")
        if not stamp:
            raise SignatureError(
                f"{self.timestamp_header} header is missing", reason="missing_signature"
            )
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= MAX_TIMESTAMP_DIGITS):
            raise SignatureError(
                f"{self.timestamp_header} is not a unix time", reason="malformed_signature"
            )
        if abs(now - int(stamp)) > self.tolerance_seconds:
            raise SignatureError(
                f"timestamp is more than {self.tolerance_seconds}s from now",
                reason="timestamp_out_of_tolerance",
            )
        return stamp

    def _signature(self, headers: Mapping[str, str]) -> bytes:
        text = headers.get(self.header, "")
        if not text:
            raise SignatureError(f"{self.header} header is missing", reason="missing_signature")
        if len(text) > MAX_SIGNATURE_CHARS:
            raise SignatureError(
                f"{self.header} is longer than one signature", reason="malformed_signature"
            )
        try:
            return base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise SignatureError(
                f"{self.header} is not base64", reason="malformed_signature"
            ) from None

    def verify(
        self, headers: Mapping[str, str], body: bytes, secrets: Sequence[str], *, now: float
    ) -> None:
        """Raise `SignatureError` unless a current public key verifies this delivery.

        Every configured key is tried (no early exit) so timing does not say which one held.
        """
        signature = self._signature(headers)
        message = self.message(body, self._stamp(headers, now))
        keys = [key for key in map(_public_key, secrets) if key is not None]
        if not keys:  # the hub's configuration, not the sender's fault (503, names no value)
            raise SecretNotConfigured("no configured public key is a base64 DER P-256 key")
        matched = False
        for key in keys:
            try:
                key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                continue
            matched = True
        if not matched:
            # A signature that is not DER fails the same way as a wrong one: the library does
            # not say which, and the sender learns nothing either way.
            raise SignatureError("no signature matches a current public key")

    def sign(
        self, body: bytes, private_key: ec.EllipticCurvePrivateKey, *, timestamp: int
    ) -> dict[str, str]:
        """The headers a sender writes (`hub send`, tests); `timestamp` in unix seconds."""
        stamp = str(timestamp)
        der = private_key.sign(self.message(body, stamp), ec.ECDSA(hashes.SHA256()))
        return {self.timestamp_header: stamp, self.header: base64.b64encode(der).decode()}
