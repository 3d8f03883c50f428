"""Rotating the Auth0 log-stream token: ours to generate, pushed through the Management API.

Secret values never enter workflow inputs, results or history: one activity stores the new
token, a second reads it back from the store and pushes it. The order keeps deliveries
verifying: first the hub accepts both tokens (the previous one stays valid for the overlap),
then Auth0 starts sending the new one. Rotation needs a writable store
(`HUB_SECRETS_BACKEND=file` or `aws`).
"""

from __future__ import annotations

import secrets as token_generator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from integration_hub import schedules
    from integration_hub.connectors.auth0 import LOG_STREAM_TOKEN
    from integration_hub.connectors.auth0.calls import Auth0Management, LogStreamToken
    from integration_hub.connectors.outbound import call_activity
    from integration_hub.connectors.partner import UpkeepContext
    from integration_hub.secrets import SecretSource
    from integration_hub.secrets.store import RecordStore

SCHEDULE_ID = "secrets.rotate_auth0_log_stream"
STORE_RETRY = RetryPolicy(maximum_attempts=5, non_retryable_error_types=["secrets.read_only"])


@dataclass(frozen=True)
class RotateLogStreamInput:
    stream_id: str  # lst_...
    overlap_hours: float | None = None  # default: the secret's configured overlap


@dataclass(frozen=True)
class StoreTokenInput:
    rotation_id: str  # the workflow run: a retried step stores nothing twice
    overlap_hours: float | None = None


class LogStreamRotation:
    """The rotation's activities, built once per worker with the secrets it was given."""

    def __init__(self, secrets: SecretSource, *, auth0: Auth0Management | None = None) -> None:
        self._secrets = secrets
        self._auth0 = auth0 or Auth0Management(secrets)

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.store_new_token, self.push_token]

    def _store(self) -> RecordStore:
        if not isinstance(self._secrets, RecordStore):
            raise ApplicationError(
                "secrets are read only with HUB_SECRETS_BACKEND=env", type="secrets.read_only"
            )
        return self._secrets

    @activity.defn(name="secrets_store_auth0_log_stream_token")
    def store_new_token(self, input: StoreTokenInput) -> bool:
        overlap = None if input.overlap_hours is None else timedelta(hours=input.overlap_hours)
        return self._store().rotate(
            LOG_STREAM_TOKEN,
            token_generator.token_urlsafe(32),
            overlap=overlap,
            rotation_id=input.rotation_id,
        )

    @activity.defn(name="secrets_push_auth0_log_stream_token")
    def push_token(self, input: RotateLogStreamInput) -> None:
        newest = self._store().versions(LOG_STREAM_TOKEN)[0]
        self._auth0.update_log_stream_token(LogStreamToken(input.stream_id, f"Bearer {newest}"))


@workflow.defn(name="secrets_rotate_auth0_log_stream")
class RotateAuth0LogStreamWorkflow:
    """A new log-stream token: stored (the previous one kept for the overlap), then pushed."""

    @workflow.run
    async def run(self, input: RotateLogStreamInput) -> None:
        info = workflow.info()
        await workflow.execute_activity_method(
            LogStreamRotation.store_new_token,
            StoreTokenInput(f"{info.workflow_id}/{info.run_id}", input.overlap_hours),
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=STORE_RETRY,
        )
        await call_activity(LogStreamRotation.push_token, input)


async def ensure_rotation_schedule(
    client: Client,
    task_queue: str,
    stream_id: str | None,
    every: timedelta = timedelta(days=30),
) -> str:
    """Create (or update) the periodic rotation of one log stream's token; returns its id."""
    if not stream_id:
        raise ValueError("the Auth0 log-stream rotation needs the stream's id (lst_...)")
    schedule = schedules.every(
        RotateAuth0LogStreamWorkflow.run,
        RotateLogStreamInput(stream_id),
        schedule_id=SCHEDULE_ID,
        task_queue=task_queue,
        interval=every,
    )
    return await schedules.ensure_schedule(client, SCHEDULE_ID, schedule)


def upkeep(context: UpkeepContext) -> Sequence[Callable[..., Any]]:
    """For every worker: a scheduled rotation never waits for a worker that has them."""
    return LogStreamRotation(context.secrets).activities()
