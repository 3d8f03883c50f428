"""A feed's body within its bound: an HTTP answer streamed and decompressed by bounded steps
(a 20 KB gzip that inflates to gigabytes stops at 2 MB + 1 byte of output, never more in
memory), or a local regular file read without blocking.

Errors name sizes, encodings and error types, never the URL or the path.
"""

from __future__ import annotations

import os
import stat
import time
import zlib
from pathlib import Path
from typing import Any

import httpx
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.ical import NAME
from integration_hub.connectors.ical.parse import MAX_FEED_BYTES
from integration_hub.connectors.outbound import call_failed

OPERATION = "fetch_feed"


def refused(message: str, code: str) -> ApplicationError:
    return call_failed(NAME, OPERATION, status=None, message=message, code=code, retryable=False)


def too_large(size: int) -> ApplicationError:
    return refused(f"the feed is over {MAX_FEED_BYTES} bytes ({size} bytes read)", "feed_too_large")


# Content-Encodings decoded here, by bounded steps: zlib's window bits for gzip and deflate.
DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
CHUNK_BYTES = 64 * 1024


def _decoder(response: httpx.Response) -> Any:
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding == "x-gzip":
        encoding = "gzip"
    if encoding not in DECODERS:
        raise refused("the feed is sent in an encoding not asked for", "feed_encoding")
    return zlib.decompressobj(DECODERS[encoding])


def _inflate(decoder: Any, data: bytes, room: int) -> bytes:
    """At most `room` + 1 bytes of what `data` inflates to (more is too large anyway)."""
    out: bytes = decoder.decompress(data, room + 1)
    while len(out) <= room and decoder.unconsumed_tail:
        out += decoder.decompress(decoder.unconsumed_tail, room + 1 - len(out))
    return out


def read_capped(response: httpx.Response, deadline: float) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FEED_BYTES:
        raise too_large(int(declared))
    decoder = _decoder(response)
    chunks, size, received = [], 0, 0
    try:
        for raw in response.iter_raw(CHUNK_BYTES):
            received += len(raw)
            if received > MAX_FEED_BYTES:
                raise too_large(received)
            chunk = raw if decoder is None else _inflate(decoder, raw, MAX_FEED_BYTES - size)
            size += len(chunk)
            if size > MAX_FEED_BYTES:
                raise too_large(size)  # stops reading: the rest is never downloaded
            if time.monotonic() > deadline:
                raise call_failed(
                    NAME, OPERATION, status=None, message="the feed took too long to download"
                )
            chunks.append(chunk)
    except zlib.error:
        raise refused("the feed's compressed body is corrupt", "feed_encoding") from None
    return b"".join(chunks)


def read_file(path: Path) -> bytes:
    """A regular file's bytes: opened without blocking (a FIFO never hangs the worker) and
    checked after opening (what was opened is what is read), within the feed bound."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        raise refused("the feed file does not exist", "feed_file_missing") from None
    except OSError as error:
        raise refused(
            f"the feed file cannot be read ({type(error).__name__})", "feed_file"
        ) from None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise refused("the feed file is not a regular file", "feed_file")
        size = os.fstat(descriptor).st_size
        if size > MAX_FEED_BYTES:
            raise too_large(size)
        with os.fdopen(descriptor, "rb", closefd=False) as file:
            body: bytes = file.read(MAX_FEED_BYTES + 1)
    except OSError as error:
        raise refused(
            f"the feed file cannot be read ({type(error).__name__})", "feed_file"
        ) from None
    finally:
        os.close(descriptor)
    if len(body) > MAX_FEED_BYTES:
        raise too_large(len(body))
    return body
