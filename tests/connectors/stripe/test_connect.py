"""Stripe Connect onboarding of cleaners: `POST /api/cleaners/{id}/stripe-account` on a served
hub, its workflow on the session's Temporal dev server, the official SDK against a local
stand-in for api.stripe.com (checking the exact requests), then the account's signed
`account.updated` events through the edge to the cleaners handler."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from integration_hub.connectors.outbound import idempotency_key
from integration_hub.runtime import Hub
from integration_hub.secrets import EnvSecretSource
from tests.helpers import (
    STRIPE_SECRET_KEY,
    RunningHub,
    local_secrets,
    make_settings,
    serve_hub,
    stripe_delivery,
    wait_until,
)
from tests.partner_server import PartnerServer, RecordedRequest, Reply, partner_server

PUBLIC = "https://hub.example.com"
ACCOUNT = {
    "id": "acct_1Ana",
    "object": "account",
    "type": "express",
    "created": 1_764_000_000,
    "charges_enabled": False,
    "payouts_enabled": False,
    "requirements": {
        "disabled_reason": "requirements.past_due",
        "currently_due": ["external_account", "individual.verification.document"],
        "past_due": [],
    },
}


def stripe_objects(request: RecordedRequest) -> Reply:
    if request.path == "/v1/accounts":
        return Reply(body=ACCOUNT)
    if request.path == "/v1/account_links":
        link = f"https://connect.stripe.com/setup/e/acct_1Ana/{len(request.body)}"
        return Reply(body={"object": "account_link", "url": link, "expires_at": 1_764_000_300})
    return Reply(404, {"error": {"type": "invalid_request_error", "message": "No such route"}})


@pytest.fixture
def stripe_api() -> Iterator[PartnerServer]:
    yield from partner_server(stripe_objects)


async def _hub(
    tmp_path: Path, database_url: str, temporal_address: str, **overrides: Any
) -> AsyncIterator[RunningHub]:
    settings = make_settings(tmp_path, database_url, temporal_address, **overrides)
    secrets = EnvSecretSource(environ={**local_secrets(), "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY})
    async with serve_hub(Hub(settings, secrets=secrets)) as running:
        yield running


@pytest.fixture
async def hub(
    tmp_path: Path,
    database_url: str,
    temporal_address: str,
    stripe_api: PartnerServer,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[RunningHub]:
    # The partner's own setting, read from the environment when the hub builds its calls.
    monkeypatch.setenv("HUB_STRIPE_API_BASE_URL", stripe_api.url)
    async for running in _hub(tmp_path, database_url, temporal_address, public_base_url=PUBLIC):
        yield running


async def _cleaner(running: RunningHub, phone: str = "+13055550142") -> str:
    answer = await running.admin.post(
        "/api/cleaners", json={"name": "Ana", "phone": phone, "language": "es"}
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _token_of(link: RecordedRequest) -> str:
    """The onboarding pages' token Stripe was given in the link's refresh URL."""
    query = parse_qs(urlsplit(link.form()["refresh_url"][0]).query)
    (token,) = query["token"]
    return token


async def enable_payouts(hub: RunningHub) -> None:
    """Stripe's signed `account.updated` enabling the account, through the edge to the
    cleaners handler."""
    body, headers = stripe_delivery(
        "account.updated", id="acct_1Ana", charges_enabled=True, payouts_enabled=True,
        requirements={"disabled_reason": None, "currently_due": [], "past_due": []},
    )  # fmt: skip
    assert (await hub.http.post("/webhooks/stripe", content=body, headers=headers)).is_success
    event_id = orjson.loads(body)["id"]
    await wait_until(
        lambda: hub.admin.get(f"/api/events/stripe/{event_id}"),
        lambda r: r.json()["status"] in {"processed", "failed"},
    )


async def _shown(running: RunningHub, cleaner_id: str) -> dict[str, Any]:
    shown: dict[str, Any] = (await running.admin.get(f"/api/cleaners/{cleaner_id}")).json()
    return shown


async def test_onboarding_creates_the_express_account_once_and_links_to_it(
    hub: RunningHub, stripe_api: PartnerServer
) -> None:
    cleaner_id = await _cleaner(hub)

    answer = await hub.admin.post(f"/api/cleaners/{cleaner_id}/stripe-account")

    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert (out["account_id"], out["expires_at"]) == ("acct_1Ana", 1_764_000_300)
    assert out["onboarding_url"].startswith("https://connect.stripe.com/setup/e/acct_1Ana/")
    assert out["workflow_id"] == f"stripe_onboard_cleaner/{cleaner_id}"
    account, link = stripe_api.requests
    assert (account.method, account.path) == ("POST", "/v1/accounts")
    assert account.form() == {
        "type": ["express"],
        "country": ["US"],
        "business_type": ["individual"],
        "capabilities[transfers][requested]": ["true"],
        "metadata[cleaner_id]": [cleaner_id],
        "individual[phone]": ["+13055550142"],
    }
    assert account.headers["idempotency-key"] == idempotency_key(
        "stripe", "connected_account", cleaner_id
    )
    assert (link.method, link.path) == ("POST", "/v1/account_links")
    token = _token_of(link)
    pages = f"{PUBLIC}/stripe/onboarding/{cleaner_id}"
    assert link.form() == {
        "account": ["acct_1Ana"],
        "refresh_url": [f"{pages}/refresh?token={token}"],
        "return_url": [f"{pages}/return?token={token}"],
        "type": ["account_onboarding"],
    }
    assert "onboarding_token_sha256" not in answer.text  # the admin API never shows it
    shown = await _shown(hub, cleaner_id)
    assert (shown["payout_partner"], shown["payout_account_id"]) == ("stripe", "acct_1Ana")
    assert shown["payable"] is False
    assert shown["disabled_reason"] == "requirements.past_due"
    assert shown["requirements_due"] == ["external_account", "individual.verification.document"]

    again = await hub.admin.post(f"/api/cleaners/{cleaner_id}/stripe-account")

    assert again.status_code == 200, again.text
    assert again.json()["account_id"] == "acct_1Ana"
    assert [r.path for r in stripe_api.requests[2:]] == ["/v1/account_links"]  # no new account
    first_key, second_key = (r.headers["idempotency-key"] for r in (link, stripe_api.requests[2]))
    assert first_key != second_key  # a fresh link per request: links are single-use


async def test_the_accounts_events_make_the_cleaner_payable(
    hub: RunningHub, stripe_api: PartnerServer
) -> None:
    cleaner_id = await _cleaner(hub)
    assert (await hub.admin.post(f"/api/cleaners/{cleaner_id}/stripe-account")).is_success

    await enable_payouts(hub)

    shown = await _shown(hub, cleaner_id)
    assert (shown["payable"], shown["disabled_reason"], shown["requirements_due"]) == (
        True,
        None,
        [],
    )


async def test_an_unknown_cleaner_is_404_and_stripe_never_hears_of_it(
    hub: RunningHub, stripe_api: PartnerServer
) -> None:
    answer = await hub.admin.post(f"/api/cleaners/cln_{'0' * 32}/stripe-account")
    malformed = await hub.admin.post("/api/cleaners/acct_1/stripe-account")

    assert answer.status_code == 404
    assert (malformed.status_code, malformed.json()["error"]) == (400, "bad_cleaner_id")
    assert stripe_api.requests == []


async def test_a_refused_account_is_a_502_and_the_cleaner_keeps_no_account(
    hub: RunningHub, stripe_api: PartnerServer
) -> None:
    cleaner_id = await _cleaner(hub)
    stripe_api.reply(
        Reply(400, {"error": {"type": "invalid_request_error", "code": "country_unsupported"}})
    )

    answer = await hub.admin.post(f"/api/cleaners/{cleaner_id}/stripe-account")

    assert answer.status_code == 502, answer.text
    assert answer.json()["error"] == "stripe.country_unsupported"
    assert [r.path for r in stripe_api.requests] == ["/v1/accounts"]  # not retried
    assert (await _shown(hub, cleaner_id))["payout_account_id"] is None


async def test_onboarding_needs_the_public_base_url(
    tmp_path: Path, database_url: str, temporal_address: str, stripe_api: PartnerServer
) -> None:
    async for running in _hub(tmp_path, database_url, temporal_address):
        cleaner_id = await _cleaner(running)
        answer = await running.admin.post(f"/api/cleaners/{cleaner_id}/stripe-account")

        assert answer.status_code == 409
        assert answer.json()["error"] == "public_base_url_missing"
    assert stripe_api.requests == []
