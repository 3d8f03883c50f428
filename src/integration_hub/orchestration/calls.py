"""The explicit list of partners' calls out: activities (and their workflows) per partner.

Adding a partner's calls means adding one line to `partner_calls` and, when it brings
workflows, to `CALL_WORKFLOWS`.
"""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio.client import Client

from integration_hub.connectors.auth0.calls import Auth0Management, Auth0UserSnapshotWorkflow
from integration_hub.connectors.google_maps.calls import GoogleMapsCalls
from integration_hub.connectors.google_maps.schedule import ensure_purge_schedule
from integration_hub.connectors.google_maps.workflows import MAPS_WORKFLOWS
from integration_hub.connectors.outbound import PartnerCalls
from integration_hub.connectors.stripe.calls import STRIPE_WORKFLOWS, StripeCalls
from integration_hub.connectors.twilio.messaging import TwilioMessaging
from integration_hub.connectors.twilio.workflows import TWILIO_WORKFLOWS
from integration_hub.orchestration.maintenance import (
    MAINTENANCE_WORKFLOWS,
    ensure_age_reminder_schedule,
)
from integration_hub.orchestration.retention import ensure_retention_schedule
from integration_hub.secrets import SecretSource
from integration_hub.settings import Settings

CALL_WORKFLOWS: tuple[type, ...] = (
    *MAPS_WORKFLOWS,
    *STRIPE_WORKFLOWS,
    Auth0UserSnapshotWorkflow,
    *TWILIO_WORKFLOWS,
    *MAINTENANCE_WORKFLOWS,
)


def partner_calls(settings: Settings, secrets: SecretSource, engine: Engine) -> list[PartnerCalls]:
    return [
        GoogleMapsCalls(settings, secrets, engine),
        StripeCalls(secrets, env=settings.env),
        Auth0Management(secrets),
        TwilioMessaging(settings, secrets, engine),
    ]


def preflight(calls: list[PartnerCalls]) -> None:
    """Refuse to start on a configuration that must not be used (raises UnsafeConfiguration)."""
    for partner in calls:
        partner.preflight()


async def ensure_schedules(client: Client, settings: Settings) -> None:
    """Create or update the Temporal Schedules the hub's upkeep needs (idempotent): the daily
    purge of expired Google Maps cache rows and of old raw bodies, and the secret-age reminder.
    Token rotations are scheduled on request (`hub secrets schedule`): they change partners."""
    await ensure_purge_schedule(client, settings.task_queue)
    await ensure_retention_schedule(client, settings.task_queue)
    await ensure_age_reminder_schedule(client, settings.task_queue)
