"""The support conversation workflow's writes (support_conversation.py): the row goes open
with the inbox's ids, follows a moved inbox conversation, fails, or goes idle; each a
compare-and-set in storage/support.py, so a retried activity changes nothing twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Engine
from temporalio import activity

from integration_hub.metrics import SUPPORT_ESCALATIONS
from integration_hub.storage import contact_tags as tag_rows
from integration_hub.storage import dialect
from integration_hub.storage import support as rows
from integration_hub.storage.engine import begin_write

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class OpenedRecord:
    conversation_id: str
    provider: str
    phone: str
    provider_conversation_id: str
    provider_contact_id: str


@dataclass(frozen=True)
class MovedRecord:
    conversation_id: str
    provider: str
    old: str  # the inbox's conversation id the row had
    new: str  # the one the inbox answered with (it re-made a conversation it lost)


@dataclass(frozen=True)
class FailedRecord:
    conversation_id: str
    provider: str
    error: str
    opening: bool  # the open failed (the row fails) or a later message (the error is kept)


@dataclass(frozen=True)
class IdleRecord:
    conversation_id: str
    cutoff: str  # ISO 8601: a row whose last_message_at is newer had activity since the wait began
    phone: str | None = None  # the row's (None from a run started before it was carried)


@dataclass(frozen=True)
class IdleOutcome:
    idled: bool
    active: bool  # the row is still opening or open (not idled: a newer message is coming)


class SupportActivities:
    """The conversation workflow's writes; built once per worker with the engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def activities(self) -> list[Any]:
        return [self.record_opened, self.record_moved, self.record_failed, self.record_idle]

    @activity.defn(name="support_record_opened")
    def record_opened(self, input: OpenedRecord) -> bool:
        with begin_write(self._engine) as connection:
            tag_rows.remember_contact(
                connection, provider=input.provider, phone=input.phone,
                provider_contact_id=input.provider_contact_id,
            )  # fmt: skip
            opened = rows.mark_open(
                connection,
                conversation_id=input.conversation_id,
                provider_conversation_id=input.provider_conversation_id,
                provider_contact_id=input.provider_contact_id,
            )
        if opened:
            SUPPORT_ESCALATIONS.labels(input.provider, "opened").inc()
            log.info("support_conversation_opened", conversation_id=input.conversation_id,
                     provider=input.provider)  # fmt: skip
        return opened

    @activity.defn(name="support_record_moved")
    def record_moved(self, input: MovedRecord) -> bool:
        with begin_write(self._engine) as connection:
            moved = rows.move_conversation(
                connection, conversation_id=input.conversation_id,
                old=input.old, new=input.new,
            )  # fmt: skip
        if moved:
            log.info("support_conversation_moved", conversation_id=input.conversation_id,
                     provider=input.provider)  # fmt: skip
        return moved

    @activity.defn(name="support_record_failed")
    def record_failed(self, input: FailedRecord) -> bool:
        with begin_write(self._engine) as connection:
            if not input.opening:
                return rows.set_error(
                    connection, conversation_id=input.conversation_id, error=input.error
                )
            failed = rows.mark_failed(
                connection, conversation_id=input.conversation_id, error=input.error
            )
        if failed:
            SUPPORT_ESCALATIONS.labels(input.provider, "failed").inc()
            log.warning("support_conversation_failed", conversation_id=input.conversation_id,
                        provider=input.provider, error=input.error)  # fmt: skip
        return failed

    @activity.defn(name="support_record_idle")
    def record_idle(self, input: IdleRecord) -> IdleOutcome:
        with begin_write(self._engine) as connection:
            phone = input.phone or rows.phone_of(connection, conversation_id=input.conversation_id)
            if phone is not None:
                # The escalation handler's lock: a message it is queueing to this row either
                # commits first (its last_message_at keeps the row active) or finds it idle.
                dialect.serialize_on(connection, key=rows.phone_lock(phone))
            idled = rows.mark_idle(
                connection, conversation_id=input.conversation_id,
                cutoff=datetime.fromisoformat(input.cutoff),
            )  # fmt: skip
            found = rows.get_conversation(connection, conversation_id=input.conversation_id)
        active = found is not None and found["status"] in rows.ACTIVE
        return IdleOutcome(idled=idled, active=active)
