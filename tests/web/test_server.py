"""The transport under every route (web/server.py), attacked over real sockets: idle and
dribbling connections are cut at the receipt deadline, heads are cut as they pass the header
limit, one client holds at most its share of connections, and partners still get through."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from integration_hub.runtime import Hub
from integration_hub.testing import HubProcess, hub_env
from integration_hub.web.connection_registry import (
    ConnectionRegistry,
    ThrottledLog,
    TransportLimits,
    client_key,
)
from tests.helpers import (
    STRIPE_SECRET,
    RunningHub,
    hub_with,
    make_settings,
    partner_secrets,
    serve_hub,
    stripe_delivery,
    table_counts,
)

DEADLINE = 1.0  # HUB_RECEIPT_TIMEOUT_SECONDS in these tests
CAP = 8  # HUB_MAX_CONNECTIONS_PER_CLIENT in these tests
SHORT = {"receipt_timeout_seconds": DEADLINE, "max_connections_per_client": CAP}
Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def port_of(running: RunningHub) -> int:
    return int(running.base_url.rsplit(":", 1)[1])


def cuts(reason: str) -> float:
    return REGISTRY.get_sample_value("hub_connections_cut_total", {"reason": reason}) or 0.0


async def connect(running: RunningHub, source: str = "127.0.0.1") -> Stream:
    """A connection from `source`: any 127.0.0.0/8 address is this host, as another client."""
    return await asyncio.open_connection("127.0.0.1", port_of(running), local_addr=(source, 0))


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> bytes:
    """What the server sent before closing; fails if it does not close within `within` s."""
    try:
        return await asyncio.wait_for(reader.read(), timeout=within)
    except ConnectionResetError:
        return b""


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def stripe_request(body: bytes, signed: dict[str, str]) -> bytes:
    head = [
        "POST /webhooks/stripe HTTP/1.1",
        "Host: 127.0.0.1",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in signed.items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 response with a Content-Length, leaving the connection usable."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return status_of(head), await reader.readexactly(length)


async def test_idle_sockets_are_capped_per_client_and_closed_at_the_deadline(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    async with hub_with(tmp_path, database_url, temporal_address, **SHORT) as running:
        idle_before, refused_before = cuts("idle_timeout"), cuts("too_many_connections")
        opened = time.monotonic()
        held = [await connect(running, "127.0.0.2") for _ in range(CAP)]
        # Past the cap, the same address is answered 503 and closed at once.
        for reader, writer in [await connect(running, "127.0.0.2") for _ in range(4)]:
            answer = await closed_by_server(reader, within=DEADLINE / 2)
            writer.close()
            assert status_of(answer) == 503
            assert b'"error":"too_many_connections"' in answer
        assert cuts("too_many_connections") - refused_before == 4

        # While the attacker holds all it may, a partner's delivery from elsewhere gets through.
        body, signed = stripe_delivery()
        response = await running.http.post("/webhooks/stripe", content=body, headers=signed)
        assert response.status_code == 200
        assert table_counts(running.hub)["raw_events"] == 1

        # The idle sockets are closed at the deadline (nothing sent: nothing to answer).
        for reader, writer in held:
            assert await closed_by_server(reader, within=DEADLINE + 2) == b""
            writer.close()
        assert time.monotonic() - opened < DEADLINE + 2
        assert cuts("idle_timeout") - idle_before == CAP
        # Their slots are free again: the attacker's address may connect once more.
        reader, writer = await connect(running, "127.0.0.2")
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await read_response(reader))[0] == 200
        writer.close()


async def test_at_the_connection_limit_idle_connections_make_room_for_a_delivery(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    # Attackers on three addresses hold more sockets than the server's limit, long before
    # any deadline: without eviction uvicorn would answer 503 to the partner.
    overrides = {**SHORT, "receipt_timeout_seconds": 60.0, "max_concurrency": 2 * CAP}
    async with hub_with(tmp_path, database_url, temporal_address, **overrides) as running:
        evicted_before = cuts("idle_evicted")
        held = [
            await connect(running, source)
            for source in ("127.0.0.2", "127.0.0.3", "127.0.0.4")
            for _ in range(CAP)
        ]
        body, signed = stripe_delivery()
        response = await running.http.post("/webhooks/stripe", content=body, headers=signed)
        assert response.status_code == 200
        assert table_counts(running.hub)["raw_events"] == 1
        # The oldest idle sockets were the ones closed, without an answer.
        evicted = int(cuts("idle_evicted") - evicted_before)
        assert evicted >= CAP + 1
        for reader, _ in held[:evicted]:
            assert await closed_by_server(reader, within=2) == b""
        for _, writer in held:
            writer.close()


@pytest.mark.parametrize("stalls_in", ["head", "body"])
async def test_a_dribbling_client_is_cut_at_the_deadline(
    tmp_path: Path, database_url: str, temporal_address: str, stalls_in: str
) -> None:
    async with hub_with(tmp_path, database_url, temporal_address, **SHORT) as running:
        body, signed = stripe_delivery()
        request = stripe_request(body, signed)
        head_size = request.index(b"\r\n\r\n") + 4
        reader, writer = await connect(running)
        if stalls_in == "body":
            writer.write(request[:head_size])  # the whole head at once, then the body dribbles
            request = request[head_size:]
        answer = asyncio.create_task(closed_by_server(reader, within=DEADLINE + 2))
        started = time.monotonic()
        sent = 0
        while not answer.done() and sent < len(request):
            try:
                writer.write(request[sent : sent + 1])
                await writer.drain()
            except ConnectionError:
                break
            sent += 1
            await asyncio.sleep(0.1)
        answered = await answer
        writer.close()
        # Cut after about DEADLINE / 0.1 bytes, long before the request was complete.
        assert sent < len(request)
        assert DEADLINE - 0.2 < time.monotonic() - started < DEADLINE + 2
        assert status_of(answered) == 408
        assert b'"error":"request_timeout"' in answered
        assert table_counts(running.hub)["raw_events"] == 0


async def test_a_stalled_head_pipelined_behind_a_request_is_cut_at_the_deadline(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    async with hub_with(tmp_path, database_url, temporal_address, **SHORT) as running:
        reader, writer = await connect(running)
        started = time.monotonic()
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /heal")  # then nothing
        assert (await read_response(reader))[0] == 200
        answered = await closed_by_server(reader, within=DEADLINE + 2)
        writer.close()
        assert status_of(answered) == 408
        assert time.monotonic() - started > DEADLINE - 0.2


HEAD_STARTS = {
    "one huge header to /healthz": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: ", b"a"),
    "one huge header to /webhooks": (b"POST /webhooks/stripe HTTP/1.1\r\nX-Filler: ", b"a"),
    "many small headers to /healthz": (b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b"X-A: 1\r\n"),
    "a huge URL to /healthz": (b"GET /healthz?q=", b"a"),
    "a huge URL to /api/events": (b"GET /api/events?cursor=", b"9"),
}


@pytest.mark.parametrize("shape", list(HEAD_STARTS))
async def test_a_huge_head_is_cut_as_it_passes_the_header_limit(
    running_hub: RunningHub, shape: str
) -> None:
    start, unit = HEAD_STARTS[shape]
    chunk = unit * (64 * 1024 // len(unit))
    total = 64 * 1024 * 1024  # far more than any buffer between client and server
    before = cuts("headers_too_large")
    reader, writer = await connect(running_hub)
    answer = asyncio.create_task(closed_by_server(reader, within=10))
    writer.write(start)
    sent, sent_when_answered = len(start), None
    while sent < total:
        if answer.done() and sent_when_answered is None:
            sent_when_answered = sent
        try:
            writer.write(chunk)
            await writer.drain()
        except ConnectionError:
            break
        sent += len(chunk)
        await asyncio.sleep(0)  # lets the server (same loop) and the reader run
    answered = await answer
    writer.close()
    # The server cut the connection long before the head ended: it did not take it all in.
    assert sent < total // 4
    assert cuts("headers_too_large") - before == 1
    if answered:  # the answer can be lost to the reset when the client keeps sending
        assert status_of(answered) == 431
        assert b'"error":"headers_too_large"' in answered
        assert sent_when_answered is None or sent_when_answered < 4 * 1024 * 1024


async def test_a_huge_head_pipelined_behind_a_delivery_lets_its_answer_out_first(
    running_hub: RunningHub,
) -> None:
    before = cuts("headers_too_large")
    reader, writer = await connect(running_hub)
    huge = b"GET /healthz HTTP/1.1\r\nX-Filler: " + b"a" * (4 * 1024 * 1024)
    writer.write(stripe_request(*stripe_delivery()) + huge)
    status, payload = await read_response(reader)
    assert status == 200, payload
    rest = await closed_by_server(reader, within=10)
    writer.close()
    assert status_of(rest) == 431  # the refused request is answered in its turn
    assert cuts("headers_too_large") - before == 1
    assert table_counts(running_hub.hub)["raw_events"] == 1


async def test_a_body_that_dribbles_after_an_early_answer_is_cut_without_a_second_answer(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    async with hub_with(tmp_path, database_url, temporal_address, **SHORT) as running:
        too_long = running.hub.settings.max_body_bytes + 1
        reader, writer = await connect(running)
        writer.write(
            f"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Length: {too_long}\r\n\r\n".encode()
        )
        status, _ = await read_response(reader)  # refused before the body is read
        assert status == 413
        answer = asyncio.create_task(closed_by_server(reader, within=DEADLINE + 2))
        while not answer.done():
            writer.write(b"x")
            await asyncio.sleep(0.1)
        assert await answer == b""  # closed, and no second answer to the same request
        writer.close()


async def test_a_head_at_the_limit_passes_and_one_byte_more_is_431(running_hub: RunningHub) -> None:
    limit = running_hub.hub.settings.max_header_bytes
    start = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: "
    filler = limit - len(start) - len(b"\r\n\r\n")
    for extra, expected in ((0, 200), (1, 431)):
        reader, writer = await connect(running_hub)
        writer.write(start + b"a" * (filler + extra) + b"\r\n\r\n")
        status, payload = await read_response(reader)
        writer.close()
        assert status == expected, payload


async def test_keep_alive_requests_each_get_a_fresh_deadline(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    async with hub_with(tmp_path, database_url, temporal_address, **SHORT) as running:
        reader, writer = await connect(running)
        started = time.monotonic()
        for _ in range(5):  # one connection, well past one deadline in all
            body, signed = stripe_delivery()
            writer.write(stripe_request(body, signed))
            status, payload = await read_response(reader)
            assert status == 200, payload
            await asyncio.sleep(DEADLINE * 0.6)
        assert time.monotonic() - started > 2 * DEADLINE
        assert table_counts(running.hub)["raw_events"] == 5

        # A later request on the same connection that dribbles is cut DEADLINE after its
        # first byte, not at once (the connection itself is older than the deadline).
        answer = asyncio.create_task(closed_by_server(reader, within=DEADLINE + 2))
        first_byte = time.monotonic()
        for byte in b"GET /healthz HTTP/1.1\r\n":
            if answer.done():
                break
            writer.write(bytes([byte]))
            await asyncio.sleep(0.1)
        answered = await answer
        writer.close()
        assert time.monotonic() - first_byte > DEADLINE - 0.2
        assert status_of(answered) == 408


async def test_pipelined_requests_and_a_body_larger_than_the_header_limit_pass(
    running_hub: RunningHub,
) -> None:
    # Head counting restarts at each request, and body bytes never count towards a head.
    limit = running_hub.hub.settings.max_header_bytes
    large = stripe_delivery(description="x" * (8 * limit))
    assert len(large[0]) > 8 * limit
    requests = [stripe_request(*stripe_delivery()) for _ in range(3)] + [stripe_request(*large)]
    reader, writer = await connect(running_hub)
    writer.write(b"".join(requests))  # all in one write: the server reads them together
    answers = [await read_response(reader) for _ in requests]
    writer.close()
    assert [status for status, _ in answers] == [200] * len(requests), answers
    assert table_counts(running_hub.hub)["raw_events"] == len(requests)


async def test_cuts_are_logged_at_most_once_per_interval_with_what_was_not_logged(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    async with hub_with(tmp_path, database_url, temporal_address, **SHORT) as running:
        with capture_logs() as logs:
            held = [await connect(running, "127.0.0.5") for _ in range(CAP)]
            refused = [await connect(running, "127.0.0.5") for _ in range(5)]
            for reader, writer in refused:
                await closed_by_server(reader, within=DEADLINE)
                writer.close()
            for _, writer in held:
                writer.close()
        lines = [line for line in logs if line["event"] == "connection_cut"]
        assert [line["reason"] for line in lines] == ["too_many_connections"]
        assert lines[0]["client"] == "127.0.0.5"
        assert lines[0]["log_level"] == "warning"
        # A loopback/private address at its cap is likely a proxy the hub does not trust.
        assert "HUB_TRUSTED_PROXIES" in lines[0]["hint"]


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="this host has no IPv6 loopback (::1)")
@pytest.mark.parametrize("listed", ["::1", "0:0:0:0:0:0:0:1"])
async def test_a_trusted_ipv6_proxy_is_not_capped_as_one_client(
    tmp_path: Path, database_url: str, temporal_address: str, listed: str
) -> None:
    """The cap's key for ::1 is its /64; the exemption still matches the proxy's address,
    however HUB_TRUSTED_PROXIES spells it."""
    settings = make_settings(
        tmp_path,
        database_url,
        temporal_address,
        max_connections_per_client=CAP,
        receipt_timeout_seconds=60.0,  # held sockets must outlive the test, not the deadline
        trusted_proxies=frozenset({listed}),
    )
    async with serve_hub(Hub(settings, secrets=partner_secrets(), pipeline=False), "::1") as hub:
        refused_before = cuts("too_many_connections")
        streams = [await asyncio.open_connection("::1", port_of(hub)) for _ in range(CAP + 4)]
        for _, writer in streams:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answers = [(await read_response(reader))[0] for reader, _ in streams]
        for _, writer in streams:
            writer.close()
        assert answers == [200] * (CAP + 4)
        assert cuts("too_many_connections") == refused_before


def test_a_trusted_proxy_is_matched_as_an_address_not_a_string() -> None:
    def registry(*trusted: str) -> ConnectionRegistry:
        limits = TransportLimits(1.0, 1024, CAP, None, frozenset(trusted))
        return ConnectionRegistry(limits)

    assert registry("::1").key_for(("::1", 5000)) is None
    assert registry("0::1").key_for(("::1", 5000)) is None
    assert registry("10.0.0.5").key_for(("::ffff:10.0.0.5", 5000)) is None
    assert registry("::ffff:10.0.0.5").key_for(("10.0.0.5", 5000)) is None
    assert registry("fe80::1").key_for(("fe80::1%eth0", 5000)) is None
    # Not trusted: counted, an IPv6 peer by its /64.
    assert registry("::1").key_for(("::2", 5000)) == "::/64"
    assert registry("10.0.0.5").key_for(("10.0.0.6", 5000)) == "10.0.0.6"


async def test_hub_serve_runs_this_transport(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    """The same attacks against `hub serve` as a user runs it: the CLI wires the transport."""
    env = hub_env(
        tmp_path / "var",
        HUB_DATABASE_URL=database_url,
        HUB_TEMPORAL_ADDRESS=temporal_address,
        HUB_TASK_QUEUE=f"server-{uuid.uuid4().hex}",
        HUB_RECEIPT_TIMEOUT_SECONDS=str(DEADLINE),
        HUB_MAX_CONNECTIONS_PER_CLIENT=str(CAP),
        STRIPE_WEBHOOK_SECRET=STRIPE_SECRET,
    )
    process = HubProcess(tmp_path, env)
    await asyncio.to_thread(process.start)
    try:
        port = int(process.url.rsplit(":", 1)[1])
        streams = [
            await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))
            for _ in range(CAP + 1)
        ]
        *held, (extra_reader, _) = streams
        assert status_of(await closed_by_server(extra_reader, within=DEADLINE)) == 503
        body, signed = stripe_delivery()
        async with httpx.AsyncClient(base_url=process.url, timeout=10) as client:
            response = await client.post("/webhooks/stripe", content=body, headers=signed)
            assert response.status_code == 200
            for reader, _ in held:
                assert await closed_by_server(reader, within=DEADLINE + 2) == b""
            huge = await asyncio.open_connection("127.0.0.1", port)
            streams.append(huge)
            huge[1].write(b"GET /healthz HTTP/1.1\r\nX-Filler: " + b"a" * (1024 * 1024))
            assert status_of(await closed_by_server(huge[0], within=10)) == 431
            page = (await client.get("/metrics")).text
        for _, writer in streams:
            writer.close()
        for reason in ("idle_timeout", "too_many_connections", "headers_too_large"):
            assert f'hub_connections_cut_total{{reason="{reason}"}}' in page
    finally:
        await asyncio.to_thread(process.stop)


def test_the_throttled_log_reports_what_it_did_not_log() -> None:
    throttled = ThrottledLog(interval=0.2)
    with capture_logs() as logs:
        for _ in range(3):
            throttled.warning("idle_timeout", client="192.0.2.1")
        throttled.warning("head_timeout", client="192.0.2.1")  # each reason has its own pace
        time.sleep(0.25)
        throttled.warning("idle_timeout", client="192.0.2.1")
    assert [(line["reason"], line["not_logged_since_last"]) for line in logs] == [
        ("idle_timeout", 0),
        ("head_timeout", 0),
        ("idle_timeout", 2),
    ]


def test_the_per_client_key_groups_ipv6_by_64_and_unwraps_mapped_ipv4() -> None:
    assert client_key(("203.0.113.9", 5000)) == "203.0.113.9"
    assert client_key(("2001:db8:1:2:aaaa::1", 5000)) == client_key(("2001:db8:1:2::ffff", 1))
    assert client_key(("2001:db8:1:2::1", 5000)) != client_key(("2001:db8:1:3::1", 5000))
    assert client_key(("::ffff:203.0.113.9", 5000)) == "203.0.113.9"
    assert client_key(None) is None
