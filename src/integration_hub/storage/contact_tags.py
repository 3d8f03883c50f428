"""contact_tags and support_contacts: a contact's tags (set in the hub or mirrored from the
support inbox) and the inbox's contact ids the hub learned. Who may add what is the callers'
(orchestration/support.py, support_tags.py, web/admin/contact_tags.py)."""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, delete, func, select

from integration_hub.storage import dialect
from integration_hub.storage.rows import as_utc, utcnow
from integration_hub.storage.tables import (
    MAX_CONTACT_TAGS,
    MAX_TAG_LENGTH,
    contact_tags,
    support_contacts,
)

_TAG_DROPPED = re.compile(r"[^a-z0-9._-]")
_TAG_SPACES = re.compile(r"\s+")


class TagSource(StrEnum):
    HUB = "hub"  # set in the hub: pushed to the inbox
    INBOX = "inbox"  # mirrored from the inbox: never pushed back


def normalize_tag(raw: str) -> str | None:
    """`raw` stripped, lower-cased, accents dropped, spaces as "-", only [a-z0-9._-]; None when
    nothing is left or it is longer than MAX_TAG_LENGTH (no silent truncation: two long tags
    must not collapse into one)."""
    if len(raw) > 4 * MAX_TAG_LENGTH:  # bounded before any work
        return None
    folded = unicodedata.normalize("NFKD", raw.strip().casefold())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    tag = _TAG_DROPPED.sub("", _TAG_SPACES.sub("-", folded))
    return tag if tag and len(tag) <= MAX_TAG_LENGTH else None


def tags_of(connection: Connection, *, phone: str) -> list[dict[str, Any]]:
    """A contact's tags, by name (MAX_CONTACT_TAGS at most)."""
    rows = connection.execute(
        select(contact_tags)
        .where(contact_tags.c.phone == phone)
        .order_by(contact_tags.c.tag)
        .limit(MAX_CONTACT_TAGS)
    ).all()
    return [{**r._mapping, "added_at": as_utc(r.added_at)} for r in rows]


def tag_count(connection: Connection, *, phone: str) -> int:
    counted = select(func.count()).select_from(contact_tags).where(contact_tags.c.phone == phone)
    return int(connection.execute(counted).scalar_one())


def add_tag(
    connection: Connection, *, phone: str, tag: str, source: TagSource, provider: str | None
) -> bool:
    """Add a normalized tag unless the contact has it (from either source); False then."""
    values = {"phone": phone, "tag": tag, "source": source.value, "provider": provider,
              "added_at": utcnow()}  # fmt: skip
    statement = dialect.insert_or_ignore(
        connection, contact_tags, key=["phone", "tag"], values=values
    ).returning(contact_tags.c.tag)
    return connection.execute(statement).first() is not None


def remove_tag(connection: Connection, *, phone: str, tag: str) -> bool:
    result = connection.execute(
        delete(contact_tags).where(contact_tags.c.phone == phone, contact_tags.c.tag == tag)
    )
    return bool(result.rowcount)


def remember_contact(
    connection: Connection, *, provider: str, provider_contact_id: str, phone: str
) -> None:
    """The inbox's contact id of a phone (the newest phone wins)."""
    values = {"provider": provider, "provider_contact_id": provider_contact_id, "phone": phone,
              "updated_at": utcnow()}  # fmt: skip
    connection.execute(
        dialect.upsert(
            connection,
            support_contacts,
            key=["provider", "provider_contact_id"],
            values=values,
            changes=lambda new: {"phone": new.phone, "updated_at": new.updated_at},
        )
    )


def phone_of_contact(
    connection: Connection, *, provider: str, provider_contact_id: str
) -> str | None:
    found = connection.execute(
        select(support_contacts.c.phone).where(
            support_contacts.c.provider == provider,
            support_contacts.c.provider_contact_id == provider_contact_id,
        )
    ).scalar_one_or_none()
    return None if found is None else str(found)


def contact_of_phone(connection: Connection, *, provider: str, phone: str) -> str | None:
    """The inbox contact id the hub learned last for a phone, None when it knows none."""
    found = connection.execute(
        select(support_contacts.c.provider_contact_id)
        .where(support_contacts.c.provider == provider, support_contacts.c.phone == phone)
        .order_by(support_contacts.c.updated_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    return None if found is None else str(found)
