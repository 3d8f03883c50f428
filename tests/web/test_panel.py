"""The status panel over HTTP: sign-in, cookie flags, CSRF, redaction, and /api/status."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import orjson

from tests.helpers import ADMIN_TOKEN, RunningHub, stripe_delivery, wait_until


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', html)
    assert found is not None, html
    return found.group(1)


@asynccontextmanager
async def _signed_in(running: RunningHub) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as browser:
        form = await browser.get("/status/login")
        answer = await browser.post(
            "/status/login",
            data={"token": ADMIN_TOKEN, "csrf": _csrf(form.text), "next": "/status"},
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/status"
        yield browser


async def test_panel_redirects_to_sign_in(running_hub: RunningHub) -> None:
    answer = await running_hub.http.get("/status/events?partner=stripe")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/status/login?next=/status/events%3Fpartner%3Dstripe"
    form = await running_hub.http.get("/status/login")
    assert "HUB_ADMIN_TOKEN" in form.text and "OIDC" in form.text


async def test_sign_in_sets_a_strict_httponly_cookie(running_hub: RunningHub) -> None:
    async with _signed_in(running_hub) as browser:
        form_cookie = (await browser.get("/status/login")).headers["set-cookie"]
        page = await browser.get("/status")
    assert page.status_code == 200 and 'id="partner-stripe"' in page.text
    assert "<svg" in page.text
    assert form_cookie.startswith("hub_login=")


async def test_session_cookie_flags(running_hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=running_hub.base_url) as browser:
        form = await browser.get("/status/login")
        answer = await browser.post(
            "/status/login", data={"token": ADMIN_TOKEN, "csrf": _csrf(form.text)}
        )
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("hub_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; a request over https gets Secure


async def test_sign_in_refuses_a_wrong_token_and_a_forged_csrf(running_hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=running_hub.base_url) as browser:
        form = await browser.get("/status/login")
        wrong = await browser.post(
            "/status/login", data={"token": "nope", "csrf": _csrf(form.text)}
        )
        forged = await browser.post("/status/login", data={"token": ADMIN_TOKEN, "csrf": "0" * 64})
        no_cookie = await running_hub.http.post(
            "/status/login", data={"token": ADMIN_TOKEN, "csrf": _csrf(form.text)}
        )
    assert wrong.status_code == 303 and "error=unauthorized" in wrong.headers["location"]
    assert forged.status_code == 403 and "hub_session" not in forged.headers.get("set-cookie", "")
    assert no_cookie.status_code == 403  # the token is bound to the form's own cookie


async def test_replay_without_the_csrf_token_is_refused(running_hub: RunningHub) -> None:
    body, headers = stripe_delivery()
    await running_hub.http.post("/webhooks/stripe", content=body, headers=headers)
    event_id = orjson.loads(body)["id"]
    async with _signed_in(running_hub) as browser:
        page = await browser.get(f"/status/events/stripe/{event_id}")
        forged = await browser.post(
            f"/status/events/stripe/{event_id}/replay", data={"csrf": "forged"}
        )
        good = await browser.post(
            f"/status/events/stripe/{event_id}/replay", data={"csrf": _csrf(page.text)}
        )
        logout_forged = await browser.post("/status/logout", data={"csrf": ""})
    assert forged.status_code == 403
    assert good.status_code == 303 and good.headers["location"].endswith("?replayed=1")
    assert logout_forged.status_code == 403


async def test_bearer_header_works_and_the_body_is_admin_only(running_hub: RunningHub) -> None:
    body, headers = stripe_delivery()
    await running_hub.http.post("/webhooks/stripe", content=body, headers=headers)
    event_id = orjson.loads(body)["id"]
    page = await wait_until(
        lambda: running_hub.admin.get(f"/status/events/stripe/{event_id}"),
        lambda r: "processed" in r.text,
    )
    assert event_id in page.text and "payment_intent.succeeded" in page.text
    assert headers["Stripe-Signature"] not in page.text  # masked like the logs
    assert "REDACTED" not in page.text  # admins see the body
    listing = await running_hub.admin.get(
        "/status/events", params={"partner": "stripe", "type": "payment_intent.succeeded"}
    )
    assert event_id in listing.text


async def test_api_status_and_the_new_filters(running_hub: RunningHub) -> None:
    body, headers = stripe_delivery()
    await running_hub.http.post("/webhooks/stripe", content=body, headers=headers)
    status = (await running_hub.admin.get("/api/status")).json()
    assert len(status["hours"]) == 24
    stripe = next(p for p in status["partners"] if p["partner"] == "stripe")
    assert stripe["received_last_hour"] == 1 and len(stripe["hourly"]) == 24
    assert all("value" not in s for s in stripe["secrets"])

    async def count(**params: str) -> int:
        page = (await running_hub.admin.get("/api/events", params=params)).json()
        return len(page["items"])

    assert await count(type="payment_intent.succeeded") == 1
    assert await count(type="charge.refunded") == 0
    assert await count(event_id=orjson.loads(body)["id"]) == 1
    assert await count(since="2000-01-01T00:00:00Z", until="2100-01-01T00:00:00") == 1
    assert await count(since="2100-01-01T00:00:00Z") == 0
    anonymous = await running_hub.http.get("/api/status")
    assert anonymous.status_code == 401
