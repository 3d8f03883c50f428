"""Connections to feed hosts that go only where the check said they may.

A name is resolved once, at connect time, by `PinnedBackend` (httpcore's network backend): each
address is checked (`feeds.is_public_address`) and the socket connects to that same address,
so a name that answers a public address to a check and a private one to the connect (DNS
rebinding) cannot reach our own network. TLS still verifies, and SNI and Host still name, the
host as written in the URL (httpcore passes the URL's host as the server name).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from integration_hub.connectors.ical.feeds import Resolver, is_public_address


class PrivateAddress(Exception):
    """The host resolved (at connect time) to an address that is not global."""


class PinnedBackend(httpcore.SyncBackend):
    def __init__(self, resolve: Resolver, *, allow_private_hosts: bool) -> None:
        self._resolve, self._allow_private = resolve, allow_private_hosts

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            answers = self._resolve(host, port, type=socket.SOCK_STREAM)
        except OSError as error:
            message = f"the host did not resolve ({type(error).__name__})"
            raise httpcore.ConnectError(message) from None
        addresses = [str(answer[4][0]).split("%")[0] for answer in answers]
        if not addresses:
            raise httpcore.ConnectError("the host did not resolve")
        if not self._allow_private and not all(
            is_public_address(ipaddress.ip_address(a)) for a in addresses
        ):
            raise PrivateAddress("the feed host resolves to a private address")
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in dict.fromkeys(addresses):  # in the resolver's order, each once
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure


def pinned_transport(resolve: Resolver, *, allow_private_hosts: bool) -> httpx.HTTPTransport:
    """An httpx transport whose every connection goes through a `PinnedBackend`."""
    transport = httpx.HTTPTransport(trust_env=False)
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        network_backend=PinnedBackend(resolve, allow_private_hosts=allow_private_hosts),
    )
    return transport
