"""Reservations through the admin API and `hub reservations list`: with their stay and
property, filtered by property, dates and status, in pages by check-in; guest contact for admins
only (masked for viewers, never in the CLI's table); one reservation's history."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from integration_hub.cli.app import app
from tests.helpers import ADMIN_TOKEN, RunningHub
from tests.web.admin.pms_rows import GUEST, OTHER_PROPERTY, PROPERTY, seed
from tests.web.issuer import Issuer, bearer, issuer, oidc_hub, twilio_api

__all__ = ["issuer", "oidc_hub", "twilio_api"]  # fixtures

FIRST, BLOCK, CANCELLED = (f"res_{n:024x}" for n in (1, 2, 3))


async def test_reservations_filter_page_and_mask_guests(
    oidc_hub: RunningHub, issuer: Issuer
) -> None:
    seed(oidc_hub.hub.engine)
    api = oidc_hub.admin

    everything = (await api.get("/api/reservations")).json()
    assert [r["id"] for r in everything["items"]] == [FIRST, BLOCK, CANCELLED]
    first = everything["items"][0]
    assert (first["stay_id"], first["property_id"]) == (f"stay_{1:024x}", PROPERTY)
    assert {k: first[k] for k in GUEST} == GUEST
    assert (first["check_in"], first["check_out"]) == ("2026-12-03", "2026-12-06")

    page = (await api.get("/api/reservations", params={"limit": 2})).json()
    assert [r["id"] for r in page["items"]] == [FIRST, BLOCK]
    rest = (await api.get("/api/reservations", params={"cursor": page["next_cursor"]})).json()
    assert ([r["id"] for r in rest["items"]], rest["next_cursor"]) == ([CANCELLED], None)

    # [from, to) keeps the stays that overlap it: the departure day is not a night.
    dated = await api.get("/api/reservations", params={"from": "2026-12-06", "to": "2026-12-09"})
    assert [r["id"] for r in dated.json()["items"]] == [BLOCK]
    confirmed = await api.get("/api/reservations", params={"status": ["confirmed", "blocked"]})
    assert [r["id"] for r in confirmed.json()["items"]] == [FIRST, BLOCK]
    other = await api.get("/api/reservations", params={"property": OTHER_PROPERTY})
    assert other.json()["items"] == []
    assert (await api.get("/api/reservations", params={"status": "gone"})).status_code == 400
    assert (await api.get("/api/reservations", params={"cursor": "x"})).status_code == 400

    viewer = bearer(issuer.token("viewer"))
    masked = (await oidc_hub.http.get("/api/reservations", headers=viewer)).json()["items"][0]
    assert {k: masked[k] for k in GUEST} == dict.fromkeys(GUEST, "***")
    text = (await oidc_hub.http.get("/api/reservations", headers=viewer)).text
    assert all(value not in text for value in GUEST.values())


async def test_history_lists_the_changes_without_guest_values(running_hub: RunningHub) -> None:
    seed(running_hub.hub.engine)

    history = (await running_hub.admin.get(f"/api/reservations/{FIRST}/history")).json()
    assert [(c["event_id"], c["kind"]) for c in history] == [
        ("evt_1", "created"),
        ("evt_2", "changed"),
    ]
    assert history[1]["changes"]["check_out"] == ["2026-12-05", "2026-12-06"]
    missing = await running_hub.admin.get("/api/reservations/res_" + "f" * 24 + "/history")
    assert missing.status_code == 404


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_cli_prints_a_table_without_guests(
    running_hub: RunningHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(running_hub.hub.engine)
    monkeypatch.setenv("HUB_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("HUB_URL", running_hub.base_url)
    monkeypatch.chdir(running_hub.hub.settings.home)  # no .env of the checkout

    def invoke() -> str:
        args = ["reservations", "list", "--from", "2026-12-01", "--to", "2027-01-01",
                "--status", "confirmed"]  # fmt: skip
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        return result.output

    output = await asyncio.to_thread(invoke)
    lines = output.strip().splitlines()
    assert lines[0].split() == ["property", "stay", "check_in", "check_out", "status", "source",
                                "channel"]  # fmt: skip
    assert lines[1].split() == [PROPERTY, f"stay_{1:024x}", "2026-12-03", "2026-12-06",
                                "confirmed", "fakepms", "airbnb"]  # fmt: skip
    assert len(lines) == 2
    assert all(value not in output for value in GUEST.values())
