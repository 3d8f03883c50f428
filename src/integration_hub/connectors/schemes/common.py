"""What every signature scheme shares: constant-time comparison and the caps that bound the
work done for a request nobody has verified yet."""

from __future__ import annotations

import base64
import hmac
from collections.abc import Iterable, Mapping
from typing import Literal

from integration_hub.errors import SignatureError

HashName = Literal["sha1", "sha256"]
Encoding = Literal["hex", "base64"]

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


def hmac_digest(key: bytes, message: bytes, *, algorithm: HashName, encoding: Encoding) -> str:
    """HMAC of `message` under `key`, as text in `encoding`."""
    digest = hmac.new(key, message, algorithm)
    if encoding == "hex":
        return digest.hexdigest()
    return base64.b64encode(digest.digest()).decode()


def hmac_sha256_hex(key: bytes, message: bytes) -> str:
    return hmac_digest(key, message, algorithm="sha256", encoding="hex")


def missing(headers: Iterable[str]) -> SignatureError:
    names = ", ".join(headers)
    return SignatureError(f"missing signature header(s): {names}", reason="missing_signature")


def first_header(headers: Mapping[str, str], names: Iterable[str]) -> str:
    """The first of `names` (lower case) present and non-empty, else ""."""
    for name in names:
        if value := headers.get(name):
            return value
    return ""
