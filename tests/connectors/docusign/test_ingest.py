"""Connect events through a served hub: the edge verifies and stores them, the normalizer makes
contract.* events, the contracts handler (a Temporal workflow on the session's dev server)
updates the contract. Real SQLite file, PostgreSQL when configured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from integration_hub.connectors.docusign.webhook import connect_payload
from integration_hub.storage import contracts
from integration_hub.storage.engine import begin_write
from integration_hub.testing import sign_as
from tests.helpers import RunningHub, wait_until, webhook_secret

ENVELOPE = "5c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
SUBJECT = "cleaner:cln_" + "d" * 32


async def _deliver(hub: RunningHub, event_type: str, generated: str, contract_id: str) -> str:
    body = connect_payload(event_type, envelope_id=ENVELOPE, contract_id=contract_id,
                           generated=generated)  # fmt: skip
    headers = sign_as("docusign", body, secret=webhook_secret("docusign"))
    answer = await hub.http.post("/webhooks/docusign", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    event_id = quote(f"{ENVELOPE}:{event_type}:{generated}", safe="")
    shown = await wait_until(
        lambda: hub.admin.get(f"/api/events/docusign/{event_id}"),
        lambda r: r.status_code == 200 and r.json()["status"] in {"processed", "failed"},
    )
    return str(shown.json()["status"])


def _contract(hub: RunningHub, contract_id: str) -> dict[str, Any]:
    with hub.hub.engine.connect() as connection:
        row = contracts.get_contract(connection, contract_id=contract_id)
    assert row is not None
    return row


async def test_connect_events_complete_the_contract_and_a_late_one_changes_nothing(
    running_hub: RunningHub,
) -> None:
    with begin_write(running_hub.hub.engine) as connection:
        contract_id = str(
            contracts.create_contract(
                connection, subject_ref=SUBJECT, template="cleaner_agreement", language="es",
                signer_name="Ana", signer_email="ana@example.com", provider="docusign",
                valid_days=180,
            )["id"]
        )  # fmt: skip

    assert (
        await _deliver(running_hub, "envelope-sent", "2026-12-01T10:00:00.5Z", contract_id)
        == "processed"
    )
    assert (
        await _deliver(running_hub, "envelope-completed", "2026-12-01T12:00:00Z", contract_id)
        == "processed"
    )
    assert (
        await _deliver(running_hub, "envelope-delivered", "2026-12-01T11:00:00Z", contract_id)
        == "processed"
    )

    row = _contract(running_hub, contract_id)
    completed = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert (row["status"], row["envelope_id"], row["completed_at"]) == (
        "completed",
        ENVELOPE,
        completed,
    )
    assert row["expires_at"] == completed + timedelta(days=180)
    with running_hub.hub.engine.connect() as connection:
        signed = contracts.signed_contract(connection, subject_ref=SUBJECT, now=completed)
    assert signed is not None and signed["id"] == contract_id


async def test_a_forged_connect_post_is_refused_and_stores_nothing(running_hub: RunningHub) -> None:
    body = connect_payload("envelope-completed", envelope_id=ENVELOPE, contract_id=None,
                           generated="2026-12-01T12:00:00Z")  # fmt: skip
    headers = sign_as("docusign", body, secret="Zm9yZ2VkLWtleS1ub3QtdGhlLWh1YnMtMDAwMDAwMDA=")

    answer = await running_hub.http.post("/webhooks/docusign", content=body, headers=headers)

    assert answer.status_code == 400, answer.text
    assert "signature_mismatch" in answer.text
    event_id = quote(f"{ENVELOPE}:envelope-completed:2026-12-01T12:00:00Z", safe="")
    assert (await running_hub.admin.get(f"/api/events/docusign/{event_id}")).status_code == 404


async def test_a_connect_post_signed_by_100_keys_is_taken(running_hub: RunningHub) -> None:
    """DocuSign allows 100 Connect keys, each signing in its own header: the hub's header cap
    (HUB_MAX_HEADER_COUNT) must let such a post reach the signature check, and the one
    current key among them (the last) verifies it."""
    generated = "2026-12-01T12:00:00.25Z"
    body = connect_payload("envelope-sent", envelope_id=ENVELOPE, contract_id=None,
                           generated=generated)  # fmt: skip
    signed = sign_as("docusign", body, secret=webhook_secret("docusign"))
    other_key = sign_as("docusign", body, secret="b3RoZXIta2V5LW5vdC10aGUtaHVicy0wMDAwMDAwMA==")
    headers = {f"X-DocuSign-Signature-{n}": other_key["x-docusign-signature-1"]
               for n in range(1, 100)}  # fmt: skip
    headers["X-DocuSign-Signature-100"] = signed["x-docusign-signature-1"]
    headers["Content-Type"] = "application/json"

    answer = await running_hub.http.post("/webhooks/docusign", content=body, headers=headers)

    assert answer.status_code == 200, answer.text
    event_id = quote(f"{ENVELOPE}:envelope-sent:{generated}", safe="")
    assert (await running_hub.admin.get(f"/api/events/docusign/{event_id}")).status_code == 200


async def test_an_impossible_time_is_a_400_with_its_reason(running_hub: RunningHub) -> None:
    body = connect_payload("envelope-completed", envelope_id=ENVELOPE, contract_id=None,
                           generated="2024-13-45T10:00:00Z")  # fmt: skip
    headers = sign_as("docusign", body, secret=webhook_secret("docusign"))

    answer = await running_hub.http.post("/webhooks/docusign", content=body, headers=headers)

    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "malformed_time"
    event_id = quote(f"{ENVELOPE}:envelope-completed:2024-13-45T10:00:00Z", safe="")
    assert (await running_hub.admin.get(f"/api/events/docusign/{event_id}")).status_code == 404
