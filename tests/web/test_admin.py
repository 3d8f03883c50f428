"""The admin API: bearer auth, listing with cursors, 404s, health and the OpenAPI document."""

from __future__ import annotations

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
