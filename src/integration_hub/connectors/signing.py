"""Signature primitives shared by several partners' schemes."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable


def hmac_sha256_hex(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def any_signature_matches(expected: Iterable[str], presented: Iterable[str]) -> bool:
    """Constant-time comparison of every expected value against every presented one.

    All pairs are compared (no early exit), so timing does not reveal which secret or
    which presented signature came closest.
    """
    presented = list(presented)
    matched = False
    for candidate in expected:
        for signature in presented:
            matched |= hmac.compare_digest(
                candidate.encode(), signature.encode("utf-8", "surrogateescape")
            )
    return matched
