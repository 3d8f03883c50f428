"""POST /webhooks/{partner}: verification, limits, reason codes, durability and dedup."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from integration_hub.runtime import Hub
from integration_hub.secrets import EnvSecretSource
from integration_hub.settings import Settings
from integration_hub.testing import connector, sign_as
from tests.helpers import (
    AUTH0_TOKEN,
    CLERK_SECRET,
    STRIPE_SECRET,
    RunningHub,
    serve_hub,
    stripe_delivery,
    table_counts,
    wait_until,
)


async def test_signed_delivery_is_stored_before_2xx(running_hub: RunningHub) -> None:
    body, headers = stripe_delivery()
    response = await running_hub.http.post("/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == 200
    event_id = orjson.loads(body)["id"]
    assert response.json() == {"status": "accepted", "events": [{"id": event_id, "new": True}]}
    # The row exists the moment the 2xx is seen, with the exact bytes.
    from sqlalchemy import select

    from integration_hub.storage.tables import raw_events

    with running_hub.hub.engine.connect() as connection:
        row = connection.execute(select(raw_events)).one()
    assert bytes(row.body) == body
    assert (row.partner, row.partner_event_id, row.event_type) == (
        "stripe",
        event_id,
        "payment_intent.succeeded",
    )
    assert "stripe-signature" in row.headers


async def test_unknown_partner_is_404(running_hub: RunningHub) -> None:
    response = await running_hub.http.post("/webhooks/nosuchpartner", content=b"{}")
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_partner"


async def test_missing_secret_is_503_naming_the_variable(hub_settings: Settings) -> None:
    hub = Hub(hub_settings, secrets=EnvSecretSource(environ={}))
    async with serve_hub(hub) as running:
        body, headers = stripe_delivery()
        response = await running.http.post("/webhooks/stripe", content=body, headers=headers)
        assert response.status_code == 503
        assert response.json()["error"] == "secret_not_configured"
        assert "STRIPE_WEBHOOK_SECRET" in response.json()["detail"]
        assert table_counts(hub)["raw_events"] == 0


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b, h: (b + b" ", h), "signature_mismatch"),
        (lambda b, h: (b, {"Content-Type": "application/json"}), "missing_signature"),
        (lambda b, h: (b, {"Stripe-Signature": "v0=abc"}), "malformed_signature"),
        (
            lambda b, h: (b, sign_as("stripe", b, secret="whsec_wrong")),
            "signature_mismatch",
        ),
        (
            lambda b, h: (
                b,
                sign_as("stripe", b, secret=STRIPE_SECRET, timestamp=int(time.time()) - 301),
            ),
            "timestamp_out_of_tolerance",
        ),
        (
            lambda b, h: (b"not json", sign_as("stripe", b"not json", secret=STRIPE_SECRET)),
            "malformed_payload",
        ),
    ],
    ids=["tampered", "missing", "v0-only", "wrong-secret", "stale", "not-json"],
)
async def test_rejection_answers_reason_code_and_stores_nothing(
    running_hub: RunningHub, mutate: object, reason: str
) -> None:
    body, headers = stripe_delivery()
    body, headers = mutate(body, headers)  # type: ignore[operator]
    response = await running_hub.http.post("/webhooks/stripe", content=body, headers=headers)
    assert 400 <= response.status_code < 500
    assert response.json()["error"] == reason
    assert response.json()["detail"]
    assert STRIPE_SECRET not in response.text
    assert table_counts(running_hub.hub)["raw_events"] == 0


async def test_declared_oversized_body_is_413(running_hub: RunningHub) -> None:
    big = b"x" * (running_hub.hub.settings.max_body_bytes + 1)
    response = await running_hub.http.post(
        "/webhooks/stripe", content=big, headers=sign_as("stripe", big, secret=STRIPE_SECRET)
    )
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"


async def test_streamed_oversized_body_is_413(running_hub: RunningHub) -> None:
    limit = running_hub.hub.settings.max_body_bytes

    async def chunks():  # type: ignore[no-untyped-def]  # no content-length: chunked upload
        for _ in range(limit // 65536 + 2):
            yield b"y" * 65536

    response = await running_hub.http.post(
        "/webhooks/stripe", content=chunks(), headers={"Stripe-Signature": "t=1,v1=00"}
    )
    assert response.status_code == 413
    assert table_counts(running_hub.hub)["raw_events"] == 0


async def test_duplicate_delivery_is_2xx_and_changes_nothing(running_hub: RunningHub) -> None:
    body, headers = stripe_delivery()
    first = await running_hub.http.post("/webhooks/stripe", content=body, headers=headers)
    await wait_until(lambda: _status(running_hub, body), lambda s: s == "processed")
    before = table_counts(running_hub.hub)
    again = await running_hub.http.post("/webhooks/stripe", content=body, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["status"] == "duplicate"
    await asyncio.sleep(0.3)  # give a (wrong) second processing the chance to show up
    assert table_counts(running_hub.hub) == before


async def test_concurrent_identical_deliveries_leave_one_row_and_one_processing(
    running_hub: RunningHub,
) -> None:
    body, headers = stripe_delivery()
    responses = await asyncio.gather(
        *(
            running_hub.http.post("/webhooks/stripe", content=body, headers=headers)
            for _ in range(40)
        )
    )
    assert {r.status_code for r in responses} == {200}
    assert sum(r.json()["events"][0]["new"] for r in responses) == 1
    await wait_until(lambda: _status(running_hub, body), lambda s: s == "processed")
    assert table_counts(running_hub.hub) == {
        "raw_events": 1,
        "internal_events": 1,
        "handler_runs": 1,
        "ledger_entries": 1,
    }


async def test_unmapped_type_is_kept_as_ignored(running_hub: RunningHub) -> None:
    body, headers = stripe_delivery("customer.created")
    response = await running_hub.http.post("/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == 200
    assert (
        await wait_until(lambda: _status(running_hub, body), lambda s: s != "received") == "ignored"
    )
    assert table_counts(running_hub.hub)["internal_events"] == 0


async def _status(running: RunningHub, body: bytes) -> str:
    event_id = orjson.loads(body)["id"]
    response = await running.admin.get(f"/api/events/stripe/{event_id}")
    return str(response.json()["status"]) if response.status_code == 200 else "absent"


async def test_clerk_delivery_is_deduplicated_on_svix_id_and_normalized(
    running_hub: RunningHub,
) -> None:
    body = connector("clerk").sample("user.created")
    headers = sign_as("clerk", body, secret=CLERK_SECRET)
    first = await running_hub.http.post("/webhooks/clerk", content=body, headers=headers)
    again = await running_hub.http.post("/webhooks/clerk", content=body, headers=headers)
    assert (first.json()["status"], again.json()["status"]) == ("accepted", "duplicate")
    detail = await wait_until(
        lambda: running_hub.admin.get(f"/api/events/clerk/{headers['svix-id']}"),
        lambda r: r.json()["status"] == "processed",
    )
    assert [e["event"]["type"] for e in detail.json()["events"]] == ["identity.user_created"]
    assert table_counts(running_hub.hub)["raw_events"] == 1


async def test_auth0_batch_stores_each_entry_and_a_retry_stores_nothing(
    running_hub: RunningHub,
) -> None:
    entries = [orjson.loads(connector("auth0").sample(t))[0] for t in ("ss", "fp", "sapi")]
    body = orjson.dumps(entries)
    headers = {"Authorization": f"Bearer {AUTH0_TOKEN}", "Content-Type": "application/json"}
    first = await running_hub.http.post("/webhooks/auth0", content=body, headers=headers)
    retry = await running_hub.http.post("/webhooks/auth0", content=body, headers=headers)
    assert [e["new"] for e in first.json()["events"]] == [True, True, True]
    assert retry.json()["status"] == "duplicate"
    assert table_counts(running_hub.hub)["raw_events"] == 3
    ignored = await wait_until(
        lambda: running_hub.admin.get(f"/api/events/auth0/{entries[2]['log_id']}"),
        lambda r: r.json()["status"] != "received",
    )
    assert ignored.json()["status"] == "ignored"
    stored = (await running_hub.admin.get(f"/api/events/auth0/{entries[0]['log_id']}")).json()
    assert "authorization" not in stored["headers"]
