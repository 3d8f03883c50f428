"""Endpoints per partner and per-delivery answers, through the edge built with connectors the
hub does not ship (declared here, not in PARTNERS): what a next partner plugs in without
touching the edge."""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, select
from structlog.testing import capture_logs

from integration_hub.connectors.base import (
    Connector,
    Delivery,
    InternalEventDraft,
    Manifest,
    PartnerEvent,
)
from integration_hub.errors import SignatureError, UnknownEndpoint
from integration_hub.pipeline.writer import GroupCommitWriter
from integration_hub.secrets import EnvSecretSource
from integration_hub.storage.tables import raw_events
from integration_hub.web.ingest import IngestApp

IVR_TOKEN = "ivr-test-token-5d1e"
VAULT_TOKEN = secrets.token_urlsafe(24)
VAULT_PREVIOUS_TOKEN = secrets.token_urlsafe(24)


class IvrConnector:
    """A voice partner: messages at the bare path, IVR steps at `voice`, each step answered
    with the instructions for the next (built from the delivery alone)."""

    manifest = Manifest(
        name="ivr",
        webhook_secret="IVR_TOKEN",
        endpoints=frozenset({"", "voice"}),
    )

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: float) -> None:
        presented = delivery.headers.get("authorization", "").encode()
        if not any(hmac.compare_digest(presented, f"Bearer {s}".encode()) for s in secrets):
            raise SignatureError("the bearer token is not the partner's")

    def split(self, delivery: Delivery) -> list[PartnerEvent]:
        call = orjson.loads(delivery.body)
        kind = f"{delivery.endpoint or 'message'}.{call['step']}"
        return [PartnerEvent(call["id"], kind, delivery.body)]

    def respond(
        self, delivery: Delivery, events: Sequence[PartnerEvent]
    ) -> tuple[str, bytes] | None:
        if delivery.endpoint != "voice":
            return None
        step = orjson.loads(delivery.body)["step"]
        return "text/xml", f"<Response><Say>after {step}</Say></Response>".encode()

    def normalize(self, event: PartnerEvent) -> list[InternalEventDraft]:
        return []

    def sample(self, event_type: str) -> bytes:
        return orjson.dumps({"id": secrets.token_hex(8), "step": event_type})

    def sign(self, body: bytes, secret: str, *, timestamp: int, url: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"}


class VaultConnector:
    """A partner that signs nothing: the unguessable token in its URL is the secret, so every
    endpoint reaches `verify`, and a wrong one is as unknown as any other path."""

    manifest = Manifest(
        name="vault",
        webhook_secret="VAULT_PATH_TOKEN",
        endpoints=None,
        signs_body=False,
        signs_timestamp=False,
    )

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: float) -> None:
        token = delivery.endpoint.encode()
        if not any(hmac.compare_digest(token, s.encode()) for s in secrets):
            raise UnknownEndpoint("vault has no such endpoint")

    def split(self, delivery: Delivery) -> list[PartnerEvent]:
        booking = orjson.loads(delivery.body)
        return [PartnerEvent(booking["id"], "booking.changed", delivery.body)]

    def respond(self, delivery: Delivery, events: Sequence[PartnerEvent]) -> None:
        return None

    def normalize(self, event: PartnerEvent) -> list[InternalEventDraft]:
        return []

    def sample(self, event_type: str) -> bytes:
        return orjson.dumps({"id": secrets.token_hex(8)})

    def sign(self, body: bytes, secret: str, *, timestamp: int, url: str) -> dict[str, str]:
        return {}


class PreparingConnector(IvrConnector):
    """An IVR whose split needs a read first (`Prepares`): the caller's language, from a
    lookup that answers at once, fails, or never answers."""

    manifest = Manifest(name="prep", webhook_secret="IVR_TOKEN", endpoints=frozenset({"voice"}))

    def __init__(self) -> None:
        self.lookup = "answers"

    async def prepare(self, delivery: Delivery) -> object:
        if self.lookup == "hangs":
            await asyncio.sleep(30)
        if self.lookup == "fails":
            raise RuntimeError("+13055550142 is in this error's text")
        return "es"

    def split(self, delivery: Delivery, prepared: object = None) -> list[PartnerEvent]:
        call = orjson.loads(delivery.body)
        return [PartnerEvent(call["id"], f"call.{prepared}", delivery.body)]


PREPARING = PreparingConnector()
CONNECTORS: Mapping[str, Connector] = {
    "ivr": IvrConnector(),
    "vault": VaultConnector(),
    "prep": PREPARING,
}
SECRETS = {
    "IVR_TOKEN": IVR_TOKEN,
    "VAULT_PATH_TOKEN": VAULT_TOKEN,
    "VAULT_PATH_TOKEN_PREVIOUS": VAULT_PREVIOUS_TOKEN,
}


@asynccontextmanager
async def edge(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """The edge as `create_app` builds it, with these connectors and a real group commit."""
    writer = GroupCommitWriter(engine, max_pending=100)
    running = asyncio.create_task(writer.run())
    app = IngestApp(
        connectors=CONNECTORS,
        secrets=EnvSecretSource(environ=SECRETS),
        writer=writer,
        max_body_bytes=64 * 1024,
        public_base_url=None,
    )
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            yield client
    finally:
        await writer.close()
        await running


def _stored(engine: Engine) -> list[tuple[str, str, str]]:
    query = select(raw_events.c.partner, raw_events.c.partner_event_id, raw_events.c.event_type)
    with engine.connect() as connection:
        return sorted(
            (r.partner, r.partner_event_id, r.event_type) for r in connection.execute(query)
        )


def _rejections(partner: str, reason: str) -> float:
    labels = {"partner": partner, "reason": reason}
    return REGISTRY.get_sample_value("hub_rejections_total", labels) or 0.0


BEARER = {"Authorization": f"Bearer {IVR_TOKEN}"}


async def test_each_endpoint_reaches_the_connector_and_respond_builds_the_answer(
    engine: Engine,
) -> None:
    step = orjson.dumps({"id": "CA1", "step": "menu"})
    message = orjson.dumps({"id": "SM1", "step": "hello"})

    async with edge(engine) as client:
        voice = await client.post("/webhooks/ivr/voice", content=step, headers=BEARER)
        bare = await client.post("/webhooks/ivr", content=message, headers=BEARER)
        again = await client.post("/webhooks/ivr/voice/", content=step, headers=BEARER)

    assert voice.status_code == 200, voice.text
    assert voice.headers["content-type"] == "text/xml"
    assert voice.content == b"<Response><Say>after menu</Say></Response>"
    # None from respond: the edge's JSON summary.
    assert bare.json() == {"status": "accepted", "events": [{"id": "SM1", "new": True}]}
    # A retried step is answered the same, and respond wrote nothing: one row per event.
    assert (again.status_code, again.content) == (200, voice.content)
    assert _stored(engine) == [("ivr", "CA1", "voice.menu"), ("ivr", "SM1", "message.hello")]


async def test_an_endpoint_the_manifest_does_not_declare_is_404_before_anything_is_read(
    engine: Engine,
) -> None:
    before = _rejections("ivr", "unknown_endpoint")
    body = orjson.dumps({"id": "CA2", "step": "menu"})

    async with edge(engine) as client:
        with capture_logs() as logs:
            response = await client.post("/webhooks/ivr/fax", content=body, headers=BEARER)

    assert (response.status_code, response.json()["error"]) == (404, "unknown_endpoint")
    assert "'fax'" in response.json()["detail"]
    assert _rejections("ivr", "unknown_endpoint") == before + 1
    assert [(e["partner"], e["reason"]) for e in logs if e["event"] == "delivery_rejected"] == [
        ("ivr", "unknown_endpoint")
    ]
    assert _stored(engine) == []


async def test_a_rejected_delivery_is_answered_by_the_edge_not_by_respond(
    engine: Engine,
) -> None:
    body = orjson.dumps({"id": "CA3", "step": "menu"})
    wrong = {"Authorization": "Bearer not-the-token"}

    async with edge(engine) as client:
        response = await client.post("/webhooks/ivr/voice", content=body, headers=wrong)

    assert response.status_code == 400
    assert response.json()["error"] == "signature_mismatch"
    assert _stored(engine) == []


@pytest.mark.parametrize("token", [VAULT_TOKEN, VAULT_PREVIOUS_TOKEN], ids=["current", "previous"])
async def test_a_path_token_partner_takes_deliveries_at_its_token(
    engine: Engine, token: str
) -> None:
    body = orjson.dumps({"id": "BK1"})

    async with edge(engine) as client:
        response = await client.post(f"/webhooks/vault/{token}", content=body)

    assert response.status_code == 200, response.text
    assert _stored(engine) == [("vault", "BK1", "booking.changed")]


@pytest.mark.parametrize(
    "path",
    ["/webhooks/vault", f"/webhooks/vault/{VAULT_TOKEN[:-1]}", f"/webhooks/vault/{VAULT_TOKEN}x"],
    ids=["bare", "short", "long"],
)
async def test_a_wrong_path_token_is_an_unknown_endpoint_and_never_logged(
    engine: Engine, path: str
) -> None:
    before = _rejections("vault", "unknown_endpoint")

    async with edge(engine) as client:
        with capture_logs() as logs:
            response = await client.post(path, content=orjson.dumps({"id": "BK2"}))

    assert (response.status_code, response.json()["error"]) == (404, "unknown_endpoint")
    assert _rejections("vault", "unknown_endpoint") == before + 1
    assert VAULT_TOKEN[:-1] not in response.text + repr(logs)
    assert _stored(engine) == []


async def test_a_malformed_path_under_a_token_partner_never_logs_the_token(engine: Engine) -> None:
    """A path with a segment too many is refused before any partner is looked up: its log line
    keeps the first segment and a count, never the token a later segment holds."""
    async with edge(engine) as client:
        with capture_logs() as logs:
            response = await client.post(f"/webhooks/vault/{VAULT_TOKEN}/extra", content=b"{}")

    assert (response.status_code, response.json()["error"]) == (400, "bad_path")
    assert VAULT_TOKEN not in response.text + repr(logs)
    assert any("/webhooks/vault (+2 segments)" in repr(entry) for entry in logs)
    assert _stored(engine) == []


def _prepare_failures(error: str) -> float:
    labels = {"partner": "prep", "error": error}
    return REGISTRY.get_sample_value("hub_prepare_failures_total", labels) or 0.0


async def test_a_connectors_prepare_is_awaited_and_bounded_in_time(engine: Engine) -> None:
    timeouts, failures = _prepare_failures("TimeoutError"), _prepare_failures("RuntimeError")
    calls = [orjson.dumps({"id": f"CA{n}", "step": "entry"}) for n in range(3)]

    async with edge(engine) as client:
        PREPARING.lookup = "answers"
        answered = await client.post("/webhooks/prep/voice", content=calls[0], headers=BEARER)
        PREPARING.lookup = "hangs"
        started = asyncio.get_running_loop().time()
        with capture_logs() as logs:
            hung = await client.post("/webhooks/prep/voice", content=calls[1], headers=BEARER)
            PREPARING.lookup = "fails"
            failed = await client.post("/webhooks/prep/voice", content=calls[2], headers=BEARER)
        waited = asyncio.get_running_loop().time() - started
    PREPARING.lookup = "answers"

    assert (answered.status_code, hung.status_code, failed.status_code) == (200, 200, 200)
    # What prepare returned reached split; past its time, or failing, split got None.
    assert _stored(engine) == [
        ("prep", "CA0", "call.es"), ("prep", "CA1", "call.None"), ("prep", "CA2", "call.None")
    ]  # fmt: skip
    assert waited < 5
    assert _prepare_failures("TimeoutError") == timeouts + 1
    assert _prepare_failures("RuntimeError") == failures + 1
    assert [(e["event"], e["error"]) for e in logs if e["event"] == "prepare_failed"] == [
        ("prepare_failed", "TimeoutError"),
        ("prepare_failed", "RuntimeError"),
    ]
    assert "+1305" not in repr(logs)
