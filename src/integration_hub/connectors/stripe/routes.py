"""`POST /api/cleaners/{id}/stripe-account` (operators; audited): the cleaner's Express
connected account (made once) and a fresh Account Link to onboard with.

Built by the hub from `RoutesContext` and mounted under `/api`. The calls run in the
`stripe_onboard_cleaner` workflow, one per cleaner id at a time: a second request while one
runs waits for that run's answer; a request after it ended starts a new run, which reuses the
stored account and makes a new link (links are single-use and expire within minutes).

Each request also makes a new token for the cleaner's onboarding pages (pages.py: where Stripe
sends the cleaner back), carried in the link's refresh and return URLs; only its SHA-256 is
stored, and a newer link's token replaces it."""

# No `from __future__ import annotations`: FastAPI reads the route signatures at runtime.

import asyncio
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlencode

from pydantic import BaseModel
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from integration_hub.connectors.partner import RoutesContext
from integration_hub.connectors.stripe.calls import PARTNER
from integration_hub.connectors.stripe.connect import OnboardCleanerInput, OnboardingResult
from integration_hub.connectors.stripe.settings import StripeSettings
from integration_hub.connectors.stripe.workflows import StripeOnboardCleanerWorkflow
from integration_hub.storage import cleaners
from integration_hub.storage.engine import begin_write

if TYPE_CHECKING:
    from fastapi import APIRouter, HTTPException

WAIT_SECONDS = 60  # for Stripe's answers before the request is a 5xx
CLEANER_ID_PATTERN = r"^cln_[0-9a-f]{32}$"  # the registry's ids (storage/cleaners.py)


class StripeAccountOut(BaseModel):
    cleaner_id: str
    account_id: str
    onboarding_url: str
    expires_at: int
    workflow_id: str


def onboarding_urls(public_base_url: str, cleaner_id: str, token: str) -> tuple[str, str]:
    """(refresh, return): where Stripe sends the cleaner back, under HUB_PUBLIC_BASE_URL, on
    the public pages (pages.py) that `token` opens."""
    base = f"{public_base_url.rstrip('/')}/{PARTNER}/onboarding/{cleaner_id}"
    query = urlencode({"token": token})
    return f"{base}/refresh?{query}", f"{base}/return?{query}"


def refused(status: int, error: str, detail: str) -> "HTTPException":
    from fastapi import HTTPException

    return HTTPException(status, detail={"error": error, "detail": detail})


async def onboard(
    context: RoutesContext, cleaner: dict[str, object], token: str
) -> tuple[str, OnboardingResult]:
    """Run (or join) the cleaner's onboarding workflow: (its id, the account and a new link).
    The link's refresh and return pages are opened by `token` (stored by the caller)."""
    base_url = context.settings.public_base_url
    if not base_url:
        raise refused(409, "public_base_url_missing", "set HUB_PUBLIC_BASE_URL")
    cleaner_id, partner = str(cleaner["id"]), cleaner["payout_partner"]
    if partner not in (None, PARTNER):
        raise refused(409, "other_payout_partner", f"the cleaner is paid through {partner}")
    refresh_url, return_url = onboarding_urls(base_url, cleaner_id, token)
    account = cleaner["payout_account_id"]
    input = OnboardCleanerInput(
        cleaner_id=cleaner_id,
        refresh_url=refresh_url,
        return_url=return_url,
        account_id=str(account) if account else None,
        country=StripeSettings().connect_country,
        phone=str(cleaner["phone"]),
    )
    client = await context.temporal()
    try:
        handle = await client.start_workflow(
            StripeOnboardCleanerWorkflow.run,
            input,
            id=input.workflow_id(),
            task_queue=context.settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:  # one is running: its answer is this one's
        handle = client.get_workflow_handle_for(
            StripeOnboardCleanerWorkflow.run, input.workflow_id()
        )
    result: OnboardingResult = await context.result(
        handle, seconds=WAIT_SECONDS, failed="onboarding_failed"
    )
    return handle.id, result


def connect_routes(context: RoutesContext) -> "APIRouter":
    from fastapi import Path, Request

    router = context.router()
    lifetime = timedelta(days=StripeSettings().onboarding_link_days)

    def new_token(cleaner_id: str) -> tuple[dict[str, object] | None, str]:
        """The cleaner, with a new token for its onboarding pages (None: no such cleaner)."""
        token = secrets.token_urlsafe(32)
        with begin_write(context.engine) as connection:
            cleaner = cleaners.get_cleaner(connection, cleaner_id=cleaner_id)
            if cleaner is not None:
                cleaners.set_onboarding_token(
                    connection, cleaner_id=cleaner_id, token=token, lifetime=lifetime
                )
        return cleaner, token

    @router.post(
        "/cleaners/{cleaner_id}/stripe-account",
        dependencies=context.operator,
        responses={404: {"description": "No such cleaner"}, 409: {"description": "Refused"}},
    )
    async def stripe_account(
        cleaner_id: Annotated[str, Path(pattern=CLEANER_ID_PATTERN)], http: Request
    ) -> StripeAccountOut:
        """Create the cleaner's Express account (once) and return a link to onboard with."""
        context.audit_detail(http, f"cleaner_id={cleaner_id}")
        if not context.settings.public_base_url:
            raise refused(409, "public_base_url_missing", "set HUB_PUBLIC_BASE_URL")
        cleaner, token = await asyncio.to_thread(new_token, cleaner_id)
        if cleaner is None:
            raise refused(404, "not_found", "no such cleaner")
        workflow_id, result = await onboard(context, cleaner, token)
        return StripeAccountOut(
            cleaner_id=cleaner_id,
            account_id=result.account_id,
            onboarding_url=result.url,
            expires_at=result.expires_at,
            workflow_id=workflow_id,
        )

    return router
