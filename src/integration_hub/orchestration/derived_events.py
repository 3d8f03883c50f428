"""Internal events a handler derives from the one it handles (reservation.* from pms.*).

A derived event is stored like a normalized one, in the handler's own transaction: an
`internal_events` row (the cause's raw event, validated against its schema) and a pending
`handler_runs` row per handler of its type, which the dispatcher starts as for any event. Its
id is derived from the cause's id, the deriving handler and its position, so a replayed cause
derives the same ids and a run retried after a crash adds nothing (insert-or-ignore).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select

from integration_hub import events as cloudevents
from integration_hub.connectors.base import InternalEventDraft
from integration_hub.errors import HubError
from integration_hub.storage import dialect
from integration_hub.storage.rows import utcnow
from integration_hub.storage.tables import (
    HandlerStatus,
    RawStatus,
    handler_runs,
    internal_events,
    raw_events,
)

# The partner name of what the hub itself derives (and of an admin's operation's raw event).
ADMIN_PARTNER = "hub"
# Derived events sit after the cause's own positions (a raw event normalizes to few events).
POSITION_OFFSET = 1000


class UnknownCause(HubError):
    reason = "unknown_cause"


def emit(
    connection: Connection,
    *,
    cause: dict[str, Any],
    handler: str,
    drafts: Sequence[InternalEventDraft],
    handler_names: Callable[[str], Sequence[str]],
) -> list[dict[str, Any]]:
    """Store `drafts` as internal events caused by `cause` (the CloudEvent `handler` is
    applying) with their handler runs; returns the CloudEvents (new or already stored).

    `handler_names` is handlers.py's `handler_names_for`, passed in by the handler's
    declaration: handlers.py imports the handler modules that call this one, so this module
    importing it would be an import cycle (lint-imports' acyclic contract)."""
    if not drafts:
        return []
    raw_event_id = connection.execute(
        select(internal_events.c.raw_event_id).where(internal_events.c.id == cause["id"])
    ).scalar_one_or_none()
    if raw_event_id is None:
        raise UnknownCause(f"the event {cause['id']} is not stored")
    return _store(connection, raw_event_id, f"{cause['id']}/{handler}", drafts, handler_names)


def emit_admin(
    connection: Connection,
    *,
    action: str,
    detail: Mapping[str, Any],
    drafts: Sequence[InternalEventDraft],
    handler_names: Callable[[str], Sequence[str]],
) -> list[dict[str, Any]]:
    """Store `drafts` an admin's operation derived (a listing linked: stays merged or moved).
    Their cause is a raw event of partner "hub", type `admin.<action>`, a fresh id and `detail`
    (ids only, never personal data) as its body, processed already: what the events hang on
    and what an operator finds when asking why they happened."""
    if not drafts:
        return []
    now = utcnow()
    partner_event_id = f"admin/{uuid.uuid4()}"
    raw_event_id = connection.execute(
        insert(raw_events)
        .values(
            partner=ADMIN_PARTNER, partner_event_id=partner_event_id,
            event_type=f"admin.{action}", received_at=now, headers={},
            body=orjson.dumps(dict(detail)), status=RawStatus.PROCESSED.value, attempts=0,
            updated_at=now,
        )
        .returning(raw_events.c.id)
    ).scalar_one()  # fmt: skip
    return _store(connection, raw_event_id, partner_event_id, drafts, handler_names)


def _store(
    connection: Connection,
    raw_event_id: int,
    partner_event_id: str,
    drafts: Sequence[InternalEventDraft],
    handler_names: Callable[[str], Sequence[str]],
) -> list[dict[str, Any]]:
    now = utcnow()
    built, event_rows, run_rows = [], [], []
    for index, draft in enumerate(drafts):
        event = cloudevents.build_event(
            partner=ADMIN_PARTNER, partner_event_id=partner_event_id, index=index, draft=draft
        )
        cloudevents.validate_event(event)
        built.append(event)
        event_rows.append(
            {
                "id": event["id"],
                "raw_event_id": raw_event_id,
                "position": POSITION_OFFSET + index,
                "type": event["type"],
                "subject": event["subject"],
                "envelope": event,
                "created_at": now,
            }
        )
        for name in handler_names(event["type"]):
            run_rows.append(
                {
                    "event_id": event["id"],
                    "handler": name,
                    # As the normalizer names a run (pipeline/normalizer.py `workflow_id`).
                    "workflow_id": f"{name}/{event['id']}",
                    "status": HandlerStatus.PENDING.value,
                    "attempts": 0,
                    "updated_at": now,
                }
            )
    connection.execute(
        dialect.insert_or_ignore(connection, internal_events, key=["id"]), event_rows
    )
    if run_rows:
        connection.execute(
            dialect.insert_or_ignore(connection, handler_runs, key=["event_id", "handler"]),
            run_rows,
        )
    return built
