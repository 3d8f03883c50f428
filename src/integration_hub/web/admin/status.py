"""What the hub knows of each partner: its connector (`/api/connectors`) and its state
(`/api/status`), both read from the partner registry, never from a list of names here."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from integration_hub.doctor import diagnose
from integration_hub.status import partner_statuses
from integration_hub.web.admin.deps import DatabaseDep, HubDep, api_router
from integration_hub.web.admin.models import ConnectorOut, StatusOut

router = api_router()


@router.get("/connectors")
async def connectors(hub: HubDep) -> list[ConnectorOut]:
    return [
        ConnectorOut(
            name=name,
            webhook_secret=c.manifest.webhook_secret,
            configured=bool(hub.secrets.versions(c.manifest.webhook_secret)),
            event_map=dict(c.manifest.event_map),
        )
        for name, c in hub.connectors.items()
    ]


@router.get("/status")
async def partner_status(hub: HubDep, database: DatabaseDep) -> StatusOut:
    """Each partner's state and its reasons (rules in status.py), counts, latency, secrets
    set (never values), what remains of its checklist, and events per hour over 24 h."""
    now = datetime.now(UTC)

    def work(connection: Connection) -> list[dict[str, Any]]:
        reports = diagnose(secrets=hub.secrets, engine=hub.engine)  # every partner in PARTNERS
        return [s.as_dict() for s in partner_statuses(connection, reports, now=now)]

    start = (now - timedelta(hours=23)).replace(minute=0, second=0, microsecond=0)
    hours = [(start + timedelta(hours=i)).strftime("%Y-%m-%dT%H:00Z") for i in range(24)]
    return StatusOut(generated_at=now, hours=hours, partners=await database.read(work))
