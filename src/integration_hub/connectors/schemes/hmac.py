"""One HMAC scheme for every partner that signs the body (GitHub-style `sha256=<hex>`, Shopify's
base64, DocuSign's numbered `X-DocuSign-Signature-1..N`) or a timestamp, a separator and the body
(with the timestamp in its own header, in seconds or milliseconds, within the tolerance).

The key is the secret's UTF-8 bytes. Presented values are capped before any comparison and
compared in constant time against every current secret (rotation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from integration_hub.connectors.schemes.common import (
    DEFAULT_TOLERANCE_SECONDS,
    MAX_PRESENTED_SIGNATURES,
    Encoding,
    HashName,
    any_signature_matches,
    hmac_digest,
    too_many_signatures,
)
from integration_hub.errors import SignatureError

# A unix time in milliseconds has 13 digits; anything much longer is not a time.
MAX_TIMESTAMP_DIGITS = 16


@dataclass(frozen=True, slots=True)
class HmacScheme:
    """`header` is lower case; with `numbered`, it is the prefix of `<header>1`, `<header>2`..."""

    header: str
    algorithm: HashName = "sha256"
    encoding: Encoding = "hex"
    prefix: str = ""  # written before the digest, e.g. "sha256="
    numbered: bool = False
    # Set: the message is `<timestamp as sent><separator><body>` and the timestamp must be
    # within `tolerance_seconds` of now, either way.
    timestamp_header: str | None = None
    separator: bytes = b"."
    timestamp_unit: Literal["s", "ms"] = "s"
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS
    # How many numbered headers a sender may present (one per active key): DocuSign Connect
    # documents up to 100 HMAC keys; past this the delivery is refused before any comparison.
    max_presented: int = MAX_PRESENTED_SIGNATURES

    @property
    def signs_timestamp(self) -> bool:
        return self.timestamp_header is not None

    def digest(self, secret: str, message: bytes) -> str:
        """What the sender writes in the header for `message`, prefix included."""
        text = hmac_digest(
            secret.encode(), message, algorithm=self.algorithm, encoding=self.encoding
        )
        return self.prefix + text

    def message(self, body: bytes, stamp: str | None) -> bytes:
        return body if stamp is None else stamp.encode() + self.separator + body

    def _presented(self, headers: Mapping[str, str]) -> list[str]:
        if not self.numbered:
            value = headers.get(self.header)
            return [value] if value else []
        names = [
            name
            for name in headers
            if name.startswith(self.header) and name[len(self.header) :].isdecimal()
        ]
        if len(names) > self.max_presented:
            raise too_many_signatures(len(names), f"{self.header}N", self.max_presented)
        return [headers[name] for name in names if headers[name]]

    def _stamp(self, headers: Mapping[str, str], now: float) -> str | None:
        if self.timestamp_header is None:
            return None
        stamp = headers.get(self.timestamp_header, "")
        if not stamp:
            raise SignatureError(
                f"{self.timestamp_header} header is missing", reason="missing_signature"
            )
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= MAX_TIMESTAMP_DIGITS):
            raise SignatureError(
                f"{self.timestamp_header} is not a unix time", reason="malformed_signature"
            )
        seconds = int(stamp) / (1000 if self.timestamp_unit == "ms" else 1)
        if abs(now - seconds) > self.tolerance_seconds:
            raise SignatureError(
                f"timestamp is more than {self.tolerance_seconds}s from now",
                reason="timestamp_out_of_tolerance",
            )
        return stamp

    def verify(
        self, headers: Mapping[str, str], body: bytes, secrets: Sequence[str], *, now: float
    ) -> None:
        """Raise `SignatureError` unless a current secret signed this delivery."""
        presented = self._presented(headers)
        if not presented:
            name = f"{self.header}1" if self.numbered else self.header
            raise SignatureError(f"{name} header is missing", reason="missing_signature")
        message = self.message(body, self._stamp(headers, now))
        expected = [self.digest(secret, message) for secret in secrets]
        if not any_signature_matches(expected, presented, limit=self.max_presented):
            raise SignatureError("no signature matches a current webhook secret")

    def sign(self, body: bytes, secret: str, *, timestamp: int) -> dict[str, str]:
        """The headers a sender writes; `timestamp` in unix seconds."""
        headers: dict[str, str] = {}
        stamp = None
        if self.timestamp_header is not None:
            stamp = str(timestamp * 1000 if self.timestamp_unit == "ms" else timestamp)
            headers[self.timestamp_header] = stamp
        name = f"{self.header}1" if self.numbered else self.header
        headers[name] = self.digest(secret, self.message(body, stamp))
        return headers
