"""Panel sign-in through the provider (OIDC code + PKCE) over real HTTP, against the local
provider of tests/web/oidc_provider.py, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select, update
from structlog.testing import capture_logs

from integration_hub.connectors.partners import auth_logout_url
from integration_hub.runtime import Hub
from integration_hub.secrets import EnvSecretSource
from integration_hub.storage import pending_authorizations as pending
from integration_hub.storage import sessions
from integration_hub.storage.engine import begin_write
from integration_hub.storage.tables import admin_sessions, identity_users, pending_authorizations
from integration_hub.web.oidc_signin import SECURE_SIGNIN_COOKIE, SIGNIN_COOKIE
from integration_hub.web.panel_sessions import SESSION_COOKIE
from tests.helpers import ADMIN_TOKEN, RunningHub, local_secrets, make_settings, serve_hub
from tests.web.issuer import new_key
from tests.web.oidc_provider import (
    AUDIENCE,
    CLIENT_ID,
    CLIENT_SECRET,
    OidcProvider,
    oidc_provider,
)

__all__ = ["oidc_provider"]  # fixtures


def signin_secrets(client_secret: str = CLIENT_SECRET) -> EnvSecretSource:
    return EnvSecretSource(
        environ={
            **local_secrets(),
            "AUTH_CLIENT_ID": CLIENT_ID,
            "AUTH_CLIENT_SECRET": client_secret,
        }
    )


@pytest.fixture
async def hub(
    tmp_path: Path, database_url: str, temporal_address: str, oidc_provider: OidcProvider
) -> AsyncIterator[RunningHub]:
    settings = make_settings(
        tmp_path, database_url, temporal_address,
        auth_issuer=oidc_provider.url, auth_audience=AUDIENCE, auth_provider="clerk",
        auth_jwks_cooldown_seconds=0,
    )  # fmt: skip
    async with serve_hub(Hub(settings, secrets=signin_secrets(), pipeline=False)) as running:
        yield running


def _metric(outcome: str) -> float:
    value = REGISTRY.get_sample_value("hub_oidc_signins_total", {"outcome": outcome})
    return value or 0.0


async def _to_provider(
    browser: httpx.AsyncClient, provider: OidcProvider, next: str = "/status", deny: bool = False
) -> str:
    """Start at the panel, approve (or deny) at the provider; returns the callback URL."""
    start = await browser.get("/status/login/oidc", params={"next": next})
    assert start.status_code == 302, start.text
    async with httpx.AsyncClient(timeout=30) as outside:  # the provider's own pages
        page = await outside.get(start.headers["location"])
        assert page.status_code == 200, page.text
        params = {"ticket": provider.ticket_of(page.text), **({"deny": "1"} if deny else {})}
        approved = await outside.get(f"{provider.url}/approve", params=params)
    assert approved.status_code == 302
    return approved.headers["location"]


@asynccontextmanager
async def _sign_in(
    running: RunningHub, provider: OidcProvider, next: str = "/status"
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.Response]]:
    """A browser that went through the whole sign-in, and the hub's answer to the callback."""
    async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as browser:
        callback = await _to_provider(browser, provider, next)
        yield browser, await browser.get(callback)


async def _callback_answer(
    running: RunningHub, provider: OidcProvider, next: str = "/status"
) -> httpx.Response:
    async with _sign_in(running, provider, next) as (_, answer):
        return answer


def _moves_on_to(answer: httpx.Response) -> str:
    """Where the signed-in page sends the browser on (a same-site navigation of its own, not a
    redirect: see web/oidc_signin.py)."""
    assert answer.status_code == 200, answer.text
    found = re.search(r'<meta http-equiv="refresh" content="0;url=([^"]*)">', answer.text)
    assert found is not None and f'id="continue" href="{found.group(1)}"' in answer.text
    return found.group(1)


def _count(running: RunningHub, table: Any) -> int:
    with running.hub.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


async def test_sign_in_with_the_provider(hub: RunningHub, oidc_provider: OidcProvider) -> None:
    signed_before = _metric("signed_in")
    login = await hub.http.get("/status/login", params={"next": "/status/events"})
    assert 'id="signin-with-provider"' in login.text and "Sign in with Clerk" in login.text
    browser = httpx.AsyncClient(base_url=hub.base_url, timeout=30)
    start = await browser.get("/status/login/oidc", params={"next": "/status/events"})
    lax = next(c for c in start.headers.get_list("set-cookie") if c.startswith(SIGNIN_COOKIE))
    assert "HttpOnly" in lax and "SameSite=lax" in lax and "Path=/status/login" in lax
    assert "Max-Age=600" in lax
    target = urlsplit(start.headers["location"])
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{oidc_provider.url}/authorize"
    assert query["redirect_uri"] == f"{hub.base_url}/status/login/callback"
    assert (query["scope"], query["audience"]) == ("openid profile email", AUDIENCE)
    assert query["code_challenge_method"] == "S256" and query["client_id"] == CLIENT_ID
    with hub.hub.engine.connect() as connection:
        [row] = connection.execute(select(pending_authorizations)).all()
    # Only hashes of the state and of the cookie are stored; the verifier never left the hub.
    assert query["state"] not in repr(tuple(row)) and row.code_verifier not in str(target)
    await browser.aclose()

    with capture_logs() as logs:
        async with _sign_in(hub, oidc_provider, "/status/events") as (browser, done):
            assert _moves_on_to(done) == "/status/events"
            assert done.headers["referrer-policy"] == "no-referrer"
            assert browser.cookies.get(SESSION_COOKIE) and not browser.cookies.get(SIGNIN_COOKIE)
            page = await browser.get("/status")
    assert page.status_code == 200 and "user_oidc_1 (admin)" in page.text
    assert oidc_provider.refusals == []
    [token_request] = oidc_provider.token_requests
    assert token_request.headers["authorization"].startswith("Basic ")
    assert _metric("signed_in") == signed_before + 1
    with hub.hub.engine.connect() as connection:
        [session] = connection.execute(select(admin_sessions)).all()
    assert (session.subject, session.provider, session.role) == ("user_oidc_1", "clerk", "admin")
    assert session.credential.startswith("signin:")
    # Consumed; what is left is the sign-in started above and never finished (expires).
    assert _count(hub, pending_authorizations) == 1
    assert not any("ana@example.com" in repr(entry) for entry in logs)


async def test_the_callback_is_consumed_once(hub: RunningHub, oidc_provider: OidcProvider) -> None:
    async with httpx.AsyncClient(base_url=hub.base_url, timeout=30) as browser:
        callback = await _to_provider(browser, oidc_provider)
        first = await browser.get(callback)
        replayed = await browser.get(callback)
    assert _moves_on_to(first) == "/status"
    assert replayed.status_code == 400 and "(state_unknown)" in replayed.text
    assert len(oidc_provider.token_requests) == 1  # the replay never reached the provider


async def test_an_expired_sign_in_is_refused(hub: RunningHub, oidc_provider: OidcProvider) -> None:
    async with httpx.AsyncClient(base_url=hub.base_url, timeout=30) as browser:
        callback = await _to_provider(browser, oidc_provider)
        with begin_write(hub.hub.engine) as connection:
            connection.execute(
                update(pending_authorizations).values(
                    expires_at=datetime.now(UTC) - timedelta(seconds=1)
                )
            )
        answer = await browser.get(callback)
    assert answer.status_code == 400 and "(state_expired)" in answer.text
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")


@pytest.mark.parametrize("cookie", [None, "x" * 43])
async def test_the_callback_needs_the_browser_that_started(
    hub: RunningHub, oidc_provider: OidcProvider, cookie: str | None
) -> None:
    async with httpx.AsyncClient(base_url=hub.base_url, timeout=30) as browser:
        callback = await _to_provider(browser, oidc_provider)
    # Another browser (a link sent to someone else): no cookie, or its own.
    cookies = {SIGNIN_COOKIE: cookie} if cookie else {}
    async with httpx.AsyncClient(base_url=hub.base_url, timeout=30, cookies=cookies) as other:
        answer = await other.get(callback)
    assert answer.status_code == 400 and "(cookie_mismatch)" in answer.text
    assert oidc_provider.token_requests == [] and _count(hub, admin_sessions) == 0


def _hs256(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": "oidc-key-1"})


def _none(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, None, algorithm="none", headers={"kid": "oidc-key-1"})


def _unknown_kid(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, new_key(), algorithm="RS256", headers={"kid": "not-published"})


def _other_key_same_kid(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, new_key(), algorithm="RS256", headers={"kid": "oidc-key-1"})


@pytest.mark.parametrize(
    ("claims", "sign", "reason"),
    [
        ({"nonce": "n" * 43}, None, "nonce_mismatch"),
        ({"aud": "another-client"}, None, "id_token_invalid"),
        ({"aud": [CLIENT_ID, "other"], "azp": "other"}, None, "id_token_invalid"),
        ({"iss": "https://issuer.example"}, None, "id_token_invalid"),
        ({"exp": int(time.time()) - 120}, None, "id_token_invalid"),
        ({}, _unknown_kid, "id_token_invalid"),
        ({}, _other_key_same_kid, "id_token_invalid"),
        ({}, _none, "id_token_invalid"),
        ({}, _hs256, "id_token_invalid"),
    ],
    ids=["nonce", "aud", "azp", "iss", "expired", "unknown-kid", "bad-signature", "none", "hs256"],
)
async def test_a_bad_id_token_is_refused(
    hub: RunningHub,
    oidc_provider: OidcProvider,
    claims: dict[str, Any],
    sign: Any,
    reason: str,
) -> None:
    before = _metric(reason)
    oidc_provider.claims.update(claims)
    oidc_provider.sign = sign
    answer = await _callback_answer(hub, oidc_provider)
    assert answer.status_code == 400 and f"({reason})" in answer.text
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")
    assert _count(hub, admin_sessions) == 0 and _metric(reason) == before + 1


async def test_a_denied_sign_in_says_so(hub: RunningHub, oidc_provider: OidcProvider) -> None:
    async with httpx.AsyncClient(base_url=hub.base_url, timeout=30) as browser:
        callback = await _to_provider(browser, oidc_provider, deny=True)
        answer = await browser.get(callback)
    assert answer.status_code == 400 and "(provider_error)" in answer.text
    assert "access_denied" in answer.text and oidc_provider.token_requests == []


async def test_signed_in_without_a_role_gets_no_session(
    hub: RunningHub, oidc_provider: OidcProvider
) -> None:
    oidc_provider.claims = {}
    answer = await _callback_answer(hub, oidc_provider)
    assert answer.status_code == 403 and "(no_role)" in answer.text
    assert "has no role in the hub" in answer.text and _count(hub, admin_sessions) == 0


async def test_the_role_comes_from_the_mirror_under_the_issuers_provider(
    hub: RunningHub, oidc_provider: OidcProvider
) -> None:
    oidc_provider.claims = {}
    now = datetime.now(UTC)
    with begin_write(hub.hub.engine) as connection:
        for partner, role in (("clerk", "operator"), ("auth0", "admin")):
            connection.execute(
                identity_users.insert().values(
                    partner=partner, user_id="user_oidc_1", role=role, deleted=False,
                    source_time=now, updated_at=now,
                )
            )  # fmt: skip
    async with _sign_in(hub, oidc_provider) as (browser, answer):
        page = await browser.get("/status")
    assert _moves_on_to(answer) == "/status" and "user_oidc_1 (operator)" in page.text


@pytest.mark.parametrize(
    "next", ["https://evil.example/", "//evil.example/status", "/status\\@evil", "/\\evil"]
)
async def test_next_never_leaves_the_panel(
    hub: RunningHub, oidc_provider: OidcProvider, next: str
) -> None:
    answer = await _callback_answer(hub, oidc_provider, next)
    assert _moves_on_to(answer) == "/status"


async def test_sign_out_ends_the_provider_session_too(
    hub: RunningHub, oidc_provider: OidcProvider
) -> None:
    async with _sign_in(hub, oidc_provider) as (browser, _):
        page = await browser.get("/status")
        csrf = re.search(r'name="csrf" value="([^"]*)"', page.text)
        assert csrf is not None
        out = await browser.post("/status/logout", data={"csrf": csrf.group(1)})
        after = await browser.get("/status")
    target = urlsplit(out.headers["location"])
    assert out.status_code == 303 and f"{target.scheme}://{target.netloc}" == oidc_provider.url
    assert target.path == "/logout"
    assert parse_qs(target.query) == {
        "client_id": [CLIENT_ID],
        "post_logout_redirect_uri": [f"{hub.base_url}/status/login"],
    }
    assert after.status_code == 303  # the session is revoked on the server
    with hub.hub.engine.connect() as connection:
        [session] = connection.execute(select(admin_sessions)).all()
    assert session.revoked_reason == "logout"


async def test_a_pasted_token_session_signs_out_locally(
    hub: RunningHub, oidc_provider: OidcProvider
) -> None:
    async with httpx.AsyncClient(base_url=hub.base_url, timeout=30) as browser:
        form = await browser.get("/status/login")
        csrf = re.search(r'name="csrf" value="([^"]*)"', form.text)
        assert csrf is not None
        await browser.post("/status/login", data={"token": ADMIN_TOKEN, "csrf": csrf.group(1)})
        page = await browser.get("/status")
        csrf = re.search(r'name="csrf" value="([^"]*)"', page.text)
        assert csrf is not None
        out = await browser.post("/status/logout", data={"csrf": csrf.group(1)})
    assert out.headers["location"] == "/status/login" and oidc_provider.logouts == []


async def test_the_authenticators_jwks_cache_is_shared(
    hub: RunningHub, oidc_provider: OidcProvider
) -> None:
    answer = await _callback_answer(hub, oidc_provider)
    # A script reading the panel with an access token: the panel's Authenticator checks it.
    machine = await hub.http.get(
        "/status", headers={"Authorization": f"Bearer {oidc_provider.access_token()}"}
    )
    assert _moves_on_to(answer) == "/status" and machine.status_code == 200
    assert "user_machine (admin)" in machine.text
    assert oidc_provider.jwks_fetches == 1  # one cache for ID and access tokens


async def test_a_wrong_client_secret_fails_the_exchange(
    tmp_path: Path, database_url: str, temporal_address: str, oidc_provider: OidcProvider
) -> None:
    settings = make_settings(
        tmp_path, database_url, temporal_address, auth_issuer=oidc_provider.url
    )
    hub = Hub(settings, secrets=signin_secrets("wrong-" + "y" * 32), pipeline=False)
    async with serve_hub(hub) as running:
        answer = await _callback_answer(running, oidc_provider)
    assert answer.status_code == 502 and "(token_exchange_failed)" in answer.text
    assert oidc_provider.refusals == ["client authentication"]


async def test_client_secret_post_and_no_audience(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    with OidcProvider(auth_method="client_secret_post", end_session=False) as provider:
        settings = make_settings(tmp_path, database_url, temporal_address, auth_issuer=provider.url)
        hub = Hub(settings, secrets=signin_secrets(), pipeline=False)
        async with serve_hub(hub) as running, _sign_in(running, provider) as (browser, answer):
            page = await browser.get("/status")
            csrf = re.search(r'name="csrf" value="([^"]*)"', page.text)
            assert csrf is not None
            out = await browser.post("/status/logout", data={"csrf": csrf.group(1)})
    assert _moves_on_to(answer) == "/status" and provider.refusals == []
    assert provider.authorizations[0].audience is None  # no HUB_AUTH_AUDIENCE: not asked for
    assert "authorization" not in provider.token_requests[0].headers
    # No end_session_endpoint and no provider logout_url for this issuer: local sign-out only.
    assert out.headers["location"] == "/status/login"


async def test_break_glass_in_production_is_a_provider_access_token(
    tmp_path: Path, database_url: str, temporal_address: str, oidc_provider: OidcProvider
) -> None:
    settings = make_settings(
        tmp_path, database_url, temporal_address, env="production",
        auth_issuer=oidc_provider.url, auth_audience=AUDIENCE,
    )  # fmt: skip
    hub = Hub(settings, secrets=signin_secrets(), pipeline=False)
    async with (
        serve_hub(hub) as running,
        httpx.AsyncClient(base_url=running.base_url, timeout=30) as browser,
    ):
        results = {}
        for name, token in (("local", ADMIN_TOKEN), ("provider", oidc_provider.access_token())):
            form = await browser.get("/status/login")
            csrf = re.search(r'name="csrf" value="([^"]*)"', form.text)
            assert csrf is not None and 'id="signin-with-provider"' in form.text
            answer = await browser.post(
                "/status/login", data={"token": token, "csrf": csrf.group(1)}
            )
            results[name] = answer.headers["location"]
        page = await browser.get("/status")
    assert "error=local_token_refused" in results["local"]
    assert results["provider"] == "/status" and "user_machine (admin)" in page.text


def test_auth0_without_rp_logout_uses_its_own_logout_url() -> None:
    url = auth_logout_url(
        "https://tenant.auth0.com/", CLIENT_ID, "https://hub.example/status/login", None
    )
    assert url == (
        "https://tenant.auth0.com/v2/logout?client_id=hubPanelClient0001"
        "&returnTo=https%3A%2F%2Fhub.example%2Fstatus%2Flogin"
    )
    assert auth_logout_url("https://login.example/", CLIENT_ID, "https://h/", None) is None


async def test_the_session_holds_across_processes_until_the_client_changes(
    tmp_path: Path, database_url: str, temporal_address: str, oidc_provider: OidcProvider
) -> None:
    def settings(home: str) -> Any:
        return make_settings(
            tmp_path / home, database_url, temporal_address, auth_issuer=oidc_provider.url,
            auth_audience=AUDIENCE, auth_provider="clerk",
        )  # fmt: skip

    first = Hub(settings("a"), secrets=signin_secrets(), pipeline=False)
    async with serve_hub(first) as running, _sign_in(running, oidc_provider) as (browser, _):
        cookie = browser.cookies[SESSION_COOKIE]
    other_client = EnvSecretSource(
        environ={
            **local_secrets(),
            "AUTH_CLIENT_ID": "anotherClient0001",
            "AUTH_CLIENT_SECRET": CLIENT_SECRET,
        }
    )
    pages = {}
    for name, secrets in (("same", signin_secrets()), ("other_client", other_client)):
        hub = Hub(settings(name), secrets=secrets, pipeline=False)
        async with (
            serve_hub(hub) as running,
            httpx.AsyncClient(base_url=running.base_url, cookies={SESSION_COOKIE: cookie}) as b,
        ):
            pages[name] = await b.get("/status")
    assert pages["same"].status_code == 200 and "user_oidc_1 (admin)" in pages["same"].text
    assert pages["other_client"].status_code == 303  # credential_changed: sign in again


async def test_a_role_change_in_the_mirror_ends_the_session(
    hub: RunningHub, oidc_provider: OidcProvider
) -> None:
    oidc_provider.claims = {}
    now = datetime.now(UTC)
    with begin_write(hub.hub.engine) as connection:
        connection.execute(
            identity_users.insert().values(
                partner="clerk", user_id="user_oidc_1", role="viewer", deleted=False,
                source_time=now, updated_at=now,
            )
        )  # fmt: skip
    async with _sign_in(hub, oidc_provider) as (browser, _):
        before = await browser.get("/status")
        # What the identity handler does when the mirror changes the user's role.
        with begin_write(hub.hub.engine) as connection:
            sessions.revoke_subject(
                connection, provider="clerk", subject="user_oidc_1", reason="role_changed"
            )
        after = await browser.get("/status")
    assert before.status_code == 200 and "user_oidc_1 (viewer)" in before.text
    assert after.status_code == 303


async def test_without_a_client_the_login_page_offers_the_token_only(
    running_hub: RunningHub,
) -> None:
    login = await running_hub.http.get("/status/login")
    start = await running_hub.http.get("/status/login/oidc")
    callback = await running_hub.http.get("/status/login/callback", params={"state": "x" * 43})
    assert login.status_code == 200 and "signin-with-provider" not in login.text
    assert start.status_code == 404 and "signin_not_configured" in start.text
    assert callback.status_code == 404


async def test_an_unreachable_provider_is_a_clear_503(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    with OidcProvider() as gone:
        issuer = gone.url  # a port nothing listens on once the provider stops
    settings = make_settings(tmp_path, database_url, temporal_address, auth_issuer=issuer)
    hub = Hub(settings, secrets=signin_secrets(), pipeline=False)
    async with serve_hub(hub) as running:
        answer = await running.http.get("/status/login/oidc")
        assert _count(running, pending_authorizations) == 0
    assert answer.status_code == 503 and "(discovery_unavailable)" in answer.text


async def test_the_token_auth_method_can_be_set(
    tmp_path: Path, database_url: str, temporal_address: str, oidc_provider: OidcProvider
) -> None:
    # HUB_OIDC_TOKEN_AUTH wins over discovery: this provider takes Basic only, so POST fails.
    settings = make_settings(
        tmp_path, database_url, temporal_address, auth_issuer=oidc_provider.url,
        oidc_token_auth="client_secret_post",
    )  # fmt: skip
    async with serve_hub(Hub(settings, secrets=signin_secrets(), pipeline=False)) as running:
        answer = await _callback_answer(running, oidc_provider)
    [request] = oidc_provider.token_requests
    assert answer.status_code == 502 and "(token_exchange_failed)" in answer.text
    assert request.form()["client_id"] == [CLIENT_ID] and "authorization" not in request.headers


@pytest.fixture
async def proxied_hub(
    tmp_path: Path, database_url: str, temporal_address: str, oidc_provider: OidcProvider
) -> AsyncIterator[RunningHub]:
    """The hub behind a trusted proxy (the test client): X-Forwarded-For tells the client."""
    settings = make_settings(
        tmp_path, database_url, temporal_address, auth_issuer=oidc_provider.url,
        auth_audience=AUDIENCE, auth_provider="clerk", trusted_proxies="127.0.0.1",
    )  # fmt: skip
    async with serve_hub(Hub(settings, secrets=signin_secrets(), pipeline=False)) as running:
        yield running


def _rows_of(running: RunningHub, client: str) -> int:
    with running.hub.engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count())
                .select_from(pending_authorizations)
                .where(pending_authorizations.c.client_hash == pending.digest(client))
            ).scalar_one()
        )


async def test_one_address_flooding_starts_does_not_lock_out_another(
    proxied_hub: RunningHub, oidc_provider: OidcProvider
) -> None:
    limited_before = _metric("too_many_signins")
    flood = {"X-Forwarded-For": "203.0.113.7"}
    async with httpx.AsyncClient(base_url=proxied_hub.base_url, timeout=30, headers=flood) as bot:
        answers = [await bot.get("/status/login/oidc") for _ in range(12)]
    assert [a.status_code for a in answers] == [302] * 10 + [429] * 2
    refused = answers[-1]
    assert "(too_many_signins)" in refused.text and int(refused.headers["retry-after"]) >= 1
    assert _metric("too_many_signins") == limited_before + 2
    assert _rows_of(proxied_hub, "203.0.113.7") == 10
    # Another address is not charged for the flood and signs in.
    real = {"X-Forwarded-For": "198.51.100.9"}
    async with httpx.AsyncClient(base_url=proxied_hub.base_url, timeout=30, headers=real) as ana:
        callback = await _to_provider(ana, oidc_provider)
        assert _moves_on_to(await ana.get(callback)) == "/status"
    # An IPv6 client is its /64: a second address in it shares the budget.
    async with httpx.AsyncClient(base_url=proxied_hub.base_url, timeout=30) as v6:
        for i in range(10):
            hop = {"X-Forwarded-For": f"2001:db8:1:2::{i + 1:x}"}
            assert (await v6.get("/status/login/oidc", headers=hop)).status_code == 302
        hop = {"X-Forwarded-For": "2001:db8:1:2:ffff::1"}
        assert (await v6.get("/status/login/oidc", headers=hop)).status_code == 429


async def test_a_presented_cookie_is_never_adopted(hub: RunningHub) -> None:
    # A cookie tossed in by a sibling domain (login CSRF): the start mints its own value.
    tossed = "t" * 43
    cookies = {SIGNIN_COOKIE: tossed}
    async with httpx.AsyncClient(base_url=hub.base_url, timeout=30, cookies=cookies) as browser:
        start = await browser.get("/status/login/oidc")
    assert start.status_code == 302
    [set_cookie] = [c for c in start.headers.get_list("set-cookie") if c.startswith(SIGNIN_COOKIE)]
    assert not set_cookie.startswith(f"{SIGNIN_COOKIE}={tossed}")
    with hub.hub.engine.connect() as connection:
        [row] = connection.execute(select(pending_authorizations)).all()
    assert row.browser_hash != pending.digest(tossed)


async def test_on_https_the_sign_in_cookie_is_host_prefixed(
    tmp_path: Path, database_url: str, temporal_address: str, oidc_provider: OidcProvider
) -> None:
    settings = make_settings(
        tmp_path, database_url, temporal_address, auth_issuer=oidc_provider.url,
        auth_audience=AUDIENCE, auth_provider="clerk", public_base_url="https://hub.example",
    )  # fmt: skip
    async with serve_hub(Hub(settings, secrets=signin_secrets(), pipeline=False)) as running:
        async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as browser:
            start = await browser.get("/status/login/oidc")
            [set_cookie] = start.headers.get_list("set-cookie")
            name, value = set_cookie.split(";", 1)[0].split("=", 1)
            assert name == SECURE_SIGNIN_COOKIE == "__Host-hub_signin"
            assert "Secure" in set_cookie and "Path=/;" in set_cookie + ";"
            assert "Domain" not in set_cookie
            async with httpx.AsyncClient(timeout=30) as outside:
                page = await outside.get(start.headers["location"])
                approved = await outside.get(
                    f"{oidc_provider.url}/approve",
                    params={"ticket": oidc_provider.ticket_of(page.text)},
                )
            query = urlsplit(approved.headers["location"]).query
            # The plain name is not the sign-in cookie on https; the __Host- one is.
            plain = await browser.get(
                f"/status/login/callback?{query}", headers={"cookie": f"{SIGNIN_COOKIE}={value}"}
            )
            assert plain.status_code == 400 and "(cookie_mismatch)" in plain.text
        async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as browser:
            start = await browser.get("/status/login/oidc")
            value = start.headers["set-cookie"].split(";", 1)[0].split("=", 1)[1]
            async with httpx.AsyncClient(timeout=30) as outside:
                page = await outside.get(start.headers["location"])
                approved = await outside.get(
                    f"{oidc_provider.url}/approve",
                    params={"ticket": oidc_provider.ticket_of(page.text)},
                )
            query = urlsplit(approved.headers["location"]).query
            done = await browser.get(
                f"/status/login/callback?{query}",
                headers={"cookie": f"{SECURE_SIGNIN_COOKIE}={value}"},
            )
    assert _moves_on_to(done) == "/status"
    cleared = next(c for c in done.headers.get_list("set-cookie") if "__Host-" in c)
    assert "Path=/;" in cleared + ";" and "Secure" in cleared


async def test_an_invitation_link_goes_on_to_the_provider(hub: RunningHub) -> None:
    params = {"invitation": "Ab_9-xYz", "organization": "org_AbC123", "next": "/status"}
    start = await hub.http.get("/status/login/oidc", params=params)
    assert start.status_code == 302
    query = {k: v[0] for k, v in parse_qs(urlsplit(start.headers["location"]).query).items()}
    assert (query["invitation"], query["organization"]) == ("Ab_9-xYz", "org_AbC123")
    plain = await hub.http.get("/status/login/oidc")
    assert "invitation" not in plain.headers["location"]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"invitation": "a b"}, "invitation_invalid"),
        ({"invitation": "x" * 65}, "invitation_invalid"),
        ({"invitation": ""}, "invitation_invalid"),
        ({"organization": "AbC123"}, "organization_invalid"),
        ({"organization": "org_a-b"}, "organization_invalid"),
        ({"invitation": "ok", "organization": "org_" + "a" * 65}, "organization_invalid"),
    ],
)
async def test_a_malformed_invitation_link_is_refused(
    hub: RunningHub, params: dict[str, str], reason: str
) -> None:
    before = _metric(reason)
    answer = await hub.http.get("/status/login/oidc", params=params)
    assert answer.status_code == 400 and f"({reason})" in answer.text
    assert _metric(reason) == before + 1 and _count(hub, pending_authorizations) == 0
