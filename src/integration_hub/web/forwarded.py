"""The URL a partner called, for schemes that sign it (Twilio), rebuilt at the edge.

`HUB_PUBLIC_BASE_URL` decides when it is set. Without it, the request's own scheme and Host
header, and `X-Forwarded-Host` / `X-Forwarded-Proto` only from `HUB_TRUSTED_PROXIES`. A proxy
appends to those lists, so only the right-most value is the trusted proxy's; anything further
left came with the request, from anyone (the same end `admission.client_address` takes of
`X-Forwarded-For`).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import Scope

FORWARDED_SCHEMES = frozenset({"http", "https"})


def nearest_forwarded(header: str | None) -> str | None:
    """The right-most value of an X-Forwarded-Host/Proto list: the one the trusted proxy that
    connected to us wrote."""
    if not header:
        return None
    value = header.rsplit(",", 1)[-1].strip()
    return value or None


def request_url(
    scope: Scope,
    headers: Mapping[str, str],
    *,
    public_base: str | None,
    trusted_proxies: frozenset[str],
) -> str:
    """The URL the partner called: `public_base` (no trailing slash) + path + query, else what
    a trusted proxy forwarded, else what this request says."""
    query = scope.get("query_string", b"").decode("latin-1")
    base = public_base
    if base is None:
        scheme, host = scope.get("scheme", "http"), headers.get("host", "")
        client = scope.get("client")
        if client and client[0] in trusted_proxies:
            host = nearest_forwarded(headers.get("x-forwarded-host")) or host
            proto = (nearest_forwarded(headers.get("x-forwarded-proto")) or "").lower()
            if proto in FORWARDED_SCHEMES:  # never "javascript" or any other scheme
                scheme = proto
        base = f"{scheme}://{host}"
    return f"{base}{scope['path']}" + (f"?{query}" if query else "")
