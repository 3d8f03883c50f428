"""What every signature scheme shares: constant-time comparison and the caps that bound the
work done for a request nobody has verified yet."""

from __future__ import annotations

import base64
import hmac
from collections.abc import Iterable
from typing import Literal

from integration_hub.errors import SignatureError

HashName = Literal["sha1", "sha256"]
Encoding = Literal["hex", "base64"]

# A partner presents one signature per secret it currently signs with: one, two during a
# rotation, a few at most (Svix keeps several keys valid). Anything past this is an attempt to
# make the hub compare thousands of values before it has verified anything.
MAX_PRESENTED_SIGNATURES = 16


def too_many_signatures(
    count: int, header: str, limit: int = MAX_PRESENTED_SIGNATURES
) -> SignatureError:
    return SignatureError(
        f"{header} carries {count} signatures; at most {limit}",
        reason="too_many_signatures",
    )


def any_signature_matches(
    expected: Iterable[str], presented: Iterable[str], *, limit: int = MAX_PRESENTED_SIGNATURES
) -> bool:
    """Constant-time comparison of every expected value against every presented one.

    All pairs are compared (no early exit), so timing does not reveal which secret or
    which presented signature came closest. More than `MAX_PRESENTED_SIGNATURES` presented
    values are refused (`too_many_signatures`) before any comparison, for every scheme; a
    scheme whose sender documents more keys (DocuSign Connect: up to 100) passes its `limit`.
    """
    presented = list(presented)
    if len(presented) > limit:
        raise too_many_signatures(len(presented), "the request", limit)
    matched = False
    for candidate in expected:
        for signature in presented:
            matched |= hmac.compare_digest(
                candidate.encode(), signature.encode("utf-8", "surrogateescape")
            )
    return matched


# Every timestamped scheme's window unless HUB_SIGNATURE_TOLERANCE_SECONDS says otherwise.
DEFAULT_TOLERANCE_SECONDS = 300


def hmac_digest(key: bytes, message: bytes, *, algorithm: HashName, encoding: Encoding) -> str:
    """HMAC of `message` under `key`, as text in `encoding`."""
    digest = hmac.new(key, message, algorithm)
    if encoding == "hex":
        return digest.hexdigest()
    return base64.b64encode(digest.digest()).decode()
