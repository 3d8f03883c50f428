"""The status panel over HTTP: sign-in, cookie flags, CSRF, redaction, and /api/status."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import httpx
import orjson
from pydantic import SecretStr
from sqlalchemy import select, update

from integration_hub.runtime import Hub
from integration_hub.settings import Settings
from integration_hub.storage.engine import begin_write
from integration_hub.storage.rows import as_utc
from integration_hub.storage.tables import admin_sessions, identity_users
from integration_hub.testing import connector, sign_as
from integration_hub.web.auth import local_credential
from integration_hub.web.panel import LOGIN_COOKIE
from integration_hub.web.panel_sessions import SESSION_COOKIE
from tests.helpers import (
    ADMIN_TOKEN,
    CLERK_SECRET,
    RunningHub,
    make_settings,
    partner_secrets,
    serve_hub,
    stripe_delivery,
    wait_until,
)
from tests.web.issuer import Issuer, clerk_settings, issuer, oidc_hub, twilio_api

__all__ = ["issuer", "oidc_hub", "twilio_api"]  # fixtures


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
    async with httpx.AsyncClient(base_url=running_hub.base_url, timeout=30) as browser:
        form = await browser.get("/status/login")
        answer = await browser.post(
            "/status/login", data={"token": ADMIN_TOKEN, "csrf": _csrf(form.text)}
        )
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("hub_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Max-Age=43200" in cookie  # HUB_SESSION_LIFETIME_HOURS, 12 by default
    assert "Secure" not in cookie  # plain http here; a request over https gets Secure


async def test_sign_in_refuses_a_wrong_token_and_a_forged_csrf(running_hub: RunningHub) -> None:
    async with httpx.AsyncClient(base_url=running_hub.base_url, timeout=30) as browser:
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


# --- server-side sessions ---------------------------------------------------------------------


def _session_cookie(browser: httpx.AsyncClient) -> str:
    value = browser.cookies.get(SESSION_COOKIE)
    assert value, "signed in without a session cookie"
    return value


def _age_sessions(running: RunningHub, **moved_back: timedelta) -> None:
    """Move every stored session's clocks back, as time passing would."""
    now = datetime.now(UTC)
    with begin_write(running.hub.engine) as connection:
        connection.execute(
            update(admin_sessions).values(**{name: now - by for name, by in moved_back.items()})
        )


async def _panel_status(browser: httpx.AsyncClient) -> tuple[int, str]:
    page = await browser.get("/status")
    return page.status_code, page.headers.get("location", "")


async def test_the_cookie_holds_a_random_id_never_the_token(running_hub: RunningHub) -> None:
    async with _signed_in(running_hub) as browser:
        cookie = _session_cookie(browser)
    assert ADMIN_TOKEN not in cookie and len(cookie) >= 43  # 256 random bits, url-safe
    with running_hub.hub.engine.connect() as connection:
        [stored] = connection.execute(select(admin_sessions)).all()
    # Only the id's SHA-256 is stored: a copy of the database signs no one in.
    assert stored.id_hash == hashlib.sha256(cookie.encode()).hexdigest()
    assert cookie not in repr(tuple(stored)) and ADMIN_TOKEN not in repr(tuple(stored))
    assert (stored.subject, stored.provider, stored.role) == ("local-admin-token", "local", "admin")


async def test_logout_revokes_the_session_on_the_server(running_hub: RunningHub) -> None:
    async with _signed_in(running_hub) as browser:
        cookie = _session_cookie(browser)
        page = await browser.get("/status")
        logout = await browser.post("/status/logout", data={"csrf": _csrf(page.text)})
    assert logout.status_code == 303 and logout.headers["location"] == "/status/login"
    assert 'hub_session=""' in logout.headers["set-cookie"]
    # An attacker who copied the cookie before logout replays it: refused by the server.
    async with httpx.AsyncClient(
        base_url=running_hub.base_url, cookies={SESSION_COOKIE: cookie}
    ) as replayer:
        status, location = await _panel_status(replayer)
        api = await replayer.get("/api/events", headers={"Authorization": f"Bearer {cookie}"})
    assert (status, location) == (303, "/status/login?next=/status")
    assert (api.status_code, api.json()["error"]) == (401, "unauthorized")
    with running_hub.hub.engine.connect() as connection:
        [stored] = connection.execute(select(admin_sessions)).all()
    assert stored.revoked_at is not None and stored.revoked_reason == "logout"
    metrics = (await running_hub.http.get("/metrics")).text
    assert 'hub_panel_sessions_total{outcome="session_revoked"}' in metrics


async def test_idle_timeout_and_lifetime_follow_the_settings(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    settings = make_settings(
        tmp_path, database_url, temporal_address, session_idle_minutes=1, session_lifetime_hours=2
    )
    async with serve_hub(Hub(settings, secrets=partner_secrets())) as running:
        async with _signed_in(running) as browser:
            assert await _panel_status(browser) == (200, "")
            _age_sessions(running, last_seen_at=timedelta(seconds=50))
            assert await _panel_status(browser) == (200, "")  # used within the last minute
            _age_sessions(running, last_seen_at=timedelta(minutes=2))
            assert await _panel_status(browser) == (303, "/status/login?next=/status")

        async with _signed_in(running) as browser:
            assert await _panel_status(browser) == (200, "")
            _age_sessions(running, expires_at=timedelta(seconds=1))  # past its absolute lifetime
            assert await _panel_status(browser) == (303, "/status/login?next=/status")

        async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as browser:
            answer = await _sign_in(browser)
        cookie = _set_cookie(answer, SESSION_COOKIE)
        assert "Max-Age=7200" in cookie  # the browser forgets it when the server does
        metrics = (await running.http.get("/metrics")).text
    for reason in ("session_idle", "session_expired"):
        assert f'hub_panel_sessions_total{{outcome="{reason}"}}' in metrics


async def test_last_seen_is_written_at_most_once_a_minute(running_hub: RunningHub) -> None:
    def last_seen() -> datetime:
        with running_hub.hub.engine.connect() as connection:
            [moment] = connection.execute(select(admin_sessions.c.last_seen_at)).scalars()
        return as_utc(moment)

    async with _signed_in(running_hub) as browser:
        first = last_seen()
        for _ in range(3):
            assert await _panel_status(browser) == (200, "")
        assert last_seen() == first  # reads do not write
        _age_sessions(running_hub, last_seen_at=timedelta(minutes=2))  # idle 30 min: still live
        assert await _panel_status(browser) == (200, "")
        assert last_seen() > first  # and its use was recorded


async def test_a_session_is_honoured_by_every_hub_process(hub_settings: Settings) -> None:
    """Two hubs on one database, as two `hub serve` processes behind a load balancer."""
    async with (
        serve_hub(Hub(hub_settings, secrets=partner_secrets())) as first,
        serve_hub(Hub(hub_settings, secrets=partner_secrets(), pipeline=False)) as second,
        _signed_in(first) as browser,
    ):
        cookie = _session_cookie(browser)
        async with httpx.AsyncClient(
            base_url=second.base_url, cookies={SESSION_COOKIE: cookie}, timeout=30
        ) as elsewhere:
            assert await _panel_status(elsewhere) == (200, "")
            page = await elsewhere.get("/status/events")
            assert page.status_code == 200
            # Logout at the first process ends the session at the second one too.
            overview = await browser.get("/status")
            await browser.post("/status/logout", data={"csrf": _csrf(overview.text)})
            assert await _panel_status(elsewhere) == (303, "/status/login?next=/status")


async def test_a_new_admin_token_ends_the_sessions_made_from_the_old_one(
    tmp_path: Path, hub_settings: Settings
) -> None:
    async with (
        serve_hub(Hub(hub_settings, secrets=partner_secrets())) as before,
        _signed_in(before) as browser,
    ):
        cookie = _session_cookie(browser)
    rotated = hub_settings.model_copy(update={"admin_token": SecretStr("a-new-admin-token-9d2e")})
    async with (
        serve_hub(Hub(rotated, secrets=partner_secrets())) as after,
        httpx.AsyncClient(
            base_url=after.base_url, cookies={SESSION_COOKIE: cookie}, timeout=30
        ) as browser,
    ):
        assert await _panel_status(browser) == (303, "/status/login?next=/status")


async def test_the_cookie_is_secure_when_the_public_url_is_https(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    """Behind a TLS-terminating proxy the hub sees plain http; the public URL says https."""
    settings = make_settings(
        tmp_path, database_url, temporal_address, public_base_url="https://hooks.example.com"
    )
    async with (
        serve_hub(Hub(settings, secrets=partner_secrets())) as running,
        httpx.AsyncClient(base_url=running.base_url, timeout=30) as browser,
    ):
        form_page = await browser.get("/status/login")
        # A Secure cookie is not sent over http by the client: hand it over as a browser
        # behind that proxy (talking https to it) would.
        nonce = _set_cookie(form_page, LOGIN_COOKIE).split(";")[0].split("=", 1)[1]
        browser.cookies.set(LOGIN_COOKIE, nonce)
        answer = await _sign_in(browser, form_page)
    for cookie in (_set_cookie(form_page, LOGIN_COOKIE), _set_cookie(answer, SESSION_COOKIE)):
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie


async def _sign_in(
    browser: httpx.AsyncClient, form_page: httpx.Response | None = None
) -> httpx.Response:
    form_page = form_page or await browser.get("/status/login")
    answer = await browser.post(
        "/status/login", data={"token": ADMIN_TOKEN, "csrf": _csrf(form_page.text)}
    )
    assert answer.status_code == 303, answer.text
    return answer


def _set_cookie(answer: httpx.Response, name: str) -> str:
    return next(c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{name}="))


async def _oidc_sign_in(browser: httpx.AsyncClient, token: str) -> None:
    form_page = await browser.get("/status/login")
    answer = await browser.post(
        "/status/login", data={"token": token, "csrf": _csrf(form_page.text)}
    )
    assert answer.status_code == 303 and "error" not in answer.headers["location"], answer.headers


async def test_the_panel_acts_for_the_sessions_principal(
    oidc_hub: RunningHub, issuer: Issuer
) -> None:
    """No token behind the cookie: the API sees the session's own subject and role, authorizes
    and audits it as such."""
    body, headers = stripe_delivery()
    await oidc_hub.http.post("/webhooks/stripe", content=body, headers=headers)
    event_id = orjson.loads(body)["id"]
    async with httpx.AsyncClient(base_url=oidc_hub.base_url, timeout=30) as browser:
        await _oidc_sign_in(browser, issuer.token("operator", subject="user_operator"))
        page = await browser.get(f"/status/events/stripe/{event_id}")
        replay = await browser.post(
            f"/status/events/stripe/{event_id}/replay", data={"csrf": _csrf(page.text)}
        )
    assert page.status_code == 200 and "REDACTED (admins only)" in page.text  # operators
    assert replay.status_code == 303
    audit = (await oidc_hub.admin.get("/api/audit", params={"actor": "user_operator"})).json()
    [entry] = audit["items"]
    assert (entry["role"], entry["method"], entry["status"]) == ("operator", "POST", 200)


async def test_a_role_change_in_the_mirror_ends_the_panel_session(
    tmp_path: Path, database_url: str, temporal_address: str, issuer: Issuer
) -> None:
    settings = clerk_settings(tmp_path, database_url, temporal_address, issuer)

    async def clerk_user(running: RunningHub, event_type: str, role: str, at_ms: int) -> None:
        event = orjson.loads(connector("clerk").sample(event_type))
        event["data"].update(id="user_staff", public_metadata={"role": role})
        event["timestamp"] = at_ms
        payload = orjson.dumps(event)
        signed = sign_as("clerk", payload, secret=CLERK_SECRET)
        assert (
            await running.http.post("/webhooks/clerk", content=payload, headers=signed)
        ).is_success
        await wait_until(
            lambda: running.admin.get(f"/api/events/clerk/{signed['svix-id']}"),
            lambda r: r.status_code == 200 and r.json()["status"] == "processed",
        )

    now = int(time.time() * 1000)
    async with (
        serve_hub(Hub(settings, secrets=partner_secrets())) as running,
        httpx.AsyncClient(base_url=running.base_url, timeout=30) as browser,
    ):
        await clerk_user(running, "user.created", "admin", now)
        await _oidc_sign_in(browser, issuer.token(None, subject="user_staff"))  # role: mirror
        assert await _panel_status(browser) == (200, "")
        await clerk_user(running, "user.updated", "viewer", now + 1)
        assert await _panel_status(browser) == (303, "/status/login?next=/status")
        with running.hub.engine.connect() as connection:
            [reason] = connection.execute(select(admin_sessions.c.revoked_reason)).scalars()
    assert reason == "role_changed"


async def test_a_skipped_run_is_shown_as_skipped_not_as_an_error(running_hub: RunningHub) -> None:
    """A stale identity update is `skipped`, its reason kept in last_error (the API says so):
    the panel shows the reason as "skipped: …", outside the red error column."""
    now = int(time.time() * 1000)
    delivered = []
    for event_type, at_ms in (("user.updated", now), ("user.created", now - 60_000)):
        event = orjson.loads(connector("clerk").sample(event_type))
        event["data"].update(id="user_skipped")
        event["timestamp"] = at_ms
        payload = orjson.dumps(event)
        signed = sign_as("clerk", payload, secret=CLERK_SECRET)
        answer = await running_hub.http.post("/webhooks/clerk", content=payload, headers=signed)
        assert answer.is_success
        path = f"/api/events/clerk/{signed['svix-id']}"
        await wait_until(
            partial(running_hub.admin.get, path),
            lambda r: r.status_code == 200 and r.json()["status"] == "processed",
        )
        delivered.append(signed["svix-id"])
    stale = (await running_hub.admin.get(f"/api/events/clerk/{delivered[1]}")).json()
    [run] = [h for e in stale["events"] for h in e["handlers"] if h["handler"] == "identity"]
    assert run["status"] == "skipped" and run["last_error"].startswith("stale_update:")

    page = (await running_hub.admin.get(f"/status/events/clerk/{delivered[1]}")).text
    cell = re.search(r'<td class="note skipped">skipped: stale_update: ([^<]*)</td>', page)
    assert cell is not None, page
    assert '<td class="error">stale_update' not in page


async def test_the_admin_token_fingerprint_is_a_slow_kdf_of_it(running_hub: RunningHub) -> None:
    """A session made with HUB_ADMIN_TOKEN stores scrypt of the token (fixed salt), not a fast
    hash: a copy of the database costs a scrypt per guess of a weak token."""
    async with _signed_in(running_hub):
        pass
    with running_hub.hub.engine.connect() as connection:
        [credential] = connection.execute(select(admin_sessions.c.credential)).scalars()
    derived = hashlib.scrypt(
        ADMIN_TOKEN.encode(), salt=b"integration-hub/admin-session/v1", n=2**14, r=8, p=1, dklen=32
    )
    assert credential == local_credential(ADMIN_TOKEN) == f"local:{derived.hex()[:40]}"
    fast = hashlib.sha256(
        "\0".join(("integration-hub/session", "local", ADMIN_TOKEN)).encode()
    ).hexdigest()
    assert fast[:40] not in credential


async def test_a_role_from_the_tokens_claims_makes_a_shorter_session(
    tmp_path: Path, database_url: str, temporal_address: str, issuer: Issuer
) -> None:
    """Nothing tells the hub when the provider removes a role it put in the token, so such a
    session lasts HUB_SESSION_CLAIMS_HOURS; a mirror role (revoked by the mirror) and the local
    token keep the full lifetime."""
    settings = clerk_settings(
        tmp_path, database_url, temporal_address, issuer, session_claims_hours=0.5
    )
    async with serve_hub(Hub(settings, secrets=partner_secrets())) as running:
        now = datetime.now(UTC)
        with begin_write(running.hub.engine) as connection:
            connection.execute(
                identity_users.insert().values(
                    partner="clerk", user_id="user_mirror", role="admin", deleted=False,
                    source_time=now, updated_at=now,
                )
            )  # fmt: skip
        cookies = {}
        for name, token in (
            ("claims", issuer.token("operator", subject="user_claims")),
            ("mirror", issuer.token(None, subject="user_mirror")),
            ("local", ADMIN_TOKEN),
        ):
            async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as browser:
                form_page = await browser.get("/status/login")
                answer = await browser.post(
                    "/status/login", data={"token": token, "csrf": _csrf(form_page.text)}
                )
                assert answer.status_code == 303 and "error" not in answer.headers["location"]
                cookies[name] = _set_cookie(answer, SESSION_COOKIE)
                assert await _panel_status(browser) == (200, "")
        with running.hub.engine.connect() as connection:
            lasts = {
                row.subject: as_utc(row.expires_at) - as_utc(row.created_at)
                for row in connection.execute(select(admin_sessions))
            }
    assert lasts == {
        "user_claims": timedelta(minutes=30),
        "user_mirror": timedelta(hours=12),
        "local-admin-token": timedelta(hours=12),
    }
    assert "Max-Age=1800" in cookies["claims"]
    assert "Max-Age=43200" in cookies["mirror"] and "Max-Age=43200" in cookies["local"]
