"""POST /api/emails through each provider (SendGrid, Resend) with the session's Temporal dev
server and a worker: the exact documented request reaches a local server standing in for the
provider; refusals (suppressed by a real signed webhook, bad address, unknown template, a
missing variable, no provider) answer 422 before any request leaves; rate limits honoured."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from integration_hub.connectors.outbound import idempotency_key
from integration_hub.runtime import Hub
from integration_hub.secrets.env import EnvSecretSource
from integration_hub.testing import sign_as
from tests.helpers import (
    RunningHub,
    local_secrets,
    make_settings,
    serve_hub,
    wait_until,
    webhook_secret,
)
from tests.partner_server import PartnerServer, RecordedRequest, Reply, partner_server

SENDGRID_KEY = "SG.abcdefghijABCDEFGHIJ12.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
RESEND_KEY = "re_123456789_abcdefghijklmnop"
FROM = "Turnover Team <team@mail.example.com>"
UNSUBSCRIBE_URL = "https://hub.example.com/unsubscribe"
TO = "lucia.perez@example.org"
VARIABLES = {
    "name": "Lucía <b>",
    "property": "Brickell 1204",
    "date": "2026-12-05",
    "time": "11:00",
    "pay": "$90",
    "link": "https://example.org/jobs/4312",
}
# What each provider answers to a send, as documented.
ACCEPTED = {
    "sendgrid": Reply(202, b"", {"X-Message-Id": "W0rdMsgIdAbCdEfGh12345"}),
    "resend": Reply(200, {"id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"}),
}


@pytest.fixture(params=["sendgrid", "resend"])
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def api(provider: str) -> Iterator[PartnerServer]:
    yield from partner_server(ACCEPTED[provider])


def _hub(tmp_path: Path, database_url: str, temporal_address: str, **overrides: Any) -> Hub:
    settings = make_settings(
        tmp_path,
        database_url,
        temporal_address,
        email_from=FROM,
        email_unsubscribe_url=UNSUBSCRIBE_URL,
        email_unsubscribe_mailto="unsubscribe@mail.example.com",
        **overrides,
    )
    keys = {"SENDGRID_API_KEY": SENDGRID_KEY, "RESEND_API_KEY": RESEND_KEY}
    return Hub(settings, secrets=EnvSecretSource(environ={**local_secrets(), **keys}))


@pytest.fixture
async def hub(
    tmp_path: Path,
    database_url: str,
    temporal_address: str,
    provider: str,
    api: PartnerServer,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[RunningHub]:
    monkeypatch.setenv(f"HUB_{provider.upper()}_API_BASE_URL", api.url)
    hub = _hub(tmp_path, database_url, temporal_address, email_provider=provider)
    async with serve_hub(hub) as running:
        yield running


def _email(**changes: Any) -> dict[str, Any]:
    body = {
        "message_id": f"job-4312-offer-{uuid.uuid4().hex}",
        "to": TO,
        "template": "job_offer",
        "language": "es",
        "variables": VARIABLES,
    }
    return {**body, **changes}


async def _result(hub: RunningHub, workflow_id: str) -> Any:
    assert hub.hub.temporal_client is not None
    return await hub.hub.temporal_client.get_workflow_handle(workflow_id).result()


def _check_sendgrid(request: RecordedRequest, message_id: str) -> None:
    assert (request.method, request.path) == ("POST", "/v3/mail/send")
    assert request.headers["authorization"] == f"Bearer {SENDGRID_KEY}"
    assert request.headers["content-type"] == "application/json"
    body = request.json()
    assert body["personalizations"] == [{"to": [{"email": TO}]}]
    assert body["from"] == {"email": "team@mail.example.com", "name": "Turnover Team"}
    assert body["subject"] == "Nuevo trabajo: Brickell 1204 el 2026-12-05"
    [text, html] = body["content"]  # text/plain first, as SendGrid requires
    assert (text["type"], html["type"]) == ("text/plain", "text/html")
    assert "Hola Lucía <b>:" in text["value"]  # plain text is not escaped
    assert "Hola Lucía &lt;b&gt;:" in html["value"]  # HTML is
    assert body["custom_args"] == {"hub_message_id": message_id}
    assert body["categories"] == ["job_offer"]
    assert body["headers"] == {
        "List-Unsubscribe": (
            f"<mailto:unsubscribe@mail.example.com?subject=unsubscribe>, <{UNSUBSCRIBE_URL}>"
        ),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def _check_resend(request: RecordedRequest, message_id: str) -> None:
    assert (request.method, request.path) == ("POST", "/emails")
    assert request.headers["authorization"] == f"Bearer {RESEND_KEY}"
    assert request.headers["idempotency-key"] == idempotency_key("resend", "send_email", message_id)
    body = request.json()
    assert body["from"] == FROM
    assert body["to"] == [TO]
    assert body["subject"] == "Nuevo trabajo: Brickell 1204 el 2026-12-05"
    assert "Hola Lucía <b>:" in body["text"]
    assert "Hola Lucía &lt;b&gt;:" in body["html"]
    assert {"name": "hub_message_id", "value": message_id} in body["tags"]
    assert body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"<{UNSUBSCRIBE_URL}>" in body["headers"]["List-Unsubscribe"]


CHECKS = {"sendgrid": _check_sendgrid, "resend": _check_resend}


async def test_an_email_is_sent_once_with_the_documented_request(
    hub: RunningHub, api: PartnerServer, provider: str
) -> None:
    email = _email()
    answer = await hub.admin.post("/api/emails", json=email)

    assert answer.status_code == 202, answer.text
    out = answer.json()
    assert out == {
        "message_id": email["message_id"],
        "workflow_id": f"email.send/{email['message_id']}",
        "provider": provider,
        "status": "started",
    }
    result = await _result(hub, out["workflow_id"])
    assert result["already_sent"] is False
    assert result["provider_message_id"] in {
        "W0rdMsgIdAbCdEfGh12345",
        ACCEPTED["resend"].body["id"],
    }
    [request] = api.requests
    CHECKS[provider](request, email["message_id"])
    state = (await hub.admin.get(f"/api/emails/{email['message_id']}")).json()
    assert (state["provider"], state["state"], state["attempts"]) == (provider, "sent", 1)
    assert state["provider_message_id"] == result["provider_message_id"]
    assert TO not in str(state)

    again = await hub.admin.post("/api/emails", json=email)
    assert again.status_code == 202
    assert again.json()["status"] == "already_started"
    assert len(api.requests) == 1


async def _suppress_by_webhook(hub: RunningHub, provider: str) -> None:
    """The provider reports a complaint through the edge, signed as it signs."""
    connector_sample: dict[str, Callable[[], object]] = {
        "sendgrid": lambda: [
            {"email": TO.upper(), "timestamp": int(time.time()), "event": "spamreport",
             "sg_event_id": uuid.uuid4().hex, "sg_message_id": "m.filter"}
        ],
        "resend": lambda: {
            "type": "email.complained", "created_at": "2026-12-01T20:00:00.000Z",
            "data": {"email_id": "e1", "to": [TO], "subject": "s"},
        },
    }  # fmt: skip
    body = orjson.dumps(connector_sample[provider]())
    headers = sign_as(provider, body, secret=webhook_secret(provider))
    response = await hub.http.post(f"/webhooks/{provider}", content=body, headers=headers)
    assert response.status_code == 200, response.text

    def suppressed() -> bool:
        from integration_hub.storage.email_suppressions import get_suppression

        with hub.hub.engine.connect() as connection:
            row = get_suppression(connection, address=TO)
        return row is not None and bool(row["suppressed"])

    async def probe() -> bool:
        return suppressed()

    await wait_until(probe, bool)


async def test_a_suppressed_address_is_refused_before_any_request(
    hub: RunningHub, api: PartnerServer, provider: str
) -> None:
    await _suppress_by_webhook(hub, provider)

    answer = await hub.admin.post("/api/emails", json=_email(to=TO.title()))

    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "suppressed"
    assert "complaint" in answer.json()["detail"]
    assert TO not in answer.text.lower()
    assert api.requests == []


@pytest.mark.parametrize(
    ("changes", "status", "reason"),
    [
        ({"to": "not-an-address"}, 422, "bad_address"),
        ({"message_id": "job.17"}, 422, "bad_body"),
        ({"to": "a b@example.org"}, 422, "bad_address"),
        ({"template": "no_such_template"}, 422, "unknown_template"),
        ({"variables": {"name": "Ana"}}, 422, "missing_variable"),
        ({"language": "fr"}, 422, "bad_body"),
        ({"variables": {f"v{i}": "x" for i in range(31)}}, 422, "bad_body"),
        ({"variables": {"name": "x" * 1025}}, 422, "bad_body"),
    ],
    ids=[
        "no-at",
        "message-id",
        "space",
        "template",
        "variable",
        "language",
        "too-many",
        "too-long",
    ],
)
async def test_bad_requests_are_refused_before_any_request(
    hub: RunningHub, api: PartnerServer, changes: dict[str, Any], status: int, reason: str
) -> None:
    answer = await hub.admin.post("/api/emails", json=_email(**changes))

    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == reason
    assert api.requests == []


async def test_a_rate_limited_send_waits_as_the_provider_says_and_sends_once(
    hub: RunningHub, api: PartnerServer, provider: str
) -> None:
    limited = {
        "sendgrid": Reply(429, {"errors": [{"message": "too many"}]}, {"X-RateLimit-Reset": str(int(time.time()) + 1)}),
        "resend": Reply(429, {"name": "rate_limit_exceeded", "message": "Too many requests"}, {"retry-after": "1"}),
    }  # fmt: skip
    api.reply(limited[provider])
    email = _email()

    answer = await hub.admin.post("/api/emails", json=email)
    assert answer.status_code == 202, answer.text
    result = await _result(hub, answer.json()["workflow_id"])

    assert result["already_sent"] is False
    first, second = api.requests
    assert second.at - first.at >= 0.9  # the provider's wait, not the policy's 1 s backoff alone
    CHECKS[provider](second, email["message_id"])
    if provider == "resend":
        assert first.headers["idempotency-key"] == second.headers["idempotency-key"]


async def test_no_provider_configured_is_refused(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    """Both providers are declared; without HUB_EMAIL_PROVIDER the hub cannot pick one."""
    async with serve_hub(_hub(tmp_path, database_url, temporal_address)) as running:
        answer = await running.admin.post("/api/emails", json=_email())
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "email_not_configured"


async def test_a_viewer_cannot_send(hub: RunningHub) -> None:
    answer = await hub.http.post("/api/emails", json=_email())
    assert answer.status_code == 401


async def test_the_state_of_an_unknown_email_is_404(hub: RunningHub) -> None:
    answer = await hub.admin.get(f"/api/emails/{uuid.uuid4().hex}")
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"
