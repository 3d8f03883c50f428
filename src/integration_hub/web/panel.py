"""The status panel: server-rendered HTML over the admin API.

Every page reads the same admin API the CLI uses, called in process for the signed-in
principal (handed over in the ASGI scope, no token): the API authorizes and audits exactly as
for any client, and the panel holds no queries of its own. Sign-in goes through the provider
(web/oidc_signin.py) or checks a pasted token (`HUB_ADMIN_TOKEN` or an OIDC access token) once,
and starts a server-side session
(web/panel_sessions.py); the `hub_session` cookie holds only the session's random id. Scripts
may send `Authorization: Bearer` instead, checked on every request.

CSRF: every form carries HMAC(server key, session id) (login: HMAC of a random nonce kept in
the `hub_login` cookie), checked in constant time on POST; SameSite=Strict is the second wall.
The server key is random per process, so a restart only asks to resubmit a form.
"""

# No `from __future__ import annotations`: FastAPI evaluates the route signatures.

import asyncio
import hashlib
import hmac
import secrets
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlencode

import httpx
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.types import ASGIApp, Receive, Scope, Send

from integration_hub.runtime import Hub
from integration_hub.web import oidc_signin
from integration_hub.web.admin.deps import build_authenticator
from integration_hub.web.auth import PANEL_PRINCIPAL_SCOPE_KEY, AuthError, Principal, Role
from integration_hub.web.event_ids import api_event_path, panel_event_path
from integration_hub.web.oidc_signin import build_signin
from integration_hub.web.panel_calendar import add_calendar
from integration_hub.web.panel_format import mask_text_of, masked, since_label, sparkline
from integration_hub.web.panel_sessions import SESSION_COOKIE, PanelSessions

LOGIN_COOKIE = "hub_login"
REFRESH_SECONDS = 15
STATES = ("healthy", "degraded", "failing", "not_configured", "idle")


def _csrf(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def build_panel(hub: Hub, api: ASGIApp) -> APIRouter:
    """Routes under /status; `api` is the admin app the pages read from."""
    authenticator = build_authenticator(hub)
    signin = build_signin(hub, authenticator)
    panel_sessions = PanelSessions(
        hub, authenticator, signin_credential=signin.credential if signin else None
    )
    key = secrets.token_bytes(32)
    templates = Environment(
        loader=PackageLoader("integration_hub.web", "templates"),
        autoescape=select_autoescape(default=True),
        enable_async=False,
    )
    # Every link to an event is built here: one encoded segment, never a dot segment.
    templates.globals["event_href"] = panel_event_path
    router = APIRouter(prefix="/status", include_in_schema=False)

    def token_of(request: Request) -> str:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip()
        return request.cookies.get(SESSION_COOKIE, "")

    async def principal_of(token: str) -> Principal | None:
        if not token:
            return None
        try:
            return await asyncio.to_thread(authenticator.authenticate, token)
        except AuthError:
            return None

    def call_api(request: Request, principal: Principal) -> httpx.AsyncClient:
        """The admin API in process, acting for `principal` (no token leaves the panel)."""

        async def as_principal(scope: Scope, receive: Receive, send: Send) -> None:
            await api({**scope, PANEL_PRINCIPAL_SCOPE_KEY: principal}, receive, send)

        client = request.client
        transport = httpx.ASGITransport(
            app=as_principal, client=(client.host, client.port) if client else ("127.0.0.1", 0)
        )
        return httpx.AsyncClient(transport=transport, base_url="http://panel", timeout=30)

    def render(name: str, request: Request, status: int = 200, **context: Any) -> HTMLResponse:
        html = templates.get_template(name).render(
            path=request.url.path, states=STATES, sparkline=sparkline, since=since_label, **context
        )
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    def to_login(request: Request) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/status/login?next={quote(target)}", status_code=303)

    async def session(request: Request) -> tuple[str, Principal] | None:
        """(the session id or bearer token, which CSRF tokens are bound to; its principal)."""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            token = header[7:].strip()
            principal = await principal_of(token)
        else:
            token = request.cookies.get(SESSION_COOKIE, "")
            principal = await panel_sessions.resolve(token)
        return (token, principal) if principal is not None else None

    def page_context(token: str, principal: Principal) -> dict[str, Any]:
        role = principal.role
        return {
            "who": principal.subject,
            "role": role.label if role else "no role",
            "can_replay": role is not None and role >= Role.OPERATOR,
            "is_admin": role is not None and role >= Role.ADMIN,
            "csrf": _csrf(key, token),
        }

    def csrf_ok(expected_for: str, presented: str) -> bool:
        return bool(expected_for) and hmac.compare_digest(_csrf(key, expected_for), presented)

    def login_page(
        request: Request,
        status: int = 200,
        *,
        next: str = "/status",
        error: str = "",
        message: str = "",
    ) -> Response:
        nonce = secrets.token_urlsafe(24)
        response = render(
            "login.html",
            request,
            status,
            next=_safe_next(next),
            error=error,
            message=message,
            csrf=_csrf(key, nonce),
            signin_label=signin.label if signin else None,
        )
        response.set_cookie(
            LOGIN_COOKIE,
            nonce,
            max_age=900,
            path="/status",
            httponly=True,
            secure=panel_sessions.secure(request),
            samesite="strict",
        )
        return response  # fmt: skip

    @router.get("/login")
    async def login_form(request: Request, next: str = "/status", error: str = "") -> Response:
        return login_page(request, next=next, error=error[:64])

    @router.get("/login/oidc")
    async def login_with_provider(request: Request, next: str = "/status") -> Response:
        if signin is None:
            return login_page(request, 404, next=next, error="signin_not_configured")
        return await oidc_signin.start(signin, request, _safe_next(next), login_page)

    @router.get("/login/callback")
    async def login_callback(request: Request) -> Response:
        if signin is None:
            return login_page(request, 404, error="signin_not_configured")
        return await oidc_signin.callback(signin, panel_sessions, request, login_page, render)

    @router.post("/login")
    async def login(request: Request) -> Response:
        fields = await form(request)
        token, csrf, next = fields.get("token", ""), fields.get("csrf", ""), fields.get("next", "")
        if not csrf_ok(request.cookies.get(LOGIN_COOKIE, ""), csrf):
            return render("login.html", request, 403, next="/status", error="csrf", csrf="")
        try:
            principal = await asyncio.to_thread(authenticator.authenticate, token.strip())
        except AuthError as refused:
            return RedirectResponse(
                "/status/login?" + urlencode({"next": _safe_next(next), "error": refused.reason}),
                status_code=303,
            )
        response = RedirectResponse(_safe_next(next), status_code=303)
        session_id = await panel_sessions.start(principal)
        lifetime = panel_sessions.lifetime_for(principal)
        panel_sessions.set_cookie(response, request, session_id, lifetime=lifetime)
        response.delete_cookie(LOGIN_COOKIE, path="/status")
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        if not csrf_ok(token_of(request), (await form(request)).get("csrf", "")):
            return HTMLResponse("CSRF check failed", status_code=403)
        ended = await panel_sessions.end(request.cookies.get(SESSION_COOKIE, ""))
        target = "/status/login"
        if signin is not None and ended == signin.credential:
            # The provider's session too: else "Sign in" would pass straight through it.
            target = await oidc_signin.provider_logout(signin, request) or target
        response = RedirectResponse(target, status_code=303)
        panel_sessions.clear_cookie(response, request)
        return response

    @router.get("")
    async def overview(request: Request) -> Response:
        signed = await session(request)
        if signed is None:
            return to_login(request)
        async with call_api(request, signed[1]) as api_client:
            data = (await api_client.get("/api/status")).raise_for_status().json()
        return render(
            "status.html", request, refresh=REFRESH_SECONDS, data=data,
            **page_context(*signed),
        )  # fmt: skip

    @router.get("/events")
    async def explorer(request: Request) -> Response:
        signed = await session(request)
        if signed is None:
            return to_login(request)
        filters = {
            k: v
            for k in ("partner", "type", "status", "event_id", "since", "until", "cursor")
            if (v := request.query_params.get(k, "").strip())
        }
        async with call_api(request, signed[1]) as api_client:
            answer = await api_client.get("/api/events", params={**filters, "limit": 100})
            partners = (await api_client.get("/api/connectors")).json()
        page = answer.json() if answer.status_code == 200 else {"items": [], "next_cursor": None}
        error = None if answer.status_code == 200 else _error_text(answer)
        return render(
            "events.html", request, answer.status_code if error else 200, filters=filters,
            page=page, error=error, partners=[p["name"] for p in partners],
            **page_context(*signed),
        )  # fmt: skip

    # `:event_id`: the id is one percent-encoded segment, routed as received
    # (web/event_ids.py); an id a browser cannot keep in a path (`.`, `..`) comes as `?id=`.
    @router.get("/events/{partner}/{partner_event_id:event_id}")
    async def event(request: Request, partner: str, partner_event_id: str) -> Response:
        return await show_event(request, partner, partner_event_id)

    @router.get("/events/{partner}")
    async def event_by_query(
        request: Request, partner: str, partner_event_id: Annotated[str, Query(alias="id")]
    ) -> Response:
        return await show_event(request, partner, partner_event_id)

    async def show_event(request: Request, partner: str, partner_event_id: str) -> Response:
        signed = await session(request)
        if signed is None:
            return to_login(request)
        context = page_context(*signed)
        path = api_event_path(partner, partner_event_id)
        async with call_api(request, signed[1]) as api_client:
            answer = await api_client.get(path)
            if answer.status_code != 200:
                return render(
                    "message.html", request, answer.status_code,
                    message=_error_text(answer), **context,
                )  # fmt: skip
            raw = (await api_client.get(path + "/raw")).json() if context["is_admin"] else None
        detail = answer.json()
        shown = masked({"headers": detail["headers"], "events": detail["events"]})
        return render(
            "event.html", request, detail=detail, headers=shown["headers"],
            events=shown["events"], raw_body=mask_text_of(raw), replayed=request.query_params.get("replayed"),
            **context,
        )  # fmt: skip

    @router.post("/events/{partner}/{partner_event_id:event_id}/replay")
    async def replay(request: Request, partner: str, partner_event_id: str) -> Response:
        return await replay_event(request, partner, partner_event_id)

    @router.post("/events/{partner}/replay")
    async def replay_by_query(
        request: Request, partner: str, partner_event_id: Annotated[str, Query(alias="id")]
    ) -> Response:
        return await replay_event(request, partner, partner_event_id)

    async def replay_event(request: Request, partner: str, partner_event_id: str) -> Response:
        signed = await session(request)
        if signed is None:
            return to_login(request)
        if not csrf_ok(signed[0], (await form(request)).get("csrf", "")):
            return HTMLResponse("CSRF check failed", status_code=403)
        async with call_api(request, signed[1]) as api_client:
            answer = await api_client.post(api_event_path(partner, partner_event_id, "replay"))
        if answer.status_code != 200:
            return render(
                "message.html", request, answer.status_code,
                message=_error_text(answer), **page_context(*signed),
            )  # fmt: skip
        requeued = str(answer.json()["requeued"])
        return RedirectResponse(
            panel_event_path(partner, partner_event_id, query={"replayed": requeued}),
            status_code=303,
        )

    add_calendar(
        router, session=session, call_api=call_api, render=render, to_login=to_login,
        page_context=page_context,
    )  # fmt: skip
    return router


async def form(request: Request) -> dict[str, str]:
    """The panel's forms are url-encoded and small: parsed here, without python-multipart."""
    body = await request.body()
    if len(body) > 64 * 1024:
        return {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


def _error_text(answer: httpx.Response) -> str:
    try:
        body = answer.json()
        return f"{answer.status_code} {body.get('error')}: {body.get('detail')}"
    except ValueError:
        return f"{answer.status_code}"


def _safe_next(target: str) -> str:
    """Only back into the panel: no open redirect."""
    if (
        len(target) <= 512
        and target.startswith("/status")
        and "//" not in target
        and "\\" not in target
        and target.isprintable()
    ):
        return target
    return "/status"
