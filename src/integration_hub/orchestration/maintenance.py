"""Secret upkeep that spans partners: the daily secret-age reminder, and every partner's upkeep
activities (its rotations, declared in its package) registered on every worker.

Secret values never enter workflow inputs, results or history.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy

from integration_hub import schedules

with workflow.unsafe.imports_passed_through():
    from integration_hub.connectors.partner import Partner, UpkeepContext
    from integration_hub.connectors.partners import PARTNERS
    from integration_hub.secrets import EnvSecretSource, SecretSource
    from integration_hub.secrets.ages import report_ages
    from integration_hub.secrets.store import RecordStore
    from integration_hub.settings import Settings

AGE_SCHEDULE_ID = "secrets.age_reminder"
STORE_RETRY = RetryPolicy(maximum_attempts=5, non_retryable_error_types=["secrets.read_only"])


@dataclass(frozen=True)
class AgeCheckInput:
    pass


@dataclass(frozen=True)
class AgeReport:
    checked: int
    overdue: list[str] = field(default_factory=list)  # names only


class SecretMaintenance:
    """The core upkeep activities, built once per worker with the secrets it was given."""

    def __init__(self, secrets: SecretSource) -> None:
        self._secrets = secrets

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.check_secret_ages]

    @activity.defn(name="secrets_check_ages")
    def check_secret_ages(self, input: AgeCheckInput) -> AgeReport:
        if not isinstance(self._secrets, RecordStore):
            return AgeReport(checked=0)  # the environment keeps no ages
        overdue = report_ages(self._secrets)
        return AgeReport(checked=len(self._secrets.describe()), overdue=[i.name for i in overdue])


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


# The core's own; each partner's rotation workflows are in its declaration's `workflows`.
MAINTENANCE_WORKFLOWS: tuple[type, ...] = (SecretAgeReminderWorkflow,)


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


def maintenance_activities(
    secrets: SecretSource | None,
    settings: Settings | None = None,
    partners: Sequence[Partner] = PARTNERS,
) -> Sequence[Callable[..., Any]]:
    """For `build_worker`: registered always, so a scheduled run never waits for a worker.
    The core's age check, then every partner's upkeep (its rotations)."""
    source = secrets or EnvSecretSource(environ={})
    # Without settings (a worker built for a test), the defaults: no local partner servers.
    context = UpkeepContext(settings or Settings.model_construct(), source)
    return [
        *SecretMaintenance(source).activities(),
        *(step for p in partners if p.upkeep is not None for step in p.upkeep(context)),
    ]


def known_secret_names(
    partners: Sequence[Partner] = PARTNERS,
    *,
    secrets: SecretSource | None = None,
) -> list[str]:
    """Every secret a partner declares (what it verifies deliveries with, what its calls out
    need), in the partners' order, without repeats. A family declared per instance stands for
    its instances' secrets (`NAME__<INSTANCE>`), listed from `secrets` when it is given (a
    family's instances exist only in a secret source; without one the declarations alone
    answer: the plain names)."""
    names: list[str] = []
    for partner in partners:
        for secret in partner.secrets:
            if not secret.per_instance:
                names.append(secret.name)
            elif secrets is not None:
                names.extend(secret.for_instance(i) for i in secrets.instances(secret.name))
    return list(dict.fromkeys(names))
