"""The status panel in headless Chromium (Debian's package, driven by Playwright).

One walk through what an operator does: sign in, watch a partner go from idle to healthy, find a
failed event and its error, replay it from the page and see the states change. The hub runs in
this process over real HTTP, on a SQLite file and the session's Temporal dev server."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import update

from integration_hub.runtime import Hub
from integration_hub.secrets import EnvSecretSource
from integration_hub.storage.engine import begin_write
from integration_hub.storage.tables import ledger_entries
from integration_hub.testing import sample_delivery, scratch_database
from tests.helpers import (
    ADMIN_TOKEN,
    CLERK_SECRET,
    STRIPE_SECRET,
    STRIPE_SECRET_KEY,
    RunningHub,
    make_settings,
    serve_hub,
    stripe_delivery,
    wait_until,
)

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
README_SCREENSHOT = ROOT / "docs" / "status-panel.png"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)"
)


@pytest.fixture
async def hub_on_sqlite(tmp_path: Path, temporal_address: str) -> AsyncIterator[RunningHub]:
    with scratch_database("sqlite", tmp_path) as url:
        # The partners' webhook secrets, and Stripe's API key so Stripe counts as configured.
        secrets = EnvSecretSource(
            environ={
                "STRIPE_WEBHOOK_SECRET": STRIPE_SECRET,
                "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
                "CLERK_WEBHOOK_SECRET": CLERK_SECRET,
            }
        )
        hub = Hub(make_settings(tmp_path, url, temporal_address), secrets=secrets)
        async with serve_hub(hub) as running:
            yield running


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield chromium
        await chromium.close()


async def _settled(running: RunningHub, partner: str, event_id: str) -> str:
    answer = await wait_until(
        lambda: running.admin.get(f"/api/events/{partner}/{event_id}"),
        lambda r: r.json().get("status") in {"processed", "failed", "ignored"},
    )
    status: str = answer.json()["status"]
    return status


async def _card_state(page: Page, partner: str) -> str | None:
    await page.goto(page.url.split("/status")[0] + "/status")
    return await page.get_attribute(f"#partner-{partner}", "data-state")


async def test_operator_walk_through(hub_on_sqlite: RunningHub, browser: Browser) -> None:
    running = hub_on_sqlite
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})

    # Sign in through the form; the panel sends us back where we were going.
    await page.goto(f"{running.base_url}/status")
    assert "/status/login" in page.url
    await page.fill("input[name=token]", ADMIN_TOKEN)
    await page.click("button[type=submit]")
    await expect(page.locator("#partner-clerk")).to_have_attribute("data-state", "idle")

    # A signed Clerk delivery: idle -> healthy.
    body, headers = sample_delivery("clerk", "user.created", secret=CLERK_SECRET)
    assert (await running.http.post("/webhooks/clerk", content=body, headers=headers)).is_success
    assert await _settled(running, "clerk", headers["svix-id"]) == "processed"
    assert await _card_state(page, "clerk") == "healthy"

    # A refund in another currency than its payment: the ledger refuses it, non-retryably.
    for event_type, changes in (
        ("payment_intent.succeeded", {"id": "pi_B", "currency": "usd"}),
        ("charge.refunded", {"id": "ch_B", "payment_intent": "pi_B", "currency": "eur"}),
    ):
        body, headers = stripe_delivery(event_type, **changes)
        assert (
            await running.http.post("/webhooks/stripe", content=body, headers=headers)
        ).is_success
        event_id = orjson.loads(body)["id"]
        await _settled(running, "stripe", event_id)
    stripe_before = await _card_state(page, "stripe")
    await expect(page.locator("#partner-stripe .reasons")).to_contain_text("dead-lettered")

    # The explorer finds it by status, and the event page shows the handler's error.
    await page.goto(f"{running.base_url}/status/events?partner=stripe&status=failed")
    await expect(page.locator("#events")).to_contain_text("charge.refunded")
    await page.click(f"text={event_id}")
    await expect(page.locator("#event-status")).to_have_text("failed")
    await expect(page.locator("#handlers")).to_contain_text("but its payment was in usd")
    await expect(page.locator("#raw-body")).to_contain_text('"charge.refunded"')  # admin

    # The operator corrects the payment's currency (a real write), then replays from the page.
    with begin_write(running.hub.engine) as connection:
        connection.execute(
            update(ledger_entries)
            .where(ledger_entries.c.object_id == "pi_B")
            .values(currency="eur")
        )
    await page.click("#replay")
    await expect(page.locator("#replayed")).to_contain_text("1 requeued")
    assert await _settled(running, "stripe", event_id) == "processed"
    await page.reload()
    await expect(page.locator("#event-status")).to_have_text("processed")

    # Back on the overview the dead letter is gone, and the state changed with it.
    stripe_after = await _card_state(page, "stripe")
    assert (stripe_before, stripe_after) == ("degraded", "healthy")
    await expect(page.locator("#partner-clerk")).to_have_attribute("data-state", "healthy")

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "status-panel.png"), full_page=True)
    if os.environ.get("HUB_UPDATE_SCREENSHOT") == "1":
        README_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(ARTIFACTS / "status-panel.png", README_SCREENSHOT)
    await page.close()
