"""Admission at the edge: rate limits (429), header limits (431), a body deadline (408).

Admission answers before anything is verified or written, so one database is enough here.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from integration_hub.admission import IngestRateLimiter
from integration_hub.orchestration.devserver import free_port
from integration_hub.runtime import Hub
from integration_hub.testing import scratch_database
from tests.helpers import (
    RunningHub,
    hub_with,
    make_settings,
    partner_secrets,
    serve_hub,
    stripe_delivery,
    table_counts,
)

REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL")
NO_LIMITS = {"rate_limit_per_partner": None, "rate_limit_per_client": None}


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    with scratch_database("sqlite", tmp_path) as url:
        yield url


async def post_stripe(running: RunningHub, **headers: str) -> Any:
    body, signed = stripe_delivery()
    return await running.http.post("/webhooks/stripe", content=body, headers=signed | headers)


def rejections(reason: str) -> float:
    labels = {"partner": "stripe", "reason": reason}
    return REGISTRY.get_sample_value("hub_rejections_total", labels) or 0.0


async def test_partner_over_its_rate_limit_gets_429_with_retry_after(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    limits = {**NO_LIMITS, "rate_limit_per_partner": "3/minute"}
    async with hub_with(tmp_path, database_url, temporal_address, **limits) as running:
        before = rejections("rate_limited")
        admitted = [await post_stripe(running) for _ in range(3)]
        refused = await post_stripe(running)
        assert [r.status_code for r in admitted] == [200, 200, 200]
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert "partner" in refused.json()["detail"]
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert rejections("rate_limited") == before + 1
        assert table_counts(running.hub)["raw_events"] == 3


async def test_client_over_its_rate_limit_gets_429_with_retry_after(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    limits = {**NO_LIMITS, "rate_limit_per_client": "2/minute"}
    async with hub_with(tmp_path, database_url, temporal_address, **limits) as running:
        statuses = [(await post_stripe(running)).status_code for _ in range(2)]
        refused = await post_stripe(running)
        assert statuses == [200, 200]
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert "client" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) >= 1
        assert table_counts(running.hub)["raw_events"] == 2


async def test_forwarded_for_is_ignored_from_an_untrusted_peer(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    limits = {**NO_LIMITS, "rate_limit_per_client": "2/minute"}
    async with hub_with(tmp_path, database_url, temporal_address, **limits) as running:
        # Each request claims another address; the limit still counts the socket peer.
        statuses = [
            (await post_stripe(running, **{"X-Forwarded-For": f"203.0.113.{n}"})).status_code
            for n in range(3)
        ]
        assert statuses == [200, 200, 429]


async def test_forwarded_for_from_a_trusted_proxy_names_the_client(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    limits = {**NO_LIMITS, "rate_limit_per_client": "2/minute"}
    trusted = {"trusted_proxies": "127.0.0.1"}
    async with hub_with(tmp_path, database_url, temporal_address, **limits, **trusted) as running:
        # The right-most untrusted hop counts; what the client wrote further left does not.
        first = [
            (await post_stripe(running, **{"X-Forwarded-For": f"{spoof}, 198.51.100.7"}))
            for spoof in ("10.0.0.1", "10.0.0.2", "10.0.0.3")
        ]
        other = await post_stripe(running, **{"X-Forwarded-For": "198.51.100.8"})
        assert [r.status_code for r in first] == [200, 200, 429]
        assert other.status_code == 200


@pytest.mark.skipif(not REDIS_URL, reason="HUB_TEST_REDIS_URL is not set (redis://host:port/db)")
async def test_redis_limiter_shares_one_budget_between_two_hubs(
    tmp_path: Path, temporal_address: str
) -> None:
    assert REDIS_URL is not None
    prefix = f"hub-test-{uuid.uuid4().hex}"  # a fresh budget, whatever earlier runs left
    hubs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        with scratch_database("sqlite", tmp_path / name) as url:
            settings = make_settings(
                tmp_path / name, url, temporal_address, **NO_LIMITS, redis_url=REDIS_URL
            )
        hub = Hub(settings, secrets=partner_secrets(), pipeline=False)
        hub.rate_limiter = IngestRateLimiter(
            per_partner="4/minute", per_client=None, redis_url=REDIS_URL, key_prefix=prefix
        )
        hubs.append(hub)
    async with serve_hub(hubs[0]) as a, serve_hub(hubs[1]) as b:
        statuses = [(await post_stripe(hub)).status_code for hub in (a, b, a, b, a, b)]
        assert statuses == [200, 200, 200, 200, 429, 429]
        assert table_counts(a.hub)["raw_events"] + table_counts(b.hub)["raw_events"] == 4


async def test_unreachable_redis_admits_deliveries(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens: the limiter cannot answer
    settings = make_settings(tmp_path, database_url, temporal_address, redis_url=nowhere)
    async with serve_hub(Hub(settings, secrets=partner_secrets(), pipeline=False)) as running:
        statuses = [(await post_stripe(running)).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        assert table_counts(running.hub)["raw_events"] == 3


async def test_too_many_headers_is_431(running_hub: RunningHub) -> None:
    extra = {f"X-Filler-{n}": "1" for n in range(running_hub.hub.settings.max_header_count)}
    response = await post_stripe(running_hub, **extra)
    assert response.status_code == 431
    assert response.json()["error"] == "headers_too_large"
    assert table_counts(running_hub.hub)["raw_events"] == 0


async def test_too_large_headers_are_431(running_hub: RunningHub) -> None:
    response = await post_stripe(
        running_hub, **{"X-Filler": "x" * running_hub.hub.settings.max_header_bytes}
    )
    assert response.status_code == 431
    assert response.json()["error"] == "headers_too_large"
    assert table_counts(running_hub.hub)["raw_events"] == 0


async def test_stalled_body_is_408_and_the_connection_closes(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    overrides = {"body_timeout_seconds": 0.5}
    async with hub_with(tmp_path, database_url, temporal_address, **overrides) as running:
        body, signed = stripe_delivery()
        port = int(running.base_url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = [
            "POST /webhooks/stripe HTTP/1.1",
            "Host: 127.0.0.1",
            f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in signed.items()),
        ]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body[:10])
        await writer.drain()  # then stall: the rest of the body never comes
        answer = await asyncio.wait_for(reader.read(), timeout=5)  # read() returns at close
        writer.close()
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line.split()[1] == b"408"
        assert b'"error":"request_timeout"' in rest
        assert table_counts(running.hub)["raw_events"] == 0


async def test_openapi_documents_the_admission_answers(running_hub: RunningHub) -> None:
    document = (await running_hub.http.get("/openapi.json")).json()
    responses = document["paths"]["/webhooks/{partner}"]["post"]["responses"]
    assert {"408", "429", "431", "503"} <= set(responses)
    assert "Retry-After" in responses["429"]["headers"]


def _client_from(running: RunningHub, address: str) -> httpx.AsyncClient:
    """A client whose sockets come from `address` (any 127.0.0.0/8 address is loopback): the
    hub sees a different peer, as it would another sender."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=running.base_url, transport=transport, timeout=30)


async def test_unsigned_junk_does_not_spend_the_partners_budget(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    """Issue 10 item 6: the partner's budget is charged only after the signature verified. A
    flood of unsigned junk from one address meets its own client limit; signed deliveries from
    another address still get their whole partner budget."""
    limits = {"rate_limit_per_partner": "5/minute", "rate_limit_per_client": "20/minute"}
    async with (
        hub_with(tmp_path, database_url, temporal_address, **limits) as running,
        _client_from(running, "127.0.0.2") as attacker,
        _client_from(running, "127.0.0.3") as stripe,
    ):
        body, signed = stripe_delivery()
        junk_headers = {**signed, "Stripe-Signature": "t=1,v1=" + "0" * 64}
        junk = [
            await attacker.post("/webhooks/stripe", content=body, headers=junk_headers)
            for _ in range(30)
        ]
        before = rejections("rate_limited")
        deliveries = []
        for _ in range(6):
            body, signed = stripe_delivery()
            deliveries.append(await stripe.post("/webhooks/stripe", content=body, headers=signed))

        # The junk: refused for its signature until its own address ran out, then 429 (client).
        assert [r.status_code for r in junk] == [400] * 20 + [429] * 10
        assert {r.json()["error"] for r in junk[:20]} == {"signature_mismatch"}
        assert all("client" in r.json()["detail"] for r in junk[20:])
        # The partner: five signed deliveries in its budget, the sixth over it (partner scope).
        assert [r.status_code for r in deliveries] == [200] * 5 + [429]
        assert "partner" in deliveries[5].json()["detail"]
        assert int(deliveries[5].headers["retry-after"]) >= 1
        assert rejections("rate_limited") == before + 1
        assert table_counts(running.hub)["raw_events"] == 5


async def test_a_signed_delivery_over_the_partner_budget_is_verified_but_not_stored(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    """A forged delivery never reaches the partner's budget, even when it is exhausted: it is
    refused for its signature (400), not 429, so the budget says nothing to an attacker."""
    limits = {**NO_LIMITS, "rate_limit_per_partner": "1/minute"}
    async with hub_with(tmp_path, database_url, temporal_address, **limits) as running:
        admitted = await post_stripe(running)
        forged = await post_stripe(running, **{"Stripe-Signature": "t=1,v1=00"})
        over = await post_stripe(running)

        assert (admitted.status_code, forged.status_code, over.status_code) == (200, 400, 429)
        assert forged.json()["error"] == "signature_mismatch"
        assert table_counts(running.hub)["raw_events"] == 1
