"""`POST /api/cleaners/{id}/stripe-account` (operators; audited): the cleaner's Express
connected account (made once) and a fresh Account Link to onboard with.

Built by the hub from `RoutesContext` and mounted under `/api`. The calls run in the
`stripe_onboard_cleaner` workflow, one per cleaner id at a time: a second request while one
runs waits for that run's answer; a request after it ended starts a new run, which reuses the
stored account and makes a new link (links are single-use and expire within minutes)."""

# No `from __future__ import annotations`: FastAPI reads the route signatures at runtime.

import asyncio
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from integration_hub.connectors.partner import RoutesContext
from integration_hub.connectors.stripe.calls import PARTNER
from integration_hub.connectors.stripe.connect import OnboardCleanerInput, OnboardingResult
from integration_hub.connectors.stripe.settings import StripeSettings
from integration_hub.connectors.stripe.workflows import StripeOnboardCleanerWorkflow
from integration_hub.storage import cleaners

if TYPE_CHECKING:
    from fastapi import APIRouter

WAIT_SECONDS = 60  # for Stripe's answers before the request is a 5xx
CLEANER_ID_PATTERN = r"^cln_[0-9a-f]{32}$"  # the registry's ids (storage/cleaners.py)


class StripeAccountOut(BaseModel):
    cleaner_id: str
    account_id: str
    onboarding_url: str
    expires_at: int
    workflow_id: str


def onboarding_urls(public_base_url: str, cleaner_id: str) -> tuple[str, str]:
    """(refresh, return): where Stripe sends the cleaner back, under HUB_PUBLIC_BASE_URL."""
    base = f"{public_base_url.rstrip('/')}/cleaners/{cleaner_id}/stripe"
    return f"{base}/refresh", f"{base}/return"


def connect_routes(context: RoutesContext) -> "APIRouter":
    from fastapi import HTTPException, Path, Request

    router = context.router()
    country = StripeSettings().connect_country

    def refused(status: int, error: str, detail: str) -> HTTPException:
        return HTTPException(status, detail={"error": error, "detail": detail})

    def read_cleaner(cleaner_id: str) -> dict[str, object] | None:
        with context.engine.connect().execution_options(read_only=True) as connection:
            return cleaners.get_cleaner(connection, cleaner_id=cleaner_id)

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
        cleaner = await asyncio.to_thread(read_cleaner, cleaner_id)
        if cleaner is None:
            raise refused(404, "not_found", "no such cleaner")
        base_url = context.settings.public_base_url
        if not base_url:
            raise refused(409, "public_base_url_missing", "set HUB_PUBLIC_BASE_URL")
        partner, account = cleaner["payout_partner"], cleaner["payout_account_id"]
        if partner not in (None, PARTNER):
            raise refused(409, "other_payout_partner", f"the cleaner is paid through {partner}")
        refresh_url, return_url = onboarding_urls(base_url, cleaner_id)
        input = OnboardCleanerInput(
            cleaner_id=cleaner_id,
            refresh_url=refresh_url,
            return_url=return_url,
            account_id=str(account) if account else None,
            country=country,
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
        return StripeAccountOut(
            cleaner_id=cleaner_id,
            account_id=result.account_id,
            onboarding_url=result.url,
            expires_at=result.expires_at,
            workflow_id=handle.id,
        )

    return router
