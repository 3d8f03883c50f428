"""Sign-in through the provider in headless Chromium (Debian's package, driven by Playwright).

The provider's pages are served as `localhost` and the hub as `127.0.0.1`: two sites, so the
redirect back to the hub is a cross-site navigation and Chromium applies SameSite as it would
between the hub and a real provider (the Lax `hub_signin` cookie goes along, the Strict session
cookie would not)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright, expect

from integration_hub.runtime import Hub
from integration_hub.testing import scratch_database
from tests.helpers import RunningHub, make_settings, serve_hub
from tests.web.oidc_provider import AUDIENCE, OidcProvider
from tests.web.test_oidc_signin import signin_secrets

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)"
)


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    with OidcProvider(browser_host="localhost") as running:
        yield running


@pytest.fixture
async def hub_on_sqlite(
    tmp_path: Path, temporal_address: str, provider: OidcProvider
) -> AsyncIterator[RunningHub]:
    with scratch_database("sqlite", tmp_path) as url:
        settings = make_settings(
            tmp_path, url, temporal_address, auth_issuer=provider.url, auth_audience=AUDIENCE,
            auth_provider="auth0",
        )  # fmt: skip
        async with serve_hub(Hub(settings, secrets=signin_secrets(), pipeline=False)) as running:
            yield running


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield chromium
        await chromium.close()


async def test_sign_in_and_out_through_the_provider(
    hub_on_sqlite: RunningHub, browser: Browser, provider: OidcProvider
) -> None:
    running = hub_on_sqlite
    page = await browser.new_page()
    await page.goto(f"{running.base_url}/status/events")
    await expect(page).to_have_url(f"{running.base_url}/status/login?next=/status/events")

    await page.click("text=Sign in with Auth0")
    await expect(page.locator("h1")).to_have_text("Sign in to the hub?")
    assert page.url.startswith(provider.front_url + "/authorize?")
    await page.click("#continue")

    await expect(page).to_have_url(f"{running.base_url}/status/events")
    await expect(page.locator("header")).to_contain_text("user_oidc_1 (admin)")
    cookies = {c["name"]: c for c in await page.context.cookies(running.base_url)}
    assert cookies["hub_session"]["sameSite"] == "Strict" and cookies["hub_session"]["httpOnly"]
    assert "hub_signin" not in cookies  # cleared once used
    assert provider.refusals == [] and len(provider.token_requests) == 1

    await page.click("header button")  # Sign out
    await expect(page).to_have_url(f"{running.base_url}/status/login")
    [logout] = provider.logouts
    assert logout["post_logout_redirect_uri"] == f"{running.base_url}/status/login"
    await page.goto(f"{running.base_url}/status")
    await expect(page).to_have_url(f"{running.base_url}/status/login?next=/status")
