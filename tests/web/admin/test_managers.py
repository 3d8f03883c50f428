"""Managers and PMS connections through the admin API and the CLI's commands: admins write,
viewers read without contact details; a connection of a reservations partner gets its
per-connection poll schedule on the hub's Temporal at once and loses it when removed; a held
feed is released."""

from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import Result
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.service import RPCError
from typer.testing import CliRunner

from integration_hub.cli.app import app
from integration_hub.connectors.partners import PARTNERS
from integration_hub.orchestration.polls import PollInput, connection_schedule_id
from integration_hub.storage import managers as manager_rows
from tests.helpers import ADMIN_TOKEN, RunningHub
from tests.web.admin.pms_rows import CONNECTION, FAKE, MANAGER, SOURCE, fake_partner, seed
from tests.web.issuer import Issuer, bearer, issuer, oidc_hub, twilio_api

__all__ = ["issuer", "oidc_hub", "twilio_api"]  # fixtures

ACME = {"id": "acme", "name": "Acme Homes", "contact_email": "ops@acme.example",
        "contact_phone": "+13055550100", "billing_mode": "monthly"}  # fmt: skip


@pytest.fixture
def with_fake_pms(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry with a reservations partner (none is on main yet)."""
    monkeypatch.setattr("integration_hub.web.admin.managers.PARTNERS", (*PARTNERS, fake_partner()))


async def test_managers_admins_write_viewers_read_without_contacts(
    oidc_hub: RunningHub, issuer: Issuer
) -> None:
    added = await oidc_hub.admin.post("/api/managers", json=ACME)
    assert added.status_code == 201, added.text
    assert {k: added.json()[k] for k in ACME} == ACME
    again = await oidc_hub.admin.post("/api/managers", json=ACME)
    assert (again.status_code, again.json()["error"]) == (409, "manager_exists")
    bad = await oidc_hub.admin.post("/api/managers", json={**ACME, "id": "Not A Slug"})
    assert bad.status_code == 422

    viewer = bearer(issuer.token("viewer"))
    refused = await oidc_hub.http.post("/api/managers", json={**ACME, "id": "b"}, headers=viewer)
    assert refused.status_code == 403
    [shown] = (await oidc_hub.http.get("/api/managers", headers=viewer)).json()["items"]
    assert (shown["id"], shown["name"], shown["billing_mode"]) == ("acme", "Acme Homes", "monthly")
    assert (shown["contact_email"], shown["contact_phone"]) == (None, None)
    [full] = (await oidc_hub.admin.get("/api/managers")).json()["items"]
    assert full["contact_email"] == ACME["contact_email"]


async def test_a_connection_gets_its_poll_schedule_and_loses_it_when_removed(
    running_hub: RunningHub, with_fake_pms: None
) -> None:
    assert (await running_hub.admin.post("/api/managers", json=ACME)).status_code == 201
    body = {"id": "acme-fake", "partner": FAKE, "manager_id": "acme", "label": "Acme's account"}

    unknown = await running_hub.admin.post("/api/connections", json={**body, "partner": "stripe"})
    assert (unknown.status_code, unknown.json()["error"]) == (422, "unknown_partner")
    no_manager = await running_hub.admin.post("/api/connections", json={**body, "manager_id": "x"})
    assert (no_manager.status_code, no_manager.json()["error"]) == (422, "unknown_manager")

    added = await running_hub.admin.post("/api/connections", json=body)
    assert added.status_code == 201, added.text
    connection = added.json()
    schedule = connection_schedule_id(FAKE, SOURCE, "acme-fake")
    assert connection["schedules"] == [schedule]
    assert connection["secrets"] == [
        "FAKEPMS_WEBHOOK_SECRET__ACME-FAKE",
        "FAKEPMS_API_KEY__ACME-FAKE",
    ]
    assert connection["status"] == "active"
    client = running_hub.hub.temporal_client
    assert client is not None
    action = (await client.get_schedule_handle(schedule).describe()).schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.task_queue == running_hub.hub.settings.task_queue
    [argument] = action.args
    assert PollInput(**client.data_converter.payload_converter.from_payload(argument)) == PollInput(  # type: ignore[arg-type]
        FAKE, SOURCE, "acme-fake"
    )
    listed = (await running_hub.admin.get("/api/connections", params={"partner": FAKE})).json()
    assert [c["id"] for c in listed["items"]] == ["acme-fake"]
    assert (await running_hub.admin.post("/api/connections", json=body)).status_code == 409

    removed = await running_hub.admin.delete("/api/connections/acme-fake")
    assert removed.status_code == 200, removed.text
    assert removed.json()["schedules"] == [schedule]
    with pytest.raises(RPCError):
        await client.get_schedule_handle(schedule).describe()
    assert (await running_hub.admin.delete("/api/connections/acme-fake")).status_code == 404


async def test_a_connection_in_use_stays_and_a_held_feed_is_released(
    running_hub: RunningHub,
) -> None:
    seed(running_hub.hub.engine, status="held")

    in_use = await running_hub.admin.delete(f"/api/connections/{CONNECTION}")
    assert (in_use.status_code, in_use.json()["error"]) == (409, "connection_in_use")
    [held] = (await running_hub.admin.get("/api/connections")).json()["items"]
    assert (held["status"], held["manager_id"]) == ("held", MANAGER)

    released = await running_hub.admin.post(f"/api/connections/{CONNECTION}/release")
    assert released.status_code == 200, released.text
    assert released.json()["status"] == "active"
    with running_hub.hub.engine.connect() as connection:
        row = manager_rows.get_connection(connection, connection_id=CONNECTION)
    assert row is not None and row["status"] == "active"
    missing = await running_hub.admin.post("/api/connections/nobody/release")
    assert missing.status_code == 404


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_cli_adds_a_manager_and_a_connection_and_names_its_secrets(
    running_hub: RunningHub, with_fake_pms: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("HUB_URL", running_hub.base_url)
    monkeypatch.chdir(running_hub.hub.settings.home)

    def invoke(*args: str) -> Result:
        result = CliRunner().invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result

    await asyncio.to_thread(invoke, "managers", "add", "acme", "Acme Homes", "--billing", "monthly")
    added = await asyncio.to_thread(
        invoke, "connections", "add", "acme-fake", FAKE, "--manager", "acme",
        "--option", "channel=airbnb",
    )  # fmt: skip
    answer = json.loads(added.stdout)
    assert (answer["options"], answer["schedules"]) == (
        {"channel": "airbnb"},
        [connection_schedule_id(FAKE, SOURCE, "acme-fake")],
    )
    assert "hub secrets set FAKEPMS_API_KEY__ACME-FAKE" in added.stderr
    listed = json.loads((await asyncio.to_thread(invoke, "connections", "list")).stdout)
    assert [c["id"] for c in listed["items"]] == ["acme-fake"]
    removed = json.loads(
        (await asyncio.to_thread(invoke, "connections", "remove", "acme-fake")).stdout
    )
    assert removed["schedules"] == [connection_schedule_id(FAKE, SOURCE, "acme-fake")]
