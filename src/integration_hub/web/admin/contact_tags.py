"""A contact's tags (operators; audited): read them, add one, remove one.

Tags set here (source `hub`, e.g. "vip", "property-manager") are pushed to the support inbox's
contact: each change writes the `contact_tags` row and queues `support.sync_tags/{change}`
through the outbox in one transaction (orchestration/support_tags.py), so a change is pushed
once it is committed, and never when it is not (the push sends the contact's hub tags as they
are when it runs). Tags the inbox sent are listed too (source
`inbox`). Refusals (422): `bad_phone` (not E.164), `bad_tag` (nothing usable, or longer than
64 once normalized), `support_not_configured` (no inbox to push to), `too_many_tags`
(the contact has 50, or 20 set here: the push's cap, support_inbox.MAX_TAGS). The phone is never logged: audit entries name the route.
"""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

import uuid
from datetime import datetime
from typing import Any

import structlog
from fastapi import HTTPException
from pydantic import BaseModel, Field

from integration_hub.connectors.partners import provider_for
from integration_hub.connectors.support_inbox import MAX_TAGS
from integration_hub.connectors.text import E164
from integration_hub.errors import UnknownPartner
from integration_hub.orchestration.outbox import Outbox
from integration_hub.orchestration.support_tags import TagSync, queue_tag_sync, tag_contact
from integration_hub.runtime import Hub
from integration_hub.storage import cleaners, contacts
from integration_hub.storage import contact_tags as tag_rows
from integration_hub.storage.tables import MAX_CONTACT_TAGS
from integration_hub.web.admin.deps import OPERATOR, DatabaseDep, HubDep, api_router

log = structlog.get_logger(__name__)
router = api_router()


class ContactTagOut(BaseModel):
    tag: str
    source: str = Field(description="hub (set here, pushed to the inbox) or inbox (mirrored).")
    provider: str | None
    added_at: datetime


class ContactTagsOut(BaseModel):
    phone: str
    tags: list[ContactTagOut]
    workflow_id: str | None = Field(
        default=None, description="The queued push to the inbox; null when nothing changed."
    )


def _refused(status: int, error: str, detail: str) -> HTTPException:
    return HTTPException(status, detail={"error": error, "detail": detail})


def _phone(phone: str) -> str:
    if len(phone) > 16 or not E164.fullmatch(phone):
        raise _refused(422, "bad_phone", "the phone must be E.164, e.g. +13055550123")
    return phone


def _tag(raw: str) -> str:
    tag = tag_rows.normalize_tag(raw)
    if tag is None:
        raise _refused(422, "bad_tag", "a tag is 1 to 64 of a-z, 0-9, '.', '_' or '-'")
    return tag


def _inbox(hub: Hub) -> str:
    try:
        partner = provider_for("support", hub.settings.support_provider)
    except UnknownPartner as error:
        raise _refused(422, "support_not_configured", error.detail) from None
    if partner is None:
        raise _refused(422, "support_not_configured", "set HUB_SUPPORT_PROVIDER")
    return partner.name


def _name(connection: Any, phone: str) -> str | None:
    cleaner = cleaners.cleaner_by_phone(connection, phone=phone)
    if cleaner is not None:
        return str(cleaner["name"])
    contact = contacts.get_contact(connection, phone=phone)
    return None if contact is None else contact["profile_name"]


def _out(connection: Any, phone: str, workflow_id: str | None = None) -> ContactTagsOut:
    tags = [ContactTagOut(**t) for t in tag_rows.tags_of(connection, phone=phone)]
    return ContactTagsOut(phone=phone, tags=tags, workflow_id=workflow_id)


@router.get("/contacts/{phone}/tags", dependencies=OPERATOR)  # personal data: operators
async def list_tags(phone: str, database: DatabaseDep) -> ContactTagsOut:
    checked = _phone(phone)
    return await database.read(lambda c: _out(c, checked))


@router.put("/contacts/{phone}/tags/{tag}", dependencies=OPERATOR)
async def add_tag(phone: str, tag: str, hub: HubDep, database: DatabaseDep) -> ContactTagsOut:
    """Tag the contact in the hub and push the tag to the inbox's contact."""
    checked, name = _phone(phone), _tag(tag)
    provider = _inbox(hub)

    def write(connection: Any) -> ContactTagsOut:
        held = {t["tag"] for t in tag_rows.tags_of(connection, phone=checked)}
        if name in held:
            return _out(connection, checked)
        if tag_rows.tag_count(connection, phone=checked) >= MAX_CONTACT_TAGS:
            raise _refused(422, "too_many_tags", f"a contact holds at most {MAX_CONTACT_TAGS}")
        # The push sends at most MAX_TAGS hub tags: one past it would never reach the inbox.
        hub_tags = [t for t in tag_rows.tags_of(connection, phone=checked)
                    if t["source"] == tag_rows.TagSource.HUB]  # fmt: skip
        if len(hub_tags) >= MAX_TAGS:
            raise _refused(422, "too_many_tags", f"a contact holds at most {MAX_TAGS} hub tags")
        queued = tag_contact(connection, Outbox(), phone=checked, tag=name, provider=provider,
                             name=_name(connection, checked))  # fmt: skip
        return _out(connection, checked, queued)

    answer = await database.write(write)
    log.info("contact_tag_added", tag=name, provider=provider, queued=bool(answer.workflow_id))
    return answer


@router.delete("/contacts/{phone}/tags/{tag}", dependencies=OPERATOR)
async def remove_tag(phone: str, tag: str, hub: HubDep, database: DatabaseDep) -> ContactTagsOut:
    """Remove the tag in the hub and from the inbox's contact."""
    checked, name = _phone(phone), _tag(tag)
    provider = _inbox(hub)

    def write(connection: Any) -> ContactTagsOut | None:
        if not tag_rows.remove_tag(connection, phone=checked, tag=name):
            return None
        sync = TagSync(provider, checked, _name(connection, checked), remove=(name,))
        queued = queue_tag_sync(connection, Outbox(), sync=sync, change_id=uuid.uuid4().hex)
        return _out(connection, checked, queued)

    answer = await database.write(write)
    if answer is None:
        raise _refused(404, "not_found", "the contact has no such tag")
    log.info("contact_tag_removed", tag=name, provider=provider)
    return answer
