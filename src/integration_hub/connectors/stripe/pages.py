"""The public pages Stripe sends a cleaner back to from Connect onboarding, opened by the token
in their URLs (routes.py makes it; only its SHA-256 is stored, with an expiry):

- `GET /stripe/onboarding/{cleaner_id}/refresh?token=`: the Account Link expired or was used
  (Stripe's `refresh_url`); a new one is made by the same onboarding workflow and the cleaner is
  redirected to it, as Stripe's guide asks.
- `GET /stripe/onboarding/{cleaner_id}/return?token=`: the cleaner left the flow (`return_url`,
  which says nothing about whether it is complete); a page in the cleaner's language says what
  the hub knows (payable, or still reviewed) and offers to continue. `account.updated` events
  keep that state current (the cleaners handler), so the page reads the registry only.

A person who is not the cleaner must not reach the onboarding form (it takes bank details): the
cleaner id alone is shown to every viewer of the admin API, so it opens nothing, and once the
cleaner is payable `refresh` makes no new link (it shows the status page), so a link seen later
cannot reopen the form to change the bank account. A wrong,
replaced or expired token is a 404 `onboarding_link_invalid`, counted and logged like every
refusal, and the operator makes a new link.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at runtime.

import asyncio
from html import escape
from typing import TYPE_CHECKING, Annotated

from integration_hub.connectors.partner import RoutesContext
from integration_hub.connectors.stripe.calls import PARTNER
from integration_hub.connectors.stripe.routes import (
    CLEANER_ID_PATTERN,
    onboard,
    onboarding_urls,
    refused,
)
from integration_hub.storage import cleaners

if TYPE_CHECKING:
    from fastapi import APIRouter

TOKEN_PATTERN = r"^[A-Za-z0-9_-]{43}$"  # noqa: S105 (the shape of secrets.token_urlsafe(32))

# (title, payable, not yet payable, continue): what the return page says, per language.
RETURN_TEXT = {
    "es": (
        "Pagos de limpieza",
        "¡Listo! Tu cuenta de pagos está activa. Ya puedes cerrar esta página.",
        "Gracias. Stripe está revisando tus datos; te avisaremos si falta algo.",
        "Continuar con mis datos",
    ),
    "en": (
        "Cleaning payouts",
        "All set! Your payout account is active. You can close this page.",
        "Thank you. Stripe is reviewing your details; we will message you if anything is missing.",
        "Continue with my details",
    ),
}


def return_page(language: str, payable: bool, continue_url: str) -> str:
    title, ready, reviewing, more = RETURN_TEXT.get(language, RETURN_TEXT["en"])
    lang = language if language in RETURN_TEXT else "en"
    action = "" if payable else f'<p><a href="{escape(continue_url)}">{escape(more)}</a></p>'
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title></head><body><main><h1>{escape(title)}</h1>"
        f"<p>{escape(ready if payable else reviewing)}</p>{action}</main></body></html>"
    )


def onboarding_pages(context: RoutesContext) -> "APIRouter":
    from fastapi import APIRouter, Path, Query
    from fastapi.responses import HTMLResponse, RedirectResponse

    router = APIRouter(prefix=f"/{PARTNER}/onboarding", include_in_schema=False)
    CleanerId = Annotated[str, Path(pattern=CLEANER_ID_PATTERN)]
    Token = Annotated[str, Query(pattern=TOKEN_PATTERN)]

    def opened(cleaner_id: str, token: str) -> dict[str, object] | None:
        with context.engine.connect().execution_options(read_only=True) as connection:
            return cleaners.onboarding_cleaner(connection, cleaner_id=cleaner_id, token=token)

    async def cleaner_of(cleaner_id: str, token: str) -> dict[str, object]:
        cleaner = await asyncio.to_thread(opened, cleaner_id, token)
        if cleaner is None:
            detail = "this onboarding link is unknown, replaced or expired: ask for a new one"
            raise refused(404, "onboarding_link_invalid", detail)
        return cleaner

    def status_page(cleaner_id: str, token: str, cleaner: dict[str, object]) -> HTMLResponse:
        ready = cleaners.payable(cleaner) and cleaner["payout_partner"] == PARTNER
        refresh_url, _ = onboarding_urls(context.settings.public_base_url or "", cleaner_id, token)
        page = return_page(str(cleaner["language"]), ready, refresh_url)
        return HTMLResponse(page, headers={"cache-control": "no-store"})

    @router.get("/{cleaner_id}/refresh", response_model=None)
    async def refresh(cleaner_id: CleanerId, token: Token) -> RedirectResponse | HTMLResponse:
        cleaner = await cleaner_of(cleaner_id, token)
        if cleaner["payout_partner"] == PARTNER and cleaners.payable(cleaner):
            # Onboarded: the form (bank details) is not reopened by a link seen before; a
            # change goes through the operator, who makes a new link.
            return status_page(cleaner_id, token, cleaner)
        _, result = await onboard(context, cleaner, token)
        return RedirectResponse(result.url, status_code=303, headers={"cache-control": "no-store"})

    @router.get("/{cleaner_id}/return")
    async def back(cleaner_id: CleanerId, token: Token) -> HTMLResponse:
        return status_page(cleaner_id, token, await cleaner_of(cleaner_id, token))

    return router
