"""The admin API: bearer auth, listing with cursors, 404s, health and the OpenAPI document."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from structlog.testing import capture_logs

from tests.helpers import RunningHub, stripe_delivery, wait_until


async def test_api_requires_the_admin_token(running_hub: RunningHub) -> None:
    anonymous = await running_hub.http.get("/api/events")
    wrong = await running_hub.http.get("/api/events", headers={"Authorization": "Bearer nope"})
    assert (anonymous.status_code, wrong.status_code) == (401, 401)
    assert anonymous.json()["error"] == "unauthorized"


async def test_events_page_with_a_cursor(running_hub: RunningHub) -> None:
    for _ in range(5):
        body, headers = stripe_delivery()
        await running_hub.http.post("/webhooks/stripe", content=body, headers=headers)
    first = (await running_hub.admin.get("/api/events", params={"limit": 3})).json()
    second = (
        await running_hub.admin.get(
            "/api/events", params={"limit": 3, "cursor": first["next_cursor"]}
        )
    ).json()
    ids = [i["partner_event_id"] for i in first["items"] + second["items"]]
    assert len(first["items"]) == 3 and len(second["items"]) == 2
    assert len(set(ids)) == 5
    assert second["next_cursor"] is None


async def test_events_filter_by_status(running_hub: RunningHub) -> None:
    body, headers = stripe_delivery("customer.created")
    await running_hub.http.post("/webhooks/stripe", content=body, headers=headers)
    body, headers = stripe_delivery()
    await running_hub.http.post("/webhooks/stripe", content=body, headers=headers)
    page = await wait_until(
        lambda: running_hub.admin.get("/api/events", params={"status": "ignored"}),
        lambda r: len(r.json()["items"]) == 1,
    )
    assert page.json()["items"][0]["type"] == "customer.created"


async def test_unknown_event_is_404(running_hub: RunningHub) -> None:
    response = await running_hub.admin.get("/api/events/stripe/evt_missing")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    replay = await running_hub.admin.post("/api/events/stripe/evt_missing/replay")
    assert replay.status_code == 404


async def test_bad_cursor_is_400(running_hub: RunningHub) -> None:
    response = await running_hub.admin.get("/api/events", params={"cursor": "abc"})
    assert response.status_code == 400
    assert response.json()["error"] == "bad_cursor"


async def test_health_and_readiness(running_hub: RunningHub) -> None:
    assert (await running_hub.http.get("/healthz")).json() == {"status": "ok"}
    ready = await wait_until(
        lambda: running_hub.http.get("/readyz"), lambda r: r.status_code == 200
    )
    assert ready.json() == {"ready": True, "database": True, "temporal": True}


async def test_openapi_lists_the_admin_routes(running_hub: RunningHub) -> None:
    paths = (await running_hub.http.get("/openapi.json")).json()["paths"]
    assert {"/api/events", "/api/events/{partner}/{partner_event_id}", "/api/ledger"} <= set(paths)


async def test_metrics_count_accepted_deliveries(running_hub: RunningHub) -> None:
    body, headers = stripe_delivery()
    await running_hub.http.post("/webhooks/stripe", content=body, headers=headers)
    text = (await running_hub.http.get("/metrics")).text
    assert 'hub_deliveries_total{outcome="accepted",partner="stripe"}' in text


async def test_openapi_documents_the_webhook_edge(running_hub: RunningHub) -> None:
    operation = (await running_hub.http.get("/openapi.json")).json()["paths"]["/webhooks/{partner}"]
    assert {"200", "400", "404", "413", "503"} <= set(operation["post"]["responses"])


# Issue 10, item 10: every query and path parameter is checked at the boundary.
MALFORMED = [
    ("/api/events", "cursor", "²", "bad_cursor"),  # passes str.isdigit()
    ("/api/events", "cursor", "١٢٣", "bad_cursor"),  # Arabic-Indic digits: int() takes them
    ("/api/events", "cursor", "9223372036854775808", "bad_cursor"),  # 2**63: past the id column
    ("/api/events", "cursor", "9" * 40, "bad_cursor"),
    ("/api/events", "cursor", "-1", "bad_cursor"),
    ("/api/events", "cursor", "", "bad_cursor"),
    ("/api/ledger", "cursor", "²", "bad_cursor"),
    ("/api/ledger", "cursor", "18446744073709551616", "bad_cursor"),
    ("/api/audit", "cursor", "³", "bad_cursor"),
    ("/api/audit", "cursor", "9" * 400, "bad_cursor"),
    ("/api/events", "limit", "²", "bad_limit"),
    ("/api/events", "limit", "0", "bad_limit"),
    ("/api/ledger", "limit", "9" * 40, "bad_limit"),
    ("/api/audit", "limit", "-5", "bad_limit"),
    ("/api/events", "status", "bogus", "bad_status"),
    ("/api/events", "partner", "Stripe!", "bad_partner"),
    ("/api/events", "partner", "p" * 65, "bad_partner"),
    ("/api/events", "partner", "\x00", "bad_partner"),
    ("/api/events", "type", "payment\x00", "bad_type"),  # PostgreSQL text refuses NUL
    ("/api/events", "type", "t" * 256, "bad_type"),
    ("/api/events", "event_id", "evt\x00", "bad_event_id"),
    ("/api/events", "since", "yesterday", "bad_since"),
    ("/api/events", "until", "٢٠٢٤-01-01T00:00:00Z", "bad_until"),
    ("/api/audit", "actor", "\x00", "bad_actor"),
]


async def test_malformed_query_parameters_are_400_with_a_reason(running_hub: RunningHub) -> None:
    with capture_logs() as logs:
        for path, name, value, reason in MALFORMED:
            answer = await running_hub.admin.get(path, params={name: value})
            assert answer.status_code == 400, (path, name, value, answer.text)
            assert answer.json()["error"] == reason, (path, name, value, answer.text)
            assert name in answer.json()["detail"]
    refused = [line for line in logs if line["event"] == "admin_request_refused"]
    assert {line["reason"] for line in refused} == {reason for *_, reason in MALFORMED}
    metrics = (await running_hub.http.get("/metrics")).text
    assert 'hub_admin_rejections_total{reason="bad_cursor"}' in metrics


async def test_malformed_path_parameters_and_bodies_are_refused(running_hub: RunningHub) -> None:
    for path, reason in [
        ("/api/events/Stripe!/evt_1", "bad_partner"),
        ("/api/events/stripe/evt%00nul", "bad_partner_event_id"),
        ("/api/events/stripe/" + "e" * 256, "bad_partner_event_id"),
        ("/api/events/stripe/evt%00nul/raw", "bad_partner_event_id"),
    ]:
        answer = await running_hub.admin.get(path)
        assert (answer.status_code, answer.json()["error"]) == (400, reason), path
    replay = await running_hub.admin.post("/api/events/stripe/evt%00nul/replay")
    assert (replay.status_code, replay.json()["error"]) == (400, "bad_partner_event_id")
    for body in (b'{"partner_event_id": "\\ud800"}', b'{"partner_event_id": "a\\u0000"}'):
        answer = await running_hub.admin.post(
            "/api/replay", content=body, headers={"content-type": "application/json"}
        )
        assert (answer.status_code, answer.json()["error"]) == (422, "bad_body"), body
    unknown = await running_hub.admin.get("/api/nothing-here")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")


async def test_extreme_but_valid_parameters_are_answered(running_hub: RunningHub) -> None:
    body, headers = stripe_delivery()
    await running_hub.http.post("/webhooks/stripe", content=body, headers=headers)
    for path, params in [
        ("/api/events", {"cursor": str(2**63 - 1)}),
        ("/api/ledger", {"cursor": str(2**63 - 1), "limit": "500"}),
        ("/api/audit", {"cursor": "0"}),
        ("/api/events", {"since": "0001-01-01T00:00:00+01:00"}),  # before year 1 in UTC
        ("/api/events", {"until": "9999-12-31T23:59:59-01:00"}),  # after year 9999 in UTC
    ]:
        answer = await running_hub.admin.get(path, params=params)
        assert answer.status_code == 200, (path, params, answer.text)
    everything = await running_hub.admin.get(
        "/api/events",
        params={"since": "0001-01-01T00:00:00+01:00", "until": "9999-12-31T23:59:59-01:00"},
    )
    assert len(everything.json()["items"]) == 1


async def test_since_and_until_honour_their_zone(running_hub: RunningHub) -> None:
    body, headers = stripe_delivery()
    await running_hub.http.post("/webhooks/stripe", content=body, headers=headers)
    a_minute_ago = (datetime.now(UTC) - timedelta(minutes=1)).astimezone(
        timezone(timedelta(hours=5))
    )  # the same instant, written five hours ahead: stored times are compared in UTC

    async def count(**params: str) -> int:
        return len((await running_hub.admin.get("/api/events", params=params)).json()["items"])

    assert await count(since=a_minute_ago.isoformat()) == 1
    assert await count(until=a_minute_ago.isoformat()) == 0
