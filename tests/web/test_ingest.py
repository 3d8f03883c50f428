"""POST /webhooks/{partner}: verification, limits, reason codes, durability and dedup."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import orjson
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from structlog.testing import capture_logs

from integration_hub.connectors.twilio.signature import MAX_FORM_PARAMETERS
from integration_hub.runtime import Hub
from integration_hub.secrets import EnvSecretSource
from integration_hub.settings import Settings
from integration_hub.storage.tables import raw_events
from integration_hub.testing import connector, sign_as
from tests.helpers import (
    AUTH0_TOKEN,
    CLERK_SECRET,
    STRIPE_SECRET,
    TWILIO_AUTH_TOKEN,
    RunningHub,
    partner_secrets,
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


# (method, path, status, reason, partner label): a sender's path never becomes a label value.
UNROUTED = {
    "unknown_partner": ("POST", "/webhooks/nosuchpartner", 404, "unknown_partner", "-"),
    "unknown_partner_long": ("POST", "/webhooks/" + "n" * 5000, 404, "unknown_partner", "-"),
    "unknown_endpoint": ("POST", "/webhooks/stripe/voice", 404, "unknown_endpoint", "stripe"),
    "third_segment": ("POST", "/webhooks/stripe/a/b", 400, "bad_path", "-"),
    "no_partner": ("POST", "/webhooks/", 400, "bad_path", "-"),
    "empty_segment": ("POST", "/webhooks//stripe", 400, "bad_path", "-"),
    "not_post": ("GET", "/webhooks/stripe", 405, "method_not_allowed", "stripe"),
}


@pytest.mark.parametrize("name", sorted(UNROUTED))
async def test_a_request_the_edge_cannot_route_is_refused_counted_and_logged(
    running_hub: RunningHub, name: str
) -> None:
    method, path, status, reason, label = UNROUTED[name]
    before = _rejections(label, reason)

    with capture_logs() as logs:
        response = await running_hub.http.request(method, path, content=b"{}")

    assert response.status_code == status, response.text
    assert response.json()["error"] == reason
    assert response.json()["detail"]
    assert len(response.json()["detail"]) < 200  # the path is quoted back bounded
    assert _rejections(label, reason) == before + 1
    assert {"event": "delivery_rejected", "partner": label, "reason": reason} in [
        {k: entry.get(k) for k in ("event", "partner", "reason")} for entry in logs
    ]
    if status == 405:
        assert response.headers["allow"] == "POST"
    assert table_counts(running_hub.hub)["raw_events"] == 0


async def test_trailing_slashes_reach_the_bare_endpoint(running_hub: RunningHub) -> None:
    body, headers = stripe_delivery()
    response = await running_hub.http.post("/webhooks/stripe//", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert table_counts(running_hub.hub)["raw_events"] == 1


async def test_missing_secret_is_503_naming_the_variable(hub_settings: Settings) -> None:
    hub = Hub(hub_settings, secrets=EnvSecretSource(environ={}))
    async with serve_hub(hub) as running:
        body, headers = stripe_delivery()
        before = _rejections("stripe", "secret_not_configured")
        with capture_logs() as logs:
            response = await running.http.post("/webhooks/stripe", content=body, headers=headers)
        assert response.status_code == 503
        assert response.json()["error"] == "secret_not_configured"
        assert "STRIPE_WEBHOOK_SECRET" in response.json()["detail"]
        assert table_counts(hub)["raw_events"] == 0
        assert _rejections("stripe", "secret_not_configured") == before + 1
        # The operator's to fix, not the sender's: an error, naming the variable.
        [logged] = [e for e in logs if e["event"] == "delivery_rejected"]
        assert logged["log_level"] == "error"
        assert "STRIPE_WEBHOOK_SECRET" in logged["detail"]


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

    async def chunks() -> AsyncIterator[bytes]:  # no content-length: chunked upload
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


# --- issue 10 item 5: what runs before verification is bounded, for every scheme ------------


def _rejections(partner: str, reason: str) -> float:
    labels = {"partner": partner, "reason": reason}
    return REGISTRY.get_sample_value("hub_rejections_total", labels) or 0.0


FORM = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "bm9wZQ=="}
OVERSIZED_BEFORE_VERIFICATION = {
    # name: (partner, body, headers, status, reason)
    "twilio_80000_parameters": (
        "twilio",
        b"&".join(b"p%d=1" % n for n in range(80_000)),
        FORM,
        413,
        "too_many_parameters",
    ),
    "twilio_long_parameter_name": (
        "twilio",
        b"MessageSid=SM1&" + b"N" * 4096 + b"=1",
        FORM,
        413,
        "parameter_name_too_long",
    ),
    "twilio_query_of_many_parameters": (
        "twilio",
        b"{}",
        {"X-Twilio-Signature": "bm9wZQ==", "Content-Type": "application/json"},
        413,
        "too_many_parameters",
    ),
    "stripe_thousand_signatures": (
        "stripe",
        b"{}",
        {"Stripe-Signature": "t=1," + ",".join(["v1=" + "0" * 8] * 1000)},
        400,
        "too_many_signatures",
    ),
    "svix_thousand_signatures": (
        "clerk",
        b"{}",
        {
            "svix-id": "msg_1",
            # Stale by the time the test runs, on purpose: the count is refused first.
            "svix-timestamp": "1",
            "svix-signature": " ".join(["v1,AAAAAAAA"] * 1000),
        },
        400,
        "too_many_signatures",
    ),
}


@pytest.mark.parametrize("name", sorted(OVERSIZED_BEFORE_VERIFICATION))
async def test_unsigned_request_too_costly_to_verify_is_refused_counted_and_logged(
    running_hub: RunningHub, name: str
) -> None:
    partner, body, headers, status, reason = OVERSIZED_BEFORE_VERIFICATION[name]
    query = "?" + "&".join(f"q{n}=1" for n in range(1000)) if "query" in name else ""
    before = _rejections(partner, reason)

    with capture_logs() as logs:
        response = await running_hub.http.post(
            f"/webhooks/{partner}{query}", content=body, headers=headers
        )

    assert response.status_code == status, response.text
    assert response.json()["error"] == reason
    assert response.json()["detail"]
    assert _rejections(partner, reason) == before + 1
    assert {"event": "delivery_rejected", "partner": partner, "reason": reason} in [
        {k: entry.get(k) for k in ("event", "partner", "reason")} for entry in logs
    ]
    assert table_counts(running_hub.hub)["raw_events"] == 0


async def test_a_signed_twilio_form_at_the_parameter_cap_is_still_accepted(
    running_hub: RunningHub,
) -> None:
    params = {"MessageSid": "SM" + "c" * 32, "Body": "hola", "From": "+13055550199"}
    params |= {f"X{n}": str(n) for n in range(MAX_FORM_PARAMETERS - len(params))}
    body = urlencode(params).encode()
    url = f"{running_hub.base_url}/webhooks/twilio"

    response = await running_hub.http.post(
        "/webhooks/twilio",
        content=body,
        headers=sign_as("twilio", body, secret=TWILIO_AUTH_TOKEN, url=url),
    )

    assert response.status_code == 200, response.text
    assert table_counts(running_hub.hub)["raw_events"] == 1


# --- issue 10 item 7: a batch keeps its valid entries; malformed ones are dead-lettered ------


async def test_auth0_batch_keeps_valid_entries_and_dead_letters_malformed_ones(
    running_hub: RunningHub,
) -> None:
    valid = [orjson.loads(connector("auth0").sample(t))[0] for t in ("ss", "s", "fp")]
    malformed = [{"data": {"type": "s"}}, {"log_id": "900" + "x" * 300, "data": {"type": "s"}}]
    body = orjson.dumps([valid[0], malformed[0], valid[1], malformed[1], valid[2]])
    headers = {"Authorization": f"Bearer {AUTH0_TOKEN}", "Content-Type": "application/json"}
    metric = {"partner": "auth0"}
    before = REGISTRY.get_sample_value("hub_malformed_entries_total", metric) or 0.0

    first = await running_hub.http.post("/webhooks/auth0", content=body, headers=headers)

    assert first.status_code == 200, first.text
    events = first.json()["events"]
    assert [e["new"] for e in events] == [True] * 5
    bad_ids = ["malformed:" + hashlib.sha256(orjson.dumps(m)).hexdigest() for m in malformed]
    assert [e["id"] for e in events if e.get("malformed")] == bad_ids
    assert all(e["reason"] for e in events if e.get("malformed"))
    assert REGISTRY.get_sample_value("hub_malformed_entries_total", metric) == before + 2
    assert [await _settled(running_hub, "auth0", entry["log_id"]) for entry in valid] == [
        "processed"
    ] * 3
    with running_hub.hub.engine.connect() as connection:
        rows = connection.execute(
            select(raw_events).where(raw_events.c.partner_event_id.in_(bad_ids))
        ).all()
    assert sorted((r.partner_event_id, bytes(r.body), r.status) for r in rows) == sorted(
        (i, orjson.dumps(m), "failed") for i, m in zip(bad_ids, malformed, strict=True)
    )
    assert all(r.last_error and r.attempts == 0 for r in rows)
    assert table_counts(running_hub.hub)["internal_events"] == 3
    settled = table_counts(running_hub.hub)

    retry = await running_hub.http.post("/webhooks/auth0", content=body, headers=headers)

    assert retry.status_code == 200
    assert retry.json()["status"] == "duplicate"
    assert [e["new"] for e in retry.json()["events"]] == [False] * 5
    await asyncio.sleep(0.3)  # give a (wrong) second processing the chance to show up
    assert table_counts(running_hub.hub) == settled
    assert REGISTRY.get_sample_value("hub_malformed_entries_total", metric) == before + 2


async def test_auth0_array_with_a_broken_element_is_kept_whole_and_answered_2xx(
    running_hub: RunningHub,
) -> None:
    entry = orjson.loads(connector("auth0").sample("s"))[0]
    body = orjson.dumps([entry])[:-1] + b',{"log_id": "9001", "data": {broken}}]'
    headers = {"Authorization": f"Bearer {AUTH0_TOKEN}", "Content-Type": "application/json"}

    response = await running_hub.http.post("/webhooks/auth0", content=body, headers=headers)

    assert response.status_code == 200, response.text
    [event] = response.json()["events"]
    assert event["malformed"] is True and "JSON array" in event["reason"]
    with running_hub.hub.engine.connect() as connection:
        row = connection.execute(select(raw_events)).one()
    assert (row.partner_event_id, bytes(row.body), row.status) == (event["id"], body, "failed")


async def test_auth0_batch_over_the_entry_cap_is_413(running_hub: RunningHub) -> None:
    entry = orjson.loads(connector("auth0").sample("s"))[0]
    body = orjson.dumps([entry] * 1001)
    headers = {"Authorization": f"Bearer {AUTH0_TOKEN}", "Content-Type": "application/json"}
    response = await running_hub.http.post("/webhooks/auth0", content=body, headers=headers)
    assert (response.status_code, response.json()["error"]) == (413, "too_many_entries")
    assert table_counts(running_hub.hub)["raw_events"] == 0


async def test_malformed_entry_is_not_replayed(running_hub: RunningHub) -> None:
    """A dead-lettered malformed entry has no payload to normalize: a bulk replay of `failed`
    leaves it (and its reason) alone, and replaying it by id is a 409."""
    valid = orjson.loads(connector("auth0").sample("s"))[0]
    malformed = {"data": {"type": "s"}}  # no log_id
    body = orjson.dumps([valid, malformed])
    headers = {"Authorization": f"Bearer {AUTH0_TOKEN}", "Content-Type": "application/json"}
    response = await running_hub.http.post("/webhooks/auth0", content=body, headers=headers)
    assert response.status_code == 200, response.text
    bad_id = "malformed:" + hashlib.sha256(orjson.dumps(malformed)).hexdigest()
    assert await _settled(running_hub, "auth0", valid["log_id"]) == "processed"
    before = (await running_hub.admin.get(f"/api/events/auth0/{bad_id}")).json()
    assert before["status"] == "failed" and before["last_error"]

    bulk = await running_hub.admin.post("/api/replay", json={"status": "failed"})
    single = await running_hub.admin.post(f"/api/events/auth0/{bad_id}/replay")
    by_id = await running_hub.admin.post("/api/replay", json={"partner_event_id": bad_id})

    assert bulk.json() == {"requeued": 0}
    assert single.status_code == 409
    assert single.json()["error"] == "not_replayable"
    assert by_id.status_code == 409
    await asyncio.sleep(0.3)  # give a (wrong) normalization the chance to show up
    after = (await running_hub.admin.get(f"/api/events/auth0/{bad_id}")).json()
    assert (after["status"], after["last_error"]) == ("failed", before["last_error"])
    missing = await running_hub.admin.post(f"/api/events/auth0/malformed:{'0' * 64}/replay")
    assert missing.status_code == 404


async def _settled(running: RunningHub, partner: str, event_id: str) -> str:
    async def status() -> str:
        response = await running.admin.get(f"/api/events/{partner}/{event_id}")
        return str(response.json()["status"]) if response.status_code == 200 else "absent"

    return await wait_until(status, lambda s: s in {"processed", "failed", "ignored"})


# --- issue 10 item 13: the URL Twilio signed, behind a trusted proxy --------------------------


@pytest.fixture
async def proxied_hub(hub_settings: Settings) -> AsyncIterator[RunningHub]:
    """No HUB_PUBLIC_BASE_URL, and the test client (127.0.0.1) is a trusted proxy."""
    settings = hub_settings.model_copy(update={"trusted_proxies": frozenset({"127.0.0.1"})})
    async with serve_hub(Hub(settings, secrets=partner_secrets(), pipeline=False)) as running:
        yield running


def _twilio_form() -> bytes:
    return urlencode(
        {"MessageSid": "SM" + uuid.uuid4().hex, "Body": "hi", "From": "+1305"}
    ).encode()


@pytest.mark.parametrize(
    ("forwarded", "signed_url", "status"),
    [
        # The right-most value is the proxy's: it decides, whatever the client put further left.
        ({"X-Forwarded-Host": "evil.example, hooks.example.com"}, "http://hooks.example.com", 200),
        ({"X-Forwarded-Host": "evil.example, hooks.example.com"}, "http://evil.example", 400),
        ({"X-Forwarded-Proto": "http, https"}, "https://{host}", 200),
        ({"X-Forwarded-Proto": "https, http"}, "https://{host}", 400),
        # Only http and https are schemes a proxy forwards; anything else is ignored.
        ({"X-Forwarded-Proto": "javascript"}, "javascript://{host}", 400),
        ({"X-Forwarded-Proto": "javascript"}, "http://{host}", 200),
        ({"X-Forwarded-Proto": "HTTPS"}, "https://{host}", 200),
    ],
    ids=["host-right-most", "host-left-most-forged", "proto-right-most", "proto-left-most-forged",
         "proto-javascript-not-believed", "proto-javascript-ignored", "proto-upper-case"],
)  # fmt: skip
async def test_forwarded_host_and_proto_count_only_as_the_trusted_proxy_wrote_them(
    proxied_hub: RunningHub, forwarded: dict[str, str], signed_url: str, status: int
) -> None:
    body = _twilio_form()
    host = proxied_hub.base_url.removeprefix("http://")
    url = signed_url.format(host=host) + "/webhooks/twilio"
    headers = sign_as("twilio", body, secret=TWILIO_AUTH_TOKEN, url=url) | forwarded

    response = await proxied_hub.http.post("/webhooks/twilio", content=body, headers=headers)

    assert response.status_code == status, response.text
    if status == 400:
        assert response.json()["error"] == "signature_mismatch"
    assert table_counts(proxied_hub.hub)["raw_events"] == (1 if status == 200 else 0)


async def test_start_warns_when_twilio_is_configured_without_a_public_base_url(
    hub_settings: Settings,
) -> None:
    with capture_logs() as logs:
        async with serve_hub(Hub(hub_settings, secrets=partner_secrets(), pipeline=False)):
            pass
    pinned = hub_settings.model_copy(update={"public_base_url": "https://hooks.example.com"})
    with capture_logs() as pinned_logs:
        async with serve_hub(Hub(pinned, secrets=partner_secrets(), pipeline=False)):
            pass

    warnings = [e for e in logs if e["event"] == "public_base_url_not_set"]
    assert [(w["partner"], w["log_level"]) for w in warnings] == [("twilio", "warning")]
    assert "HUB_PUBLIC_BASE_URL" in warnings[0]["detail"]
    assert not [e for e in pinned_logs if e["event"] == "public_base_url_not_set"]
