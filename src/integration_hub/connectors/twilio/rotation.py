"""Rotating the Twilio Auth Token on a schedule: the workflow over `account.TwilioAuthTokens`.

A secondary token is minted and stored (the primary kept valid for the overlap), then promoted:
Twilio signs with the new token only once the hub already accepts it. Token values stay inside
the activities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.client import Client

with workflow.unsafe.imports_passed_through():
    from integration_hub import schedules
    from integration_hub.connectors.outbound import call_activity
    from integration_hub.connectors.partner import UpkeepContext
    from integration_hub.connectors.twilio.account import (
        TokenRotationStep,
        TwilioAuthTokens,
    )
    from integration_hub.connectors.twilio.settings import TwilioSettings

SCHEDULE_ID = "secrets.rotate_twilio_auth_token"


@dataclass(frozen=True)
class RotateTwilioAuthTokenInput:
    overlap_hours: float | None = None  # default: the secret's configured overlap


@workflow.defn(name="secrets_rotate_twilio_auth_token")
class RotateTwilioAuthTokenWorkflow:
    """A secondary Auth Token minted and stored (the primary kept for the overlap), then
    promoted: Twilio signs with the new token only once the hub already accepts it."""

    @workflow.run
    async def run(self, input: RotateTwilioAuthTokenInput) -> None:
        info = workflow.info()
        step = TokenRotationStep(f"{info.workflow_id}/{info.run_id}", input.overlap_hours)
        await call_activity(TwilioAuthTokens.create_secondary, step)
        await call_activity(TwilioAuthTokens.promote_secondary, step)


async def ensure_rotation_schedule(
    client: Client,
    task_queue: str,
    value: str | None = None,  # a flag: the account comes from TWILIO_ACCOUNT_SID
    every: timedelta = timedelta(days=30),
) -> str:
    """Create (or update) the periodic rotation of the Twilio Auth Token; returns its id."""
    schedule = schedules.every(
        RotateTwilioAuthTokenWorkflow.run,
        RotateTwilioAuthTokenInput(),
        schedule_id=SCHEDULE_ID,
        task_queue=task_queue,
        interval=every,
    )
    return await schedules.ensure_schedule(client, SCHEDULE_ID, schedule)


def upkeep(context: UpkeepContext) -> Sequence[Callable[..., Any]]:
    """For every worker: a scheduled rotation never waits for a worker that has them.
    `HUB_TWILIO_API_BASE_URL` points the Accounts API at a local server in tests."""
    base = TwilioSettings().api_base_url
    return TwilioAuthTokens(context.secrets, accounts_base_url=base).activities()
