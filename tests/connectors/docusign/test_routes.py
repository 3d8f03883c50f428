"""`POST /api/contracts` on a served hub: the `docusign.send_contract` workflow on the session's
Temporal dev server and a worker, DocuSign's OAuth host and API stood in for by a local server
that verifies the JWT assertion (support.py), then Connect's signed events through the edge to
the contracts handler. Real SQLite file, PostgreSQL when configured."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from integration_hub.connectors.docusign.webhook import connect_payload
from integration_hub.runtime import Hub
from integration_hub.secrets import EnvSecretSource
from integration_hub.testing import sign_as
from tests.connectors.docusign.support import TEMPLATE_EN, TEMPLATES, FakeDocuSign, docusign_secrets
from tests.helpers import (
    RunningHub,
    local_secrets,
    make_settings,
    serve_hub,
    wait_until,
    webhook_secret,
)
from tests.partner_server import PartnerServer

SUBJECT = "cleaner:cln_" + "e" * 32
REQUEST = {
    "subject_ref": SUBJECT,
    "template": "cleaner_agreement",
    "language": "en",
    "signer": {"name": "Ana García", "email": "ana@example.com"},
    "fields": {"address": "123 Ocean Dr, Miami"},
}


@pytest.fixture
def docusign() -> FakeDocuSign:
    return FakeDocuSign()


@pytest.fixture
def server(docusign: FakeDocuSign) -> Iterator[PartnerServer]:
    with PartnerServer(docusign) as running:
        docusign.base_uri = running.url
        yield running


@pytest.fixture
async def hub(
    tmp_path: Path, database_url: str, temporal_address: str, server: PartnerServer,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[RunningHub]:  # fmt: skip
    # The partner's own settings, read from the environment when the hub builds its parts.
    monkeypatch.setenv("HUB_DOCUSIGN_OAUTH_BASE_URL", server.url)
    monkeypatch.setenv("HUB_DOCUSIGN_TEMPLATES", json.dumps(TEMPLATES))
    settings = make_settings(tmp_path, database_url, temporal_address)
    secrets = EnvSecretSource(environ={**local_secrets(), **docusign_secrets()})
    async with serve_hub(Hub(settings, secrets=secrets)) as running:
        yield running


async def _listed(hub: RunningHub, subject: str = SUBJECT) -> list[dict[str, Any]]:
    answer = await hub.admin.get("/api/contracts", params={"subject_ref": subject})
    assert answer.status_code == 200, answer.text
    listed: list[dict[str, Any]] = answer.json()
    return listed


async def test_a_contract_is_sent_once_and_completes_from_connect(
    hub: RunningHub, docusign: FakeDocuSign
) -> None:
    added = await hub.admin.post("/api/cleaners", json={"name": "Ana", "phone": "+13055550177"})
    cleaner_id = added.json()["id"]
    shown = await hub.admin.get(f"/api/cleaners/{cleaner_id}")
    assert shown.json()["contract_signed"] is False
    answer = await hub.admin.post(
        "/api/contracts", json={**REQUEST, "subject_ref": f"cleaner:{cleaner_id}"}
    )

    assert answer.status_code == 201, answer.text
    out = answer.json()
    contract_id = out["id"]
    (envelope,) = docusign.envelopes
    assert (out["status"], out["envelope_id"], out["language"]) == (
        "sent",
        envelope["envelopeId"],
        "en",
    )
    assert out["workflow_id"] == f"docusign.send_contract/{contract_id}"
    assert "ana@example.com" not in answer.text  # the signer's email is never shown
    assert envelope["templateId"] == TEMPLATE_EN
    assert envelope["templateRoles"][0]["tabs"] == {
        "textTabs": [{"tabLabel": "address", "value": "123 Ocean Dr, Miami"}]
    }

    body = connect_payload("envelope-completed", envelope_id=envelope["envelopeId"],
                           contract_id=contract_id, generated="2026-12-01T12:00:00.25Z")  # fmt: skip
    headers = sign_as("docusign", body, secret=webhook_secret("docusign"))
    assert (await hub.http.post("/webhooks/docusign", content=body, headers=headers)).is_success

    listed = await wait_until(
        lambda: _listed(hub, f"cleaner:{cleaner_id}"), lambda c: c[0]["status"] == "completed"
    )
    assert listed[0]["id"] == contract_id
    assert (listed[0]["completed_at"], listed[0]["expires_at"]) == (
        "2026-12-01T12:00:00.250000Z", "2027-12-01T12:00:00.250000Z",
    )  # fmt: skip
    assert (await hub.admin.get(f"/api/cleaners/{cleaner_id}")).json()["contract_signed"] is True


async def test_a_lost_answer_is_found_on_retry_and_not_sent_twice(
    hub: RunningHub, docusign: FakeDocuSign, server: PartnerServer
) -> None:
    docusign.lose_answers = 1

    answer = await hub.admin.post("/api/contracts", json=REQUEST)

    assert answer.status_code == 201, answer.text
    (envelope,) = docusign.envelopes
    assert answer.json()["envelope_id"] == envelope["envelopeId"]
    lookup = [r for r in server.requests if r.method == "GET" and r.path.endswith("/envelopes")]
    assert lookup[0].query["custom_field"] == [f"hub_contract_id={answer.json()['id']}"]


async def test_consent_required_is_a_422_with_the_consent_url(
    hub: RunningHub, docusign: FakeDocuSign
) -> None:
    docusign.consent_given = False

    answer = await hub.admin.post("/api/contracts", json=REQUEST)

    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "call_refused"
    assert (
        "/oauth/auth?response_type=code&scope=signature%20impersonation" in answer.json()["detail"]
    )
    assert (await _listed(hub))[0]["status"] == "created"


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"template": "unknown"}, 422, "unknown_template"),
        ({"language": "fr"}, 422, "bad_body"),
        ({"subject_ref": "cleaner"}, 422, "bad_body"),
        ({"signer": {"name": "Ana", "email": "not-an-email"}}, 422, "bad_body"),
        ({"fields": {f"f{n}": "x" for n in range(51)}}, 422, "bad_body"),
        ({"fields": {"f": "x" * 1001}}, 422, "bad_body"),
    ],
)
async def test_bad_requests_are_refused_before_docusign_hears_of_them(
    hub: RunningHub, server: PartnerServer, change: dict[str, Any], status: int, error: str
) -> None:
    answer = await hub.admin.post("/api/contracts", json={**REQUEST, **change})

    assert (answer.status_code, answer.json()["error"]) == (status, error)
    assert server.requests == []
