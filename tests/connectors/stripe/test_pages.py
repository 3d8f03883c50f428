"""The public pages Stripe sends a cleaner back to from onboarding (`stripe/pages.py`), on a
served hub with its workflow on the session's Temporal dev server and the official SDK against
the local stand-in for api.stripe.com (test_connect.py's)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from integration_hub.storage.engine import begin_write
from integration_hub.storage.rows import utcnow
from integration_hub.storage.tables import cleaners
from tests.connectors.stripe.test_connect import PUBLIC, _cleaner, _token_of, enable_payouts
from tests.connectors.stripe.test_connect import hub as hub  # a fixture
from tests.connectors.stripe.test_connect import stripe_api as stripe_api  # a fixture
from tests.helpers import RunningHub
from tests.partner_server import PartnerServer


async def _onboarded(hub: RunningHub, stripe_api: PartnerServer) -> tuple[str, str]:
    """A cleaner with an account and a link: (cleaner id, its pages' token)."""
    cleaner_id = await _cleaner(hub)
    answer = await hub.admin.post(f"/api/cleaners/{cleaner_id}/stripe-account")
    assert answer.status_code == 200, answer.text
    return cleaner_id, _token_of(stripe_api.requests[-1])


def _pages(cleaner_id: str) -> str:
    return f"/stripe/onboarding/{cleaner_id}"


async def test_refresh_makes_a_new_link_and_sends_the_cleaner_to_it(
    hub: RunningHub, stripe_api: PartnerServer
) -> None:
    cleaner_id, token = await _onboarded(hub, stripe_api)
    first_link = stripe_api.requests[-1]

    answer = await hub.http.get(f"{_pages(cleaner_id)}/refresh", params={"token": token})

    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].startswith("https://connect.stripe.com/setup/e/acct_1Ana/")
    assert answer.headers["cache-control"] == "no-store"
    new_link = stripe_api.requests[-1]
    assert [r.path for r in stripe_api.requests] == [
        "/v1/accounts",
        "/v1/account_links",
        "/v1/account_links",
    ]  # the stored account is reused, no second account
    assert new_link.form() == first_link.form()  # same account, same pages, same token
    assert new_link.headers["idempotency-key"] != first_link.headers["idempotency-key"]


async def test_return_page_speaks_the_cleaners_language_and_follows_the_account(
    hub: RunningHub, stripe_api: PartnerServer
) -> None:
    cleaner_id, token = await _onboarded(hub, stripe_api)  # a Spanish-speaking cleaner

    reviewing = await hub.http.get(f"{_pages(cleaner_id)}/return", params={"token": token})

    assert reviewing.status_code == 200, reviewing.text
    assert '<html lang="es">' in reviewing.text
    assert "Stripe está revisando tus datos" in reviewing.text
    continue_url = f"{PUBLIC}{_pages(cleaner_id)}/refresh?token={token}"
    assert f'href="{continue_url}"' in reviewing.text

    await enable_payouts(hub)

    ready = await hub.http.get(f"{_pages(cleaner_id)}/return", params={"token": token})

    assert "¡Listo! Tu cuenta de pagos está activa." in ready.text
    assert "refresh?token=" not in ready.text  # nothing left to continue
    calls = len(stripe_api.requests)

    # Once payable, a link seen before cannot reopen the form (it takes the bank details).
    again = await hub.http.get(f"{_pages(cleaner_id)}/refresh", params={"token": token})

    assert again.status_code == 200 and "¡Listo!" in again.text
    assert len(stripe_api.requests) == calls  # no new Account Link


async def _refused(hub: RunningHub, path: str, token: str) -> tuple[int, str]:
    answer = await hub.http.get(path, params={"token": token})
    return answer.status_code, str(answer.json()["error"])


@pytest.mark.parametrize("page", ["refresh", "return"])
async def test_a_wrong_replaced_or_expired_token_opens_nothing(
    hub: RunningHub, stripe_api: PartnerServer, page: str
) -> None:
    cleaner_id, old_token = await _onboarded(hub, stripe_api)
    again = await hub.admin.post(f"/api/cleaners/{cleaner_id}/stripe-account")
    assert again.status_code == 200, again.text
    token = _token_of(stripe_api.requests[-1])
    calls = len(stripe_api.requests)
    path = f"{_pages(cleaner_id)}/{page}"

    assert await _refused(hub, path, old_token) == (404, "onboarding_link_invalid")  # replaced
    assert await _refused(hub, path, "A" * 43) == (404, "onboarding_link_invalid")
    other = await _cleaner(hub, phone="+13055550143")
    assert await _refused(hub, f"{_pages(other)}/{page}", token) == (
        404,
        "onboarding_link_invalid",
    )  # another cleaner's token
    assert await _refused(hub, path, "short") == (400, "bad_token")
    with begin_write(hub.hub.engine) as connection:
        connection.execute(
            update(cleaners)
            .where(cleaners.c.id == cleaner_id)
            .values(onboarding_expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await _refused(hub, path, token) == (404, "onboarding_link_invalid")  # expired
    assert len(stripe_api.requests) == calls  # Stripe never heard of any of them
    metrics = (await hub.http.get("/metrics")).text
    assert 'hub_admin_rejections_total{reason="onboarding_link_invalid"}' in metrics
