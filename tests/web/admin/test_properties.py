"""Properties through the admin API, `hub properties`, and the panel's calendar: a manager's
properties in pages, the suggestion of two that look like one place, an admin linking a listing
onto the other (its stays move, the property left without listings goes), and the month grid:
stays filled, blocks hatched, cancelled stays absent, a held feed in a banner."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from integration_hub.cli.app import app
from tests.helpers import ADMIN_TOKEN, RunningHub
from tests.web.admin.pms_rows import CONNECTION, MANAGER, OTHER_PROPERTY, PROPERTY, seed


async def test_properties_page_suggest_and_link(running_hub: RunningHub) -> None:
    seed(running_hub.hub.engine)
    api = running_hub.admin

    listed = (await api.get("/api/properties", params={"manager": MANAGER})).json()
    assert [(p["id"], p["listings"]) for p in listed["items"]] == [
        (PROPERTY, 1),
        (OTHER_PROPERTY, 0),
    ]
    page = (await api.get("/api/properties", params={"limit": 1})).json()
    after = (await api.get("/api/properties", params={"cursor": page["next_cursor"]})).json()
    assert [p["id"] for p in page["items"] + after["items"]] == [PROPERTY, OTHER_PROPERTY]
    assert (await api.get("/api/properties", params={"manager": "nobody"})).json()["items"] == []

    suggested = await api.get("/api/properties/link-suggestions", params={"manager": MANAGER})
    assert suggested.json()["items"] == [{"property_id": PROPERTY, "looks_like": OTHER_PROPERTY}]

    body = {"connection_id": CONNECTION, "source_listing_id": "L1", "property_id": OTHER_PROPERTY}
    linked = await api.post("/api/properties/link", json=body)
    assert linked.status_code == 200, linked.text
    moved = (await api.get("/api/reservations", params={"property": OTHER_PROPERTY})).json()
    assert len(moved["items"]) == 3
    assert [p["id"] for p in (await api.get("/api/properties")).json()["items"]] == [OTHER_PROPERTY]
    unknown = await api.post("/api/properties/link", json={**body, "source_listing_id": "L9"})
    assert (unknown.status_code, unknown.json()["error"]) == (422, "not_linked")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_hub_properties_link_through_the_cli(
    running_hub: RunningHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(running_hub.hub.engine)
    monkeypatch.setenv("HUB_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("HUB_URL", running_hub.base_url)
    monkeypatch.chdir(running_hub.hub.settings.home)

    def invoke(*args: str) -> str:
        result = CliRunner().invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    assert PROPERTY in await asyncio.to_thread(invoke, "properties", "list")
    await asyncio.to_thread(invoke, "properties", "link", CONNECTION, "L1", OTHER_PROPERTY)
    listed = await asyncio.to_thread(invoke, "properties", "list")
    assert OTHER_PROPERTY in listed and PROPERTY not in listed


async def test_the_calendar_api_and_the_panel_grid(running_hub: RunningHub) -> None:
    seed(running_hub.hub.engine, status="held")
    api = running_hub.admin

    month = {"from": "2026-12-01", "to": "2027-01-01"}
    data = (await api.get("/api/calendar", params=month)).json()
    assert [(s["id"], s["is_block"]) for s in data["stays"]] == [
        (f"stay_{1:024x}", False),
        (f"stay_{2:024x}", True),
    ]  # the cancelled one is left out
    assert [(h["id"], h["property_id"]) for h in data["held"]] == [(CONNECTION, PROPERTY)]
    too_long = await api.get("/api/calendar", params={"from": "2026-01-01", "to": "2027-01-01"})
    assert too_long.status_code == 400

    redirected = await running_hub.http.get("/status/calendar")
    assert redirected.status_code == 303
    panel = await running_hub.admin.get("/status/calendar", params={"month": "2026-12"})
    assert panel.status_code == 200, panel.text
    html = panel.text
    row = html.split(f'data-property="{PROPERTY}"')[1].split("</tr>")[0]
    assert 'class="stay first" data-day="2026-12-03"' in row
    assert 'class="stay" data-day="2026-12-05"' in row
    assert 'class="" data-day="2026-12-06"' in row  # the departure day is free
    assert 'class="block first" data-day="2026-12-08"' in row
    assert 'class="" data-day="2026-12-14"' in row  # the cancelled stay is not shown
    assert 'id="held"' in html and "lost 80% of its entries" in html
    assert "Ana" not in html
