"""cleaners: the registry of cleaners, their payout accounts and those accounts' readiness.
The rules (which event wins, what `payable` means) are the cleaners handler's
(orchestration/cleaners.py); a cleaner's phone is also its messaging contact (contacts.py)."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, or_, select, update
from sqlalchemy.exc import IntegrityError

from integration_hub.errors import HubError
from integration_hub.storage import contacts
from integration_hub.storage.rows import as_utc, utcnow
from integration_hub.storage.tables import MAX_REQUIREMENTS, cleaners


class CleanerExists(HubError):
    """A cleaner with this phone number is registered already."""

    retryable = False


# Never shown: the onboarding pages' token is checked by `onboarding_cleaner` alone.
_PRIVATE = ("onboarding_token_sha256", "onboarding_expires_at")


def _out(row: Any) -> dict[str, Any]:
    cleaner = {k: v for k, v in row._mapping.items() if k not in _PRIVATE}
    for name in ("readiness_at", "created_at", "updated_at"):
        if cleaner[name] is not None:
            cleaner[name] = as_utc(cleaner[name])
    return cleaner


def payable(cleaner: Mapping[str, Any]) -> bool:
    """Whether payouts may be planned to this cleaner now (the rule: orchestration/cleaners.py)."""
    return bool(
        cleaner["payout_account_id"]
        and cleaner["payouts_enabled"]
        and not cleaner["disabled_reason"]
    )


def add_cleaner(connection: Connection, *, name: str, phone: str, language: str) -> dict[str, Any]:
    """Register a cleaner (a new id) and make sure its phone is a messaging contact."""
    now = utcnow()
    values = {
        "id": f"cln_{uuid.uuid4().hex}",
        "name": name,
        "phone": phone,
        "language": language,
        "charges_enabled": False,
        "payouts_enabled": False,
        "requirements_due": [],
        "created_at": now,
        "updated_at": now,
    }
    try:
        with connection.begin_nested():  # a duplicate phone leaves the transaction usable
            connection.execute(cleaners.insert().values(values))
    except IntegrityError:
        raise CleanerExists(f"a cleaner with phone {phone} is registered already") from None
    contacts.ensure_contact(connection, phone=phone, locale=language)
    cleaner = get_cleaner(connection, cleaner_id=str(values["id"]))
    assert cleaner is not None  # inserted just above, in this transaction
    return cleaner


def get_cleaner(connection: Connection, *, cleaner_id: str) -> dict[str, Any] | None:
    row = connection.execute(select(cleaners).where(cleaners.c.id == cleaner_id)).first()
    return None if row is None else _out(row)


def cleaner_by_phone(connection: Connection, *, phone: str) -> dict[str, Any] | None:
    row = connection.execute(select(cleaners).where(cleaners.c.phone == phone)).first()
    return None if row is None else _out(row)


def list_cleaners(
    connection: Connection, *, limit: int, after_id: str | None = None
) -> list[dict[str, Any]]:
    """Cleaners ordered by id, `limit` at most, after `after_id` (the previous page's last)."""
    query = select(cleaners).order_by(cleaners.c.id).limit(limit)
    if after_id is not None:
        query = query.where(cleaners.c.id > after_id)
    return [_out(row) for row in connection.execute(query).all()]


def set_payout_account(
    connection: Connection, *, cleaner_id: str, partner: str, account_id: str
) -> bool:
    """Link the cleaner to its payout account unless it holds another one already; returns
    whether it now holds `account_id` (False: a different account, or no such cleaner)."""
    connection.execute(
        update(cleaners)
        .where(cleaners.c.id == cleaner_id, cleaners.c.payout_account_id.is_(None))
        .values(payout_partner=partner, payout_account_id=account_id, updated_at=utcnow())
    )
    cleaner = get_cleaner(connection, cleaner_id=cleaner_id)
    return cleaner is not None and (cleaner["payout_partner"], cleaner["payout_account_id"]) == (
        partner,
        account_id,
    )


def update_readiness(
    connection: Connection,
    *,
    partner: str,
    account_id: str,
    when: datetime,
    charges_enabled: bool,
    payouts_enabled: bool,
    disabled_reason: str | None,
    requirements_due: Sequence[str],
) -> int:
    """Set the readiness of the cleaners paid through this account, unless they hold a state
    from a later event; returns how many rows changed (0: no such cleaner, or newer kept)."""
    result = connection.execute(
        update(cleaners)
        .where(
            cleaners.c.payout_partner == partner,
            cleaners.c.payout_account_id == account_id,
            or_(cleaners.c.readiness_at.is_(None), cleaners.c.readiness_at <= when),
        )
        .values(
            charges_enabled=charges_enabled,
            payouts_enabled=payouts_enabled,
            disabled_reason=disabled_reason,
            requirements_due=list(requirements_due)[:MAX_REQUIREMENTS],
            readiness_at=when,
            updated_at=utcnow(),
        )
    )
    return int(result.rowcount)


def has_payout_account(connection: Connection, *, partner: str, account_id: str) -> bool:
    row = connection.execute(
        select(cleaners.c.id).where(
            cleaners.c.payout_partner == partner, cleaners.c.payout_account_id == account_id
        )
    ).first()
    return row is not None


def _token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def set_onboarding_token(
    connection: Connection, *, cleaner_id: str, token: str, lifetime: timedelta
) -> None:
    """Make `token` the one that opens the cleaner's onboarding pages until `lifetime` from
    now (a new token replaces the previous one: only the newest link works)."""
    connection.execute(
        update(cleaners)
        .where(cleaners.c.id == cleaner_id)
        .values(
            onboarding_token_sha256=_token_sha256(token),
            onboarding_expires_at=utcnow() + lifetime,
            updated_at=utcnow(),
        )
    )


def onboarding_cleaner(
    connection: Connection, *, cleaner_id: str, token: str
) -> dict[str, Any] | None:
    """The cleaner whose current, unexpired onboarding token `token` is; None otherwise."""
    row = connection.execute(select(cleaners).where(cleaners.c.id == cleaner_id)).first()
    if row is None or row.onboarding_token_sha256 is None or row.onboarding_expires_at is None:
        return None
    if not hmac.compare_digest(row.onboarding_token_sha256, _token_sha256(token)):
        return None
    if as_utc(row.onboarding_expires_at) <= utcnow():
        return None
    return _out(row)
