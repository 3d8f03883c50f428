"""`HubHttpProtocol`: uvicorn's httptools protocol with a receipt deadline, a cap on the request
head and per-client connection caps (the why is in web/server.py)."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import httptools
import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from integration_hub.web.connection_registry import (
    ConnectionRegistry,
    CutReason,
    TransportLimits,
)

# After a refusal the client may still be sending (a huge head): keep reading and dropping for
# a moment so it can read the answer instead of a reset, then close whatever happens. The
# byte bound keeps a client that sends at full speed from costing more than that.
LINGER_SECONDS = 1.0
LINGER_MAX_BYTES = 1024 * 1024


def _raw_response(status: int, reason: str, detail: str) -> bytes:
    body = orjson.dumps({"error": reason, "detail": detail})
    return b"".join(
        [
            STATUS_LINE[status],
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n",
            b"retry-after: 1\r\n" if status == 503 else b"",
            b"\r\n",
            body,
        ]
    )


class HubHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a receipt deadline, a head cap and connection caps.
    Used through `protocol_class`, which binds one server's limits and registry."""

    registry: ClassVar[ConnectionRegistry]

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._limits = self.registry.limits
        self._client_key: str | None = None
        self._admitted = False
        # When the request being received began (loop time), None between requests. One
        # timer per connection, re-armed lazily when it fires early: no timer per request.
        self._receipt_started: float | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._awaiting_request = True  # no byte of the next request has arrived
        self._in_head = True  # the current request's head is not complete
        self._head_bytes = 0
        self._lingering = False  # refused: what comes in is dropped
        self._draining = False  # refused and answered: read and drop until closed
        self._lingered_bytes = 0
        self._answer_after_response: bytes | None = None  # refused while an answer was out

    # Connection life.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._client_key = self.registry.key_for(self.client)
        if not self.registry.admit(self._client_key):
            cap = self._limits.max_connections_per_client
            detail = f"more than {cap} connections from {self._client_key}"
            self.registry.cut("too_many_connections", self.client, detail)
            transport.write(_raw_response(503, "too_many_connections", detail))
            transport.close()
            return
        self._admitted = True
        self.registry.make_room(self.connections, self)
        self.registry.waiting[self] = None
        self._arm_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_deadline()
        self.registry.waiting.pop(self, None)
        if self._admitted:
            self._admitted = False
            self.registry.release(self._client_key)
        super().connection_lost(exc)

    def evict(self) -> None:
        """Close this connection, which holds no request the app is serving, to make room."""
        self.registry.waiting.pop(self, None)
        # Counted as gone now: its connection_lost comes on a later turn of the loop.
        self.connections.discard(self)
        self.registry.cut("idle_evicted", self.client, "the server is at its connection limit")
        self._disarm_deadline()
        self.transport.close()

    # Bytes in.
    def data_received(self, data: bytes) -> None:
        if self._lingering:  # refused: nothing more reaches the parser
            if not self._draining:
                self.flow.pause_reading()  # an earlier answer is still due: hold, don't close
                return
            self._lingered_bytes += len(data)
            if self._lingered_bytes > LINGER_MAX_BYTES:
                self.transport.close()
            return
        self._unset_keepalive_if_required()
        self._awaiting_request = False
        self._arm_deadline()
        limit = self._limits.max_head_bytes
        offset = 0
        while offset < len(data) and not self.transport.is_closing():
            if self._in_head:
                # Feed no more than the head may still take: past that the head is too large
                # whatever comes next, and the parser never holds more than the limit.
                room = limit - self._head_bytes
                if room <= 0:
                    self._head_too_large()
                    return
                piece = data[offset : offset + room]
                self._head_bytes += len(piece)
            else:
                # Slices of at most the limit: a head that begins inside a slice goes
                # uncounted for the rest of it only, so it holds at most twice the limit.
                piece = data[offset : offset + limit]
            offset += len(piece)
            if not self._feed(piece):
                return
        if self._in_head and self._head_bytes >= limit and not self.transport.is_closing():
            self._head_too_large()

    def _feed(self, piece: bytes) -> bool:
        try:
            self.parser.feed_data(piece)
        except httptools.HttpParserError:
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
            return False
        except httptools.HttpParserUpgrade:
            self._unsupported_upgrade_warning()  # the hub serves no upgrades (ws="none")
            return False
        return True

    # Parser callbacks (httptools calls them from feed_data).
    def on_message_begin(self) -> None:
        self._arm_deadline()  # a request that begins in a read that ended the one before
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self.registry.waiting.pop(self, None)  # the app serves it now: not evictable
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._receipt_started = None  # received in time; the timer sees that when it fires
        self._in_head, self._head_bytes = True, 0
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if self._answer_after_response is not None and not self.pipeline:
            self.server_state.total_requests += 1
            if not self.transport.is_closing():
                self._answer_and_linger(self._answer_after_response)
            return
        super().on_response_complete()
        if self.cycle.response_complete and not (self._lingering or self.transport.is_closing()):
            # No request of this connection is with the app (none pipelined behind it): it
            # waits for the next one, evictable again. Until its next byte, uvicorn's
            # keep-alive timer watches it; from that byte on, the receipt deadline.
            self._awaiting_request = self._receipt_started is None
            self.registry.waiting[self] = None

    # Deadline.
    def _arm_deadline(self) -> None:
        """Start the receipt clock, unless a request is being received already."""
        if self._receipt_started is None:
            self._receipt_started = self.loop.time()
            if self._deadline is None:
                timeout = self._limits.receipt_timeout_seconds
                self._deadline = self.loop.call_later(timeout, self._deadline_passed)

    def _disarm_deadline(self) -> None:
        self._receipt_started = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self._receipt_started is None or self.transport.is_closing():
            return  # nothing being received: the next request's first byte re-arms
        remaining = self._receipt_started + self._limits.receipt_timeout_seconds - self.loop.time()
        if remaining > 0:  # armed for an earlier request, which arrived in time
            self._deadline = self.loop.call_later(remaining, self._deadline_passed)
            return
        seconds = f"{self._limits.receipt_timeout_seconds:g} s"
        if self._awaiting_request:
            self.registry.cut("idle_timeout", self.client, f"no request within {seconds}")
            self.transport.close()
        elif self._in_head:
            detail = f"the request head did not arrive within {seconds}"
            self._refuse("head_timeout", 408, "request_timeout", detail)
        else:
            detail = f"the request did not arrive within {seconds}"
            self._refuse("body_timeout", 408, "request_timeout", detail)

    def _head_too_large(self) -> None:
        detail = f"the request head passed {self._limits.max_head_bytes} bytes"
        self._refuse("headers_too_large", 431, "headers_too_large", detail)

    def _refuse(self, cut: CutReason, status: int, reason: str, detail: str) -> None:
        """Answer `status` when the request can still be answered, then close after a linger.
        Nothing else this connection sends is read into the parser any more."""
        self.registry.cut(cut, self.client, detail)
        self._lingering = True
        self._disarm_deadline()
        self.registry.waiting.pop(self, None)
        cycle = self.cycle
        if self._in_head and (cycle is None or cycle.response_complete):
            # A new request, nothing of it with the app and no earlier answer being written.
            self._answer_and_linger(_raw_response(status, reason, detail))
        elif not self._in_head and not cycle.response_started:
            # The app waits for this request's body: it now reads a disconnect, and whatever
            # it sends goes nowhere; the answer is ours.
            cycle.disconnected = True
            cycle.message_event.set()
            self._answer_and_linger(_raw_response(status, reason, detail))
        elif cycle.response_complete:
            self.transport.close()  # this request was answered early (e.g. 413): nothing to add
        else:
            # An answer is being written: an earlier request's, with this head pipelined
            # behind it (the requests queued before it are answered first, then ours, in
            # order), or this request's own (nothing follows). Read nothing more meanwhile.
            self._answer_after_response = (
                _raw_response(status, reason, detail) if self._in_head else b""
            )
            self.flow.pause_reading()

    def _answer_and_linger(self, answer: bytes) -> None:
        self._draining = True
        self.transport.write(answer)
        self.flow.resume_reading()  # read and drop what the client is still sending
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


def protocol_class(limits: TransportLimits) -> type[HubHttpProtocol]:
    """A HubHttpProtocol subclass bound to one server's limits and connection registry (uvicorn
    builds protocols from a class and its own arguments only)."""
    registry = ConnectionRegistry(limits)
    return type("BoundHubHttpProtocol", (HubHttpProtocol,), {"registry": registry})
