"""Secret upkeep as Temporal workflows: the daily secret-age reminder and the automatic rotation
of the Auth0 log-stream token (ours to generate, pushed through the Auth0 Management API).

Secret values never enter workflow inputs, results or history: the rotation stores the new
token in an activity, and a second activity reads it back from the store and pushes it. The
order keeps deliveries verifying: first the hub accepts both tokens (the previous one stays
valid for the overlap), then Auth0 starts sending the new one.
"""

from __future__ import annotations

import secrets as token_generator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from integration_hub import schedules

with workflow.unsafe.imports_passed_through():
    from integration_hub.connectors.auth0.calls import Auth0Management, LogStreamToken
    from integration_hub.connectors.outbound import call_activity
    from integration_hub.connectors.twilio.account import TokenRotationStep, TwilioAuthTokens
    from integration_hub.secrets import EnvSecretSource, SecretSource
    from integration_hub.secrets.ages import report_ages
    from integration_hub.secrets.store import RecordStore
    from integration_hub.settings import Settings

AUTH0_LOG_STREAM_TOKEN = "AUTH0_LOG_STREAM_TOKEN"  # noqa: S105 (a variable name, not a value)
AGE_SCHEDULE_ID = "secrets.age_reminder"
AUTH0_ROTATION_SCHEDULE_ID = "secrets.rotate_auth0_log_stream"
TWILIO_ROTATION_SCHEDULE_ID = "secrets.rotate_twilio_auth_token"
STORE_RETRY = RetryPolicy(maximum_attempts=5, non_retryable_error_types=["secrets.read_only"])


@dataclass(frozen=True)
class AgeCheckInput:
    pass


@dataclass(frozen=True)
class AgeReport:
    checked: int
    overdue: list[str] = field(default_factory=list)  # names only


@dataclass(frozen=True)
class RotateLogStreamInput:
    stream_id: str  # lst_...
    overlap_hours: float | None = None  # default: the secret's configured overlap


@dataclass(frozen=True)
class StoreTokenInput:
    rotation_id: str  # the workflow run: a retried step stores nothing twice
    overlap_hours: float | None = None


class SecretMaintenance:
    """The activities, built once per worker with the secrets it was given; rotation needs a
    writable store (`HUB_SECRETS_BACKEND=file` or `aws`)."""

    def __init__(self, secrets: SecretSource, *, auth0: Auth0Management | None = None) -> None:
        self._secrets = secrets
        self._auth0 = auth0 or Auth0Management(secrets)

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.check_secret_ages, self.store_new_log_stream_token, self.push_log_stream_token]

    def _store(self) -> RecordStore:
        if not isinstance(self._secrets, RecordStore):
            raise ApplicationError(
                "secrets are read only with HUB_SECRETS_BACKEND=env", type="secrets.read_only"
            )
        return self._secrets

    @activity.defn(name="secrets_check_ages")
    def check_secret_ages(self, input: AgeCheckInput) -> AgeReport:
        if not isinstance(self._secrets, RecordStore):
            return AgeReport(checked=0)  # the environment keeps no ages
        overdue = report_ages(self._secrets)
        return AgeReport(checked=len(self._secrets.describe()), overdue=[i.name for i in overdue])

    @activity.defn(name="secrets_store_auth0_log_stream_token")
    def store_new_log_stream_token(self, input: StoreTokenInput) -> bool:
        overlap = None if input.overlap_hours is None else timedelta(hours=input.overlap_hours)
        return self._store().rotate(
            AUTH0_LOG_STREAM_TOKEN,
            token_generator.token_urlsafe(32),
            overlap=overlap,
            rotation_id=input.rotation_id,
        )

    @activity.defn(name="secrets_push_auth0_log_stream_token")
    def push_log_stream_token(self, input: RotateLogStreamInput) -> None:
        newest = self._store().versions(AUTH0_LOG_STREAM_TOKEN)[0]
        self._auth0.update_log_stream_token(LogStreamToken(input.stream_id, f"Bearer {newest}"))


@workflow.defn(name="secrets_age_reminder")
class SecretAgeReminderWorkflow:
    """Run daily by a schedule: gauge every stored secret's age, log those past their maximum."""

    @workflow.run
    async def run(self, input: AgeCheckInput) -> AgeReport:
        return await workflow.execute_activity_method(
            SecretMaintenance.check_secret_ages,
            input,
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=STORE_RETRY,
        )


@workflow.defn(name="secrets_rotate_auth0_log_stream")
class RotateAuth0LogStreamWorkflow:
    """A new log-stream token: stored (the previous one kept for the overlap), then pushed."""

    @workflow.run
    async def run(self, input: RotateLogStreamInput) -> None:
        info = workflow.info()
        await workflow.execute_activity_method(
            SecretMaintenance.store_new_log_stream_token,
            StoreTokenInput(f"{info.workflow_id}/{info.run_id}", input.overlap_hours),
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=STORE_RETRY,
        )
        await call_activity(SecretMaintenance.push_log_stream_token, input)


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


MAINTENANCE_WORKFLOWS: tuple[type, ...] = (
    SecretAgeReminderWorkflow,
    RotateAuth0LogStreamWorkflow,
    RotateTwilioAuthTokenWorkflow,
)


async def ensure_age_reminder_schedule(
    client: Client, task_queue: str, every: timedelta = timedelta(days=1)
) -> str:
    """Create (or update) the daily secret-age reminder; returns its id."""
    schedule = schedules.every(
        SecretAgeReminderWorkflow.run,
        AgeCheckInput(),
        schedule_id=AGE_SCHEDULE_ID,
        task_queue=task_queue,
        interval=every,
    )
    return await schedules.ensure_schedule(client, AGE_SCHEDULE_ID, schedule)


async def ensure_auth0_rotation_schedule(
    client: Client, task_queue: str, stream_id: str, every: timedelta = timedelta(days=30)
) -> str:
    """Create (or update) the periodic rotation of the Auth0 log-stream token."""
    schedule = schedules.every(
        RotateAuth0LogStreamWorkflow.run,
        RotateLogStreamInput(stream_id),
        schedule_id=AUTH0_ROTATION_SCHEDULE_ID,
        task_queue=task_queue,
        interval=every,
    )
    return await schedules.ensure_schedule(client, AUTH0_ROTATION_SCHEDULE_ID, schedule)


async def ensure_twilio_rotation_schedule(
    client: Client, task_queue: str, every: timedelta = timedelta(days=30)
) -> str:
    """Create (or update) the periodic rotation of the Twilio Auth Token."""
    schedule = schedules.every(
        RotateTwilioAuthTokenWorkflow.run,
        RotateTwilioAuthTokenInput(),
        schedule_id=TWILIO_ROTATION_SCHEDULE_ID,
        task_queue=task_queue,
        interval=every,
    )
    return await schedules.ensure_schedule(client, TWILIO_ROTATION_SCHEDULE_ID, schedule)


def maintenance_activities(
    secrets: SecretSource | None, settings: Settings | None = None
) -> Sequence[Callable[..., Any]]:
    """For `build_worker`: registered always, so a scheduled run never waits for a worker."""
    source = secrets or EnvSecretSource(environ={})
    twilio_base = settings.twilio_api_base_url if settings else None  # tests: a local server
    return [
        *SecretMaintenance(source).activities(),
        *TwilioAuthTokens(source, accounts_base_url=twilio_base).activities(),
    ]


def known_secret_names(settings: Settings) -> list[str]:
    """Every secret a partner names: webhook and API secrets, and what its calls out need."""
    from sqlalchemy import create_engine

    from integration_hub.connectors.partners import build_connectors
    from integration_hub.orchestration.calls import partner_calls

    names: dict[str, None] = {}
    for connector in build_connectors(settings).values():
        names.update(
            dict.fromkeys((connector.manifest.webhook_secret, *connector.manifest.api_secrets))
        )
    engine = create_engine("sqlite://")  # the calls' manifests only; nothing is read
    try:
        for calls in partner_calls(settings, EnvSecretSource(environ={}), engine):
            names.update(dict.fromkeys(calls.manifest.secret_formats))
    finally:
        engine.dispose()
    return list(names)
