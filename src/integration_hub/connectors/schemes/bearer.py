"""A shared token the sender presents verbatim in a header (Auth0 log streams and others that
sign nothing): compared in constant time with every current token (rotation)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from integration_hub.connectors.schemes.common import any_signature_matches
from integration_hub.errors import SignatureError


@dataclass(frozen=True, slots=True)
class BearerToken:
    header: str = "authorization"  # lower case
    # Also the token alone, for senders configured with the bare value instead of `Bearer <t>`.
    allow_bare: bool = True

    def verify(self, headers: Mapping[str, str], secrets: Sequence[str]) -> None:
        """Raise `SignatureError` unless the header holds a current token."""
        presented = headers.get(self.header)
        if not presented:
            raise SignatureError(f"{self.header} header is missing", reason="missing_signature")
        forms = ("Bearer {}", "{}") if self.allow_bare else ("Bearer {}",)
        expected = [form.format(token) for token in secrets for form in forms]
        if not any_signature_matches(expected, [presented]):
            raise SignatureError(f"{self.header} does not match a current token")

    def sign(self, secret: str) -> dict[str, str]:
        return {self.header.title(): f"Bearer {secret}"}
