"""The download's own guards: a name resolved again at connect time to a private address
(DNS rebinding) is never connected to, and a compressed body never inflates past the bound in
memory."""

from __future__ import annotations

import socket
import time
import tracemalloc
import zlib
from typing import Any

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.call_limits import MemoryBackend, SharedLimiter
from integration_hub.connectors.ical.bodies import read_capped
from integration_hub.connectors.ical.download import HOST_BUDGET, FeedDownloader, Validators
from integration_hub.connectors.ical.parse import MAX_FEED_BYTES
from tests.connectors.ical.conftest import TOKEN
from tests.partner_server import PartnerServer


def test_a_name_that_rebinds_to_a_private_address_is_never_connected_to() -> None:
    """The check sees a public address, the connect would see 127.0.0.1 (where a server
    listens): the connection uses only an address it checked, so nothing reaches it."""
    answers = iter(["93.184.215.14", "127.0.0.1"])
    asked: list[str] = []

    def rebinding(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        asked.append(host)
        address = next(answers, "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    with PartnerServer() as server:
        port = int(server.url.rsplit(":", 1)[1])
        limiter = SharedLimiter("ical", HOST_BUDGET, MemoryBackend())
        fetcher = FeedDownloader(limiter, allow_private_hosts=False, resolve=rebinding)
        with pytest.raises(ApplicationError) as refused:
            fetcher.get(f"https://calendar.example.com:{port}/1.ics?{TOKEN}", Validators())
        requests = list(server.requests)

    assert refused.value.non_retryable and "private address" in refused.value.message
    assert TOKEN not in refused.value.message
    assert asked == ["calendar.example.com", "calendar.example.com"]  # checked, then pinned
    assert requests == []


def bomb(inflated_mb: int) -> bytes:
    """A gzip of `inflated_mb` MB of zeros, built without holding them."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    return b"".join([*(packer.compress(block) for _ in range(inflated_mb)), packer.flush()])


def test_a_gzip_bomb_never_inflates_past_the_bound_in_memory() -> None:
    packed = bomb(200)  # ~200 KB on the wire, 200 MB inflated: one network chunk or a few
    response = httpx.Response(
        200, headers={"content-encoding": "gzip"}, stream=httpx.ByteStream(packed)
    )

    tracemalloc.start()
    try:
        with pytest.raises(ApplicationError) as large:
            read_capped(response, time.monotonic() + 10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert large.value.non_retryable and f"over {MAX_FEED_BYTES} bytes" in large.value.message
    assert len(packed) < 1024 * 1024
    assert peak < 4 * MAX_FEED_BYTES  # the bound and a chunk, never the 200 MB


def test_a_compressed_feed_within_the_bound_is_read_whole() -> None:
    body = b"BEGIN:VCALENDAR\r\n" + b"BEGIN:VEVENT\r\nEND:VEVENT\r\n" * 1000 + b"END:VCALENDAR\r\n"
    for encoding, wbits in (("gzip", 16 + zlib.MAX_WBITS), ("deflate", zlib.MAX_WBITS)):
        packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
        packed = packer.compress(body) + packer.flush()
        response = httpx.Response(
            200, headers={"content-encoding": encoding}, stream=httpx.ByteStream(packed)
        )
        assert read_capped(response, time.monotonic() + 10) == body
    unasked = httpx.Response(200, headers={"content-encoding": "br"}, stream=httpx.ByteStream(b""))
    with pytest.raises(ApplicationError, match="encoding"):
        read_capped(unasked, time.monotonic() + 10)
