"""/metrics of a running hub, parsed as Prometheus parses it, after real deliveries."""

from __future__ import annotations

from pathlib import Path

import orjson
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from integration_hub import metrics
from integration_hub.runtime import Hub
from tests.helpers import (
    RunningHub,
    make_settings,
    partner_secrets,
    serve_hub,
    stripe_delivery,
    wait_until,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(running: RunningHub) -> Samples:
    response = await running.http.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_deliveries_latency_and_backlog_are_scraped_by_partner(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    settings = make_settings(tmp_path, database_url, temporal_address, backlog_refresh_seconds=0.05)
    async with serve_hub(Hub(settings, secrets=partner_secrets())) as running:
        before = await scrape(running)
        body, headers = stripe_delivery()
        assert (
            await running.http.post("/webhooks/stripe", content=body, headers=headers)
        ).is_success
        assert (
            await running.http.post("/webhooks/stripe", content=body, headers=headers)
        ).is_success
        forged = {
            k: v[:-4] + "0000" if k.lower() == "stripe-signature" else v for k, v in headers.items()
        }
        rejected = await running.http.post("/webhooks/stripe", content=body, headers=forged)
        reason = rejected.json()["error"]
        # A payload its schema refuses: dead-lettered at normalization.
        bad_body, bad_headers = stripe_delivery(currency="dollars")
        bad = await running.http.post("/webhooks/stripe", content=bad_body, headers=bad_headers)
        assert bad.is_success

        async def settled() -> Samples:
            return await scrape(running)

        def done(samples: Samples) -> bool:
            processed = "hub_receipt_to_processed_seconds_count"
            return (
                value(samples, processed, partner="stripe")
                > value(before, processed, partner="stripe")
                and value(samples, "hub_events_dead_lettered", partner="stripe") == 1
                and value(samples, "hub_events_waiting", partner="stripe") == 0
            )

        after = await wait_until(settled, done)
        event_id = orjson.loads(body)["id"]
        detail = (await running.admin.get(f"/api/events/stripe/{event_id}")).json()
        assert detail["status"] == "processed"

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("hub_deliveries_total", partner="stripe", outcome="accepted") == 2
    assert grew("hub_deliveries_total", partner="stripe", outcome="duplicate") == 1
    assert grew("hub_deliveries_total", partner="stripe", outcome="rejected") == 1
    assert grew("hub_rejections_total", partner="stripe", reason=reason) == 1
    assert grew("hub_normalized_total", partner="stripe", status="processing") == 1
    assert grew("hub_normalized_total", partner="stripe", status="failed") == 1
    assert grew("hub_handler_outcomes_total", handler="ledger", status="completed") == 1
    assert grew("hub_receipt_to_processed_seconds_count", partner="stripe") == 1
    assert grew("hub_receipt_to_processed_seconds_bucket", partner="stripe", le="+Inf") == 1


async def test_requests_the_edge_cannot_route_are_scraped_as_rejections(
    running_hub: RunningHub,
) -> None:
    """404 and 400 answers of the edge are refusals like any other; a path a sender made up
    is counted under the partner "-", never under its own label value."""
    before = await scrape(running_hub)
    for path in ("/webhooks/made-up-partner", "/webhooks/stripe/made-up", "/webhooks/a/b/c"):
        response = await running_hub.http.post(path, content=b"{}")
        assert response.status_code in (400, 404), response.text
    after = await scrape(running_hub)

    def grew(**labels: str) -> float:
        return value(after, "hub_rejections_total", **labels) - value(
            before, "hub_rejections_total", **labels
        )

    assert grew(partner="-", reason="unknown_partner") == 1
    assert grew(partner="stripe", reason="unknown_endpoint") == 1
    assert grew(partner="-", reason="bad_path") == 1
    assert value(after, "hub_deliveries_total", partner="-", outcome="rejected") >= 2
    assert not [labels for name, labels in after if ("partner", "made-up-partner") in labels]


def test_a_partner_whose_backlog_clears_reads_zero() -> None:
    metrics.set_backlog({("clerk", "received"): 2, ("clerk", "processing"): 1})
    metrics.set_backlog({("auth0", "failed"): 3})
    assert gauge("hub_events_waiting", "clerk") == 0
    assert gauge("hub_events_dead_lettered", "auth0") == 3
    metrics.set_backlog({})
    assert gauge("hub_events_dead_lettered", "auth0") == 0


def gauge(name: str, partner: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"partner": partner})


def test_hub_serve_child_worker_serves_the_pipeline_metrics(
    tmp_path: Path, temporal_address: str
) -> None:
    """Under `hub serve` the pipeline runs in a child `hub worker`: its counters are scraped
    from HUB_WORKER_METRICS_PORT, a second Prometheus target."""
    import time
    import uuid

    import httpx

    from integration_hub.orchestration.devserver import free_port
    from integration_hub.testing import HubProcess, hub_env
    from tests.helpers import STRIPE_SECRET

    worker_port = free_port()
    env = hub_env(
        tmp_path / "var",
        HUB_TEMPORAL_ADDRESS=temporal_address,
        HUB_TASK_QUEUE=f"metrics-{uuid.uuid4().hex}",
        HUB_WORKER_METRICS_PORT=str(worker_port),
        STRIPE_WEBHOOK_SECRET=STRIPE_SECRET,
    )
    hub = HubProcess(tmp_path, env)
    hub.start()
    try:
        body, headers = stripe_delivery()
        assert httpx.post(f"{hub.url}/webhooks/stripe", content=body, headers=headers).is_success
        samples: Samples = {}
        for _ in range(300):
            try:  # the child starts after the edge answers
                page = httpx.get(f"http://127.0.0.1:{worker_port}/metrics", timeout=5)
            except httpx.ConnectError:
                time.sleep(0.1)
                continue
            samples = {
                (s.name, frozenset(s.labels.items())): s.value
                for family in text_string_to_metric_families(page.text)
                for s in family.samples
            }
            if value(samples, "hub_handler_outcomes_total", handler="ledger", status="completed"):
                break
            time.sleep(0.1)
        assert value(samples, "hub_normalized_total", partner="stripe", status="processing") == 1
        assert value(samples, "hub_handler_outcomes_total", handler="ledger", status="completed")
    finally:
        hub.stop()


def test_a_partners_own_metrics_are_exposed_with_the_hubs() -> None:
    """A partner declares its metrics in its package (the Maps quota here); `/metrics` serves
    the one default registry, so they show beside the hub's, and `metrics.py` names none."""
    from prometheus_client import generate_latest

    from integration_hub.connectors.partners import PARTNERS

    assert PARTNERS  # importing the registry imports every partner package
    page = generate_latest(REGISTRY).decode()
    assert "# TYPE hub_calls_out_total counter" in page
    assert "# TYPE hub_maps_daily_usage gauge" in page
    assert "# TYPE hub_maps_cache_total counter" in page
    assert not [name for name in vars(metrics) if name.startswith("MAPS_")]
