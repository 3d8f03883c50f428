"""Partners' calls out, workflows and schedules, read from their declarations (`PARTNERS`).

Adding a partner's calls means declaring `calls=`, `workflows=`, `schedules=` and `polls=` on
its `Partner`; nothing here changes.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine
from temporalio.client import Client

from integration_hub.connectors.outbound import PartnerCalls
from integration_hub.connectors.partner import CallsContext, Partner
from integration_hub.connectors.partners import PARTNERS, check_providers
from integration_hub.orchestration.maintenance import (
    MAINTENANCE_WORKFLOWS,
    ensure_age_reminder_schedule,
)
from integration_hub.orchestration.polls import ensure_poll_schedules
from integration_hub.orchestration.retention import ensure_retention_schedule
from integration_hub.secrets import SecretSource
from integration_hub.settings import Settings
from integration_hub.storage import managers

# Every partner's workflows (calls out, rotations), then the core's upkeep (secret ages).
CALL_WORKFLOWS: tuple[type, ...] = (
    *(w for partner in PARTNERS if partner.workflows is not None for w in partner.workflows()),
    *MAINTENANCE_WORKFLOWS,
)


def partner_calls(
    settings: Settings,
    secrets: SecretSource,
    engine: Engine,
    partners: Sequence[Partner] = PARTNERS,
) -> list[PartnerCalls]:
    """Each partner's activities, built once (per worker, or per command) with what they need."""
    context = CallsContext(settings=settings, secrets=secrets, engine=engine)
    return [partner.calls(context) for partner in partners if partner.calls is not None]


def preflight(calls: Sequence[PartnerCalls], settings: Settings) -> None:
    """Refuse to start on a configuration that must not be used (raises UnsafeConfiguration):
    a provider setting that names no partner providing it, or a partner's own refusal."""
    check_providers(settings)
    for partner in calls:
        partner.preflight()


async def ensure_schedules(
    client: Client,
    settings: Settings,
    partners: Sequence[Partner] = PARTNERS,
    engine: Engine | None = None,
) -> None:
    """Create or update the Temporal Schedules the hub's upkeep needs (idempotent): each
    partner's (e.g. a daily cache purge), one per poll source it declares, the purge of old
    raw bodies and the secret-age reminder. Token rotations are scheduled on request (`hub secrets schedule`): they change
    partners."""
    for partner in partners:
        for ensure in partner.schedules:
            await ensure(client, settings.task_queue)
    connections: list[tuple[str, str]] = []
    per_connection = [p.name for p in partners if any(s.per_connection for s in p.polls)]
    if engine is not None and per_connection:  # one schedule per connection of those partners
        with engine.connect().execution_options(read_only=True) as connection:
            connections = managers.connection_ids(connection, partners=per_connection)
    await ensure_poll_schedules(client, settings.task_queue, partners, connections)
    await ensure_retention_schedule(client, settings.task_queue)
    await ensure_age_reminder_schedule(client, settings.task_queue)
