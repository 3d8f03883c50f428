"""The dispatch outbox survives a Temporal outage: ingest and normalization go on, handlers wait."""

from __future__ import annotations

from pathlib import Path

import orjson

from integration_hub.orchestration.devserver import EmbeddedTemporal, free_port
from integration_hub.runtime import Hub
from tests.helpers import make_settings, partner_secrets, serve_hub, stripe_delivery, wait_until


async def test_temporal_outage_delays_handlers_and_loses_nothing(
    tmp_path: Path, database_url: str
) -> None:
    port = free_port()  # nothing listens here yet: Temporal is "down"
    settings = make_settings(tmp_path, database_url, f"127.0.0.1:{port}")
    async with serve_hub(Hub(settings, secrets=partner_secrets())) as running:
        ids = []
        for _ in range(5):
            body, headers = stripe_delivery()
            response = await running.http.post("/webhooks/stripe", content=body, headers=headers)
            assert response.status_code == 200
            ids.append(orjson.loads(body)["id"])

        async def statuses() -> list[tuple[str, str]]:
            out = []
            for event_id in ids:
                detail = (await running.admin.get(f"/api/events/stripe/{event_id}")).json()
                handlers = (
                    detail["events"][0]["handlers"] if detail["events"] else [{"status": "-"}]
                )
                out.append((detail["status"], handlers[0]["status"]))
            return out

        # Normalized while Temporal is away; each handler run waits as pending.
        assert await wait_until(statuses, lambda s: all(x == ("processing", "pending") for x in s))
        ready = (await running.http.get("/readyz")).json()
        assert ready == {"ready": False, "database": True, "temporal": False}

        temporal = EmbeddedTemporal(db_file=None, port=port)
        await temporal.start()
        try:
            done = await wait_until(
                statuses, lambda s: all(x == ("processed", "completed") for x in s), timeout=60
            )
            assert len(done) == 5
            ledger = (await running.admin.get("/api/ledger")).json()["items"]
            assert len(ledger) == 5
        finally:
            temporal.stop()
