"""POST /api/messages: the admin API sends through the Twilio workflow; an opted-out contact
(opted out by a real signed STOP through the edge) is refused and Twilio never hears of it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from integration_hub.runtime import Hub
from tests.connectors.twilio.support import PUBLIC_BASE_URL, deliver, inbound
from tests.helpers import (
    TWILIO_ACCOUNT_SID,
    RunningHub,
    make_settings,
    partner_secrets,
    serve_hub,
)
from tests.partner_server import PartnerServer, Reply, partner_server

CLEANER = "+13055550142"


@pytest.fixture
def twilio_api() -> Iterator[PartnerServer]:
    created = Reply(201, {"sid": "SM" + "b" * 32, "status": "queued"})
    yield from partner_server(created)


@pytest.fixture
async def hub(
    tmp_path: Path,
    database_url: str,
    temporal_address: str,
    twilio_api: PartnerServer,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[RunningHub]:
    # The partner's own setting, read from the environment when the hub builds its calls.
    monkeypatch.setenv("HUB_TWILIO_API_BASE_URL", twilio_api.url)
    settings = make_settings(
        tmp_path, database_url, temporal_address, public_base_url=PUBLIC_BASE_URL
    )
    async with serve_hub(Hub(settings, secrets=partner_secrets())) as running:
        yield running


async def test_sms_is_sent_and_reports_twilios_sid(
    hub: RunningHub, twilio_api: PartnerServer
) -> None:
    message_id = f"job-17-reminder-{uuid.uuid4().hex}"  # the Temporal server outlives the test
    answer = await hub.admin.post(
        "/api/messages",
        json={"message_id": message_id, "to": CLEANER, "channel": "sms", "body": "Hola"},
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["message_sid"] == "SM" + "b" * 32
    assert answer.json()["workflow_id"] == f"twilio.send_message/{message_id}"
    [request] = twilio_api.requests
    assert request.path == f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"
    assert request.form()["To"] == [CLEANER]


async def test_opted_out_contact_is_refused_with_no_call_to_twilio(
    hub: RunningHub, twilio_api: PartnerServer
) -> None:
    await deliver(hub, inbound("SM" + "1" * 32, "STOP", sender=CLEANER))

    answer = await hub.admin.post(
        "/api/messages",
        json={"message_id": uuid.uuid4().hex, "to": CLEANER, "channel": "sms", "body": "Hi"},
    )

    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "call_refused"
    assert "opted out" in answer.json()["detail"]
    assert twilio_api.requests == []


async def test_the_same_message_id_sends_once(hub: RunningHub, twilio_api: PartnerServer) -> None:
    message = {"message_id": uuid.uuid4().hex, "to": CLEANER, "channel": "sms", "body": "Hola"}

    first = await hub.admin.post("/api/messages", json=message)
    second = await hub.admin.post("/api/messages", json=message)

    assert first.status_code == second.status_code == 200
    assert second.json()["message_sid"] == first.json()["message_sid"]
    assert len(twilio_api.requests) == 1


async def test_malformed_phone_number_is_a_validation_error(hub: RunningHub) -> None:
    answer = await hub.admin.post(
        "/api/messages",
        json={"message_id": "m-1", "to": "305-555-0142", "channel": "sms", "body": "Hi"},
    )

    assert answer.status_code == 422


async def test_template_variables_are_bounded(hub: RunningHub, twilio_api: PartnerServer) -> None:
    """An unbounded map went into the workflow's input past Temporal's payload limit (a 500):
    at most 50 variables, names of 1..64 characters, values of up to 1024, else 422 bad_body."""
    base = {"to": CLEANER, "channel": "whatsapp", "template": "welcome"}
    for variables in (
        {str(n): "x" for n in range(51)},
        {"n" * 65: "x"},
        {"": "x"},
        {"1": "v" * 1025},
        {str(n): "v" * 100_000 for n in range(40)},
    ):
        answer = await hub.admin.post(
            "/api/messages",
            json={**base, "message_id": f"m-{uuid.uuid4()}", "variables": variables},
        )
        assert (answer.status_code, answer.json()["error"]) == (422, "bad_body"), answer.text
    assert twilio_api.requests == []
    at_the_bounds = {f"{n:064d}": "v" * 1024 for n in range(50)}
    answer = await hub.admin.post(
        "/api/messages",
        json={**base, "message_id": f"m-{uuid.uuid4()}", "variables": at_the_bounds},
    )
    assert answer.status_code < 500 and answer.json().get("error") != "bad_body", answer.text
    schema = (await hub.http.get("/openapi.json")).json()["components"]["schemas"]
    variables_schema = schema["MessageRequest"]["properties"]["variables"]
    assert variables_schema["maxProperties"] == 50
