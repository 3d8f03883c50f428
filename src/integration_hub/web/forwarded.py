"""Who called, as the edge sees it: the one client-address rule and the URL a partner called.

Addresses are compared as addresses (`ipaddress`), never as strings: `::1`, `0:0::1` and an
IPv4 peer seen on a dual-stack socket as `::ffff:10.0.0.5` are each one address, whatever
spelling `HUB_TRUSTED_PROXIES` or the socket used.

The client address (rate limits, the audit trail, connection caps' exemption): the socket peer,
unless it is a trusted proxy; then the right-most `X-Forwarded-For` hop that is not itself a
trusted proxy. A proxy appends to those lists, so values further left came with the request,
from anyone.

The URL a partner called, for schemes that sign it (Twilio): `HUB_PUBLIC_BASE_URL` decides when
it is set. Without it, the request's own scheme and Host header, and `X-Forwarded-Host` /
`X-Forwarded-Proto` only from a trusted proxy, and only their right-most value (the one that
proxy wrote).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping
from functools import lru_cache
from ipaddress import IPv4Address, IPv6Address

from starlette.types import Scope

FORWARDED_SCHEMES = frozenset({"http", "https"})
# A forwarded hop is text from a header: bounded before it is a rate-limit key or a log field.
MAX_ADDRESS_CHARS = 64

Address = IPv4Address | IPv6Address


def parse_address(text: str) -> Address | None:
    """`text` as an address: an IPv6 zone (`%eth0`) dropped, an IPv4-mapped IPv6 address as
    its IPv4 address; None when it is not an address."""
    try:
        address = ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=8)
def _trusted_addresses(entries: frozenset[str]) -> frozenset[Address]:
    # Parsed once per setting value; an entry that is not an address can match no peer.
    return frozenset(a for entry in entries if (a := parse_address(entry)) is not None)


def is_trusted_proxy(peer: str | None, trusted_proxies: Collection[str]) -> bool:
    """Whether the socket peer `peer` is one of `trusted_proxies` (as addresses)."""
    if not peer or not trusted_proxies:
        return False
    address = parse_address(peer)
    return address is not None and address in _trusted_addresses(frozenset(trusted_proxies))


def _canonical(text: str) -> str:
    address = parse_address(text)
    return str(address) if address is not None else text[:MAX_ADDRESS_CHARS]


def client_address(
    peer: tuple[str, int] | None, forwarded_for: str | None, trusted_proxies: Collection[str]
) -> str:
    """The socket peer, unless it is a trusted proxy: then the right-most X-Forwarded-For hop
    that is not itself a trusted proxy (hops further left were written by the client).
    Canonical text when it is an address, so one client is one key however it is spelled."""
    address = peer[0] if peer and peer[0] else "unknown"
    if forwarded_for and is_trusted_proxy(address, trusted_proxies):
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not is_trusted_proxy(hop, trusted_proxies):
                return _canonical(hop)
        if hops:  # every hop is a proxy of ours: the left-most is the nearest to the client
            return _canonical(hops[0])
    return _canonical(address)


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
    trusted_proxies: Collection[str],
) -> str:
    """The URL the partner called: `public_base` (no trailing slash) + path + query, else what
    a trusted proxy forwarded, else what this request says."""
    query = scope.get("query_string", b"").decode("latin-1")
    base = public_base
    if base is None:
        scheme, host = scope.get("scheme", "http"), headers.get("host", "")
        client = scope.get("client")
        if client and is_trusted_proxy(client[0], trusted_proxies):
            host = nearest_forwarded(headers.get("x-forwarded-host")) or host
            proto = (nearest_forwarded(headers.get("x-forwarded-proto")) or "").lower()
            if proto in FORWARDED_SCHEMES:  # never "javascript" or any other scheme
                scheme = proto
        base = f"{scheme}://{host}"
    return f"{base}{scope['path']}" + (f"?{query}" if query else "")
