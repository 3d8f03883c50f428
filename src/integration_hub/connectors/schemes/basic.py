"""HTTP Basic authentication (RFC 7617), for senders that offer nothing else: each current
secret is `user:password`, compared in constant time as the encoded credentials."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from integration_hub.connectors.schemes.common import any_signature_matches
from integration_hub.errors import SignatureError


def credentials(secret: str) -> str:
    return base64.b64encode(secret.encode()).decode()


@dataclass(frozen=True, slots=True)
class BasicAuth:
    header: str = "authorization"  # lower case

    def verify(self, headers: Mapping[str, str], secrets: Sequence[str]) -> None:
        """Raise `SignatureError` unless the header holds a current `user:password`."""
        presented = headers.get(self.header)
        if not presented:
            raise SignatureError(f"{self.header} header is missing", reason="missing_signature")
        scheme, _, encoded = presented.partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            raise SignatureError(
                f"{self.header} is not Basic credentials", reason="malformed_signature"
            )
        expected = [credentials(secret) for secret in secrets]
        if not any_signature_matches(expected, [encoded.strip()]):
            raise SignatureError(f"{self.header} does not match current credentials")

    def sign(self, secret: str) -> dict[str, str]:
        return {self.header.title(): f"Basic {credentials(secret)}"}
