"""Replay: put stored deliveries back in front of the normalizer (operators; audited).

One event by its id, or every event a filter selects. The rows are marked in one transaction
and the normalizer is woken, so the replay starts without waiting for its next poll."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

from fastapi import Request

from integration_hub.storage import raw_events
from integration_hub.web.admin.deps import OPERATOR, DatabaseDep, HubDep, api_router
from integration_hub.web.admin.events import unknown_event
from integration_hub.web.admin.models import ReplayRequest, ReplayResult
from integration_hub.web.audit import add_audit_detail

# Registers the `:event_id` path convertor the routes below are declared with.
from integration_hub.web.event_ids import EventIdConvertor as EventIdConvertor
from integration_hub.web.validation import EventIdSegment, PartnerSegment

router = api_router(*OPERATOR)


@router.post(
    "/events/{partner}/{partner_event_id:event_id}/replay",
    responses={404: {"description": "unknown event or purged body"}},
)
async def replay_event(
    hub: HubDep, database: DatabaseDep, partner: PartnerSegment, partner_event_id: EventIdSegment
) -> ReplayResult:
    count = await database.write(
        lambda c: raw_events.request_replay(c, partner=partner, partner_event_id=partner_event_id)
    )
    if count == 0:
        raise unknown_event(partner, partner_event_id)
    hub.normalizer.wake.set()
    return ReplayResult(requeued=count)


@router.post("/replay")
async def replay(
    request: ReplayRequest, http: Request, hub: HubDep, database: DatabaseDep
) -> ReplayResult:
    add_audit_detail(http, request.model_dump_json(exclude_none=True))
    count = await database.write(lambda c: raw_events.request_replay(c, **request.model_dump()))
    hub.normalizer.wake.set()
    return ReplayResult(requeued=count)
