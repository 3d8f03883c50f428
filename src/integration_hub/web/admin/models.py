"""The admin API's request and response bodies (their names are the OpenAPI schema names)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from integration_hub.connectors.base import MAX_KEY_LENGTH
from integration_hub.storage import rows
from integration_hub.storage.rows import AnyRow
from integration_hub.web.validation import PARTNER_PATTERN, StorableText

Status = Literal["received", "processing", "processed", "ignored", "failed"]


class HandlerRunOut(BaseModel):
    handler: str
    workflow_id: str
    status: str
    attempts: int
    last_error: str | None = Field(
        description="The error of a failed run; for a `skipped` run, the reason it changed "
        "nothing (not an error)."
    )


class InternalEventOut(BaseModel):
    event: dict[str, Any] = Field(description="The CloudEvent as stored.")
    handlers: list[HandlerRunOut]


class RawEventSummary(BaseModel):
    partner: str
    partner_event_id: str
    type: str
    status: str
    attempts: int
    last_error: str | None
    received_at: datetime

    @classmethod
    def of(cls, row: AnyRow) -> RawEventSummary:
        return cls(
            partner=row.partner,
            partner_event_id=row.partner_event_id,
            type=row.event_type,
            status=row.status,
            attempts=row.attempts,
            last_error=row.last_error,
            received_at=rows.as_utc(row.received_at),
        )


class RawEventDetail(RawEventSummary):
    headers: dict[str, str]
    events: list[InternalEventOut]


class EventPage(BaseModel):
    items: list[RawEventSummary]
    next_cursor: str | None


class RawBodyOut(BaseModel):
    partner: str
    partner_event_id: str
    headers: dict[str, str]
    body: str = Field(description="The stored body; empty once purged by retention.")
    body_encoding: Literal["utf-8", "base64"]
    body_purged_at: datetime | None


class ReplayRequest(BaseModel):
    partner: str | None = Field(default=None, pattern=PARTNER_PATTERN)
    partner_event_id: StorableText | None = Field(
        default=None, min_length=1, max_length=MAX_KEY_LENGTH
    )
    status: Status | None = None


class ReplayResult(BaseModel):
    requeued: int


class LedgerEntryOut(BaseModel):
    event_id: str
    kind: str
    amount: int
    currency: str
    partner: str  # the payments partner whose event made the entry
    object_id: str  # that partner's own id of the payment, refund or payout
    account: str | None
    customer: str | None
    occurred_at: datetime
    created_at: datetime


class LedgerPage(BaseModel):
    items: list[LedgerEntryOut]
    next_cursor: str | None


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str
    role: str
    method: str
    route: str
    target: str
    client: str | None
    status: int


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None


class StatusOut(BaseModel):
    generated_at: datetime
    hours: list[str] = Field(description="UTC hour of each `hourly` value, oldest first.")
    partners: list[dict[str, Any]] = Field(description="status.PartnerStatus, one per partner.")


class ConnectorOut(BaseModel):
    name: str
    webhook_secret: str
    configured: bool
    event_map: dict[str, str]
