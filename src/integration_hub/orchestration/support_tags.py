"""Hub-side contact tags pushed to the support inbox: `support.sync_tags/{change}`.

The admin API (web/admin/contact_tags.py) writes the tag and queues this workflow's start
through the outbox in one transaction (`queue_tag_sync`); the workflow runs the inbox's
`sync_tags` activity by the agreed name (connectors/support_inbox.py), which finds or creates
the inbox contact and makes the tags present or absent, then records the inbox's contact id,
so the inbox's later events about that contact map back to the phone. Tags the inbox sent
(source `inbox`) are never pushed back: only an operator's change starts this. The workflow id
names the change only: ids reach logs, the admin API and Temporal's UI, and a phone is
personal data (it travels in the input).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine
from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from integration_hub.connectors.outbound import CALL_RETRY, CALL_TIMEOUT
    from integration_hub.connectors.support_inbox import (
        ContactTagsRequest,
        InboxContact,
        support_activity,
    )
    from integration_hub.orchestration.outbox import Outbox
    from integration_hub.storage import contact_tags as tag_rows
    from integration_hub.storage import contacts
    from integration_hub.storage.engine import begin_write
    from integration_hub.storage.tables import MAX_CONTACT_TAGS

WORKFLOW = "support.sync_tags"
RECORD_TIMEOUT = timedelta(seconds=30)


def workflow_id(change_id: str) -> str:
    return f"{WORKFLOW}/{change_id}"


@dataclass(frozen=True)
class TagSync:
    provider: str
    phone: str
    name: str | None = None
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContactRecord:
    provider: str
    provider_contact_id: str
    phone: str


class TagSyncActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def activities(self) -> list[Any]:
        return [self.record_contact]

    @activity.defn(name="support_record_contact")
    def record_contact(self, input: ContactRecord) -> None:
        with begin_write(self._engine) as connection:
            tag_rows.remember_contact(
                connection, provider=input.provider, phone=input.phone,
                provider_contact_id=input.provider_contact_id,
            )  # fmt: skip


@workflow.defn(name=WORKFLOW)
class TagSyncWorkflow:
    @workflow.run
    async def run(self, sync: TagSync) -> str:
        contact: InboxContact = await workflow.execute_activity(
            support_activity(sync.provider, "sync_tags"),
            ContactTagsRequest(phone=sync.phone, name=sync.name, add=sync.add, remove=sync.remove),
            result_type=InboxContact,
            start_to_close_timeout=CALL_TIMEOUT,
            retry_policy=CALL_RETRY,
        )
        await workflow.execute_activity_method(
            TagSyncActivities.record_contact,
            ContactRecord(sync.provider, contact.provider_contact_id, sync.phone),
            start_to_close_timeout=RECORD_TIMEOUT,
        )
        return contact.provider_contact_id


def queue_tag_sync(connection: Connection, outbox: Outbox, *, sync: TagSync, change_id: str) -> str:
    """Queue the push of one tag change in the caller's transaction; the workflow id."""
    started = workflow_id(change_id)
    outbox.start(connection, workflow=WORKFLOW, workflow_id=started, dedup=change_id, input=sync)
    return started


def tag_contact(
    connection: Connection,
    outbox: Outbox,
    *,
    phone: str,
    tag: str,
    name: str | None,
    provider: str | None,
    locale: str = "en",
) -> str | None:
    """Give the contact a hub tag (normalized already) and, with an inbox, queue its push; the
    push's workflow id, None when the contact had the tag, holds MAX_CONTACT_TAGS already, or
    no inbox is configured."""
    contacts.ensure_contact(connection, phone=phone, locale=locale)
    if tag_rows.tag_count(connection, phone=phone) >= MAX_CONTACT_TAGS:
        return None
    if not tag_rows.add_tag(connection, phone=phone, tag=tag, source=tag_rows.TagSource.HUB,
                        provider=provider):  # fmt: skip
        return None
    if provider is None:
        return None
    sync = TagSync(provider, phone, name, add=(tag,))
    return queue_tag_sync(connection, outbox, sync=sync, change_id=uuid.uuid4().hex)
