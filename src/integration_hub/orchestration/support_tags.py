"""Hub-side contact tags pushed to the support inbox: `support.sync_tags/{change}`.

The admin API (web/admin/contact_tags.py) writes the tag and queues this workflow's start
through the outbox in one transaction (`queue_tag_sync`). When the workflow runs it reads the
contact's CURRENT hub tags (`support_tags_to_push`), so pushes that run late or out of order
still leave the inbox with the hub's set: `add` is every hub tag the contact holds now,
`remove` the tags this change removed that the contact does not hold again. Then it runs the
inbox's `sync_tags` activity by the agreed name (connectors/support_inbox.py) with the inbox
contact the hub knows for the phone, and records the inbox's contact id, so the inbox's later
events about that contact map back to the phone. Tags the inbox sent (source `inbox`) are
never pushed back: only an operator's change starts this. The workflow id is the change's
random id: a phone never shows in a workflow id (logs, the Temporal UI, admin answers).
Two pushes of one contact running at the same moment can still cross (each reads, then
calls); the next change of that contact puts the inbox right.
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
        MAX_TAGS,
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
    remove: tuple[str, ...] = ()  # the tags this change removed (an added one is read at run)


@dataclass(frozen=True)
class TagPush:
    add: tuple[str, ...]
    remove: tuple[str, ...]
    provider_contact_id: str | None = None


@dataclass(frozen=True)
class ContactRecord:
    provider: str
    provider_contact_id: str
    phone: str


class TagSyncActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def activities(self) -> list[Any]:
        return [self.tags_to_push, self.record_contact]

    @activity.defn(name="support_tags_to_push")
    def tags_to_push(self, sync: TagSync) -> TagPush:
        """The contact's hub tags now (MAX_TAGS of them, by name: the inbox's bound), the
        removed ones it does not hold again, and the inbox contact known for the phone."""
        with self._engine.connect() as connection:
            held = tag_rows.tags_of(connection, phone=sync.phone)
            known = tag_rows.contact_of_phone(connection, provider=sync.provider, phone=sync.phone)
        names = {t["tag"] for t in held}
        add = [t["tag"] for t in held if t["source"] == tag_rows.TagSource.HUB][:MAX_TAGS]
        remove = [t for t in sync.remove if t not in names][:MAX_TAGS]
        return TagPush(tuple(add), tuple(remove), known)

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
        push: TagPush = await workflow.execute_activity_method(
            TagSyncActivities.tags_to_push, sync, start_to_close_timeout=RECORD_TIMEOUT
        )
        request = ContactTagsRequest(
            phone=sync.phone, name=sync.name, add=push.add, remove=push.remove,
            provider_contact_id=push.provider_contact_id,
        )  # fmt: skip
        contact: InboxContact = await workflow.execute_activity(
            support_activity(sync.provider, "sync_tags"),
            request,
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
    sync = TagSync(provider, phone, name)
    return queue_tag_sync(connection, outbox, sync=sync, change_id=uuid.uuid4().hex)
