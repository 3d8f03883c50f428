"""invitations: users invited through the auth provider. The rules (who may close what, when)
are orchestration/invitations.py's; these are the queries. An invitation is open while
`pending` (made here, not yet at the provider) or `sent` (the provider holds it); every close
is a compare-and-set from an open status, so an acceptance racing the expiry timer or a revoke
closes it once, whichever commits first."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from integration_hub.errors import HubError
from integration_hub.storage.rows import as_utc, utcnow
from integration_hub.storage.tables import invitations

MAX_REASON = 255


class InvitationStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    ACCEPTED = "accepted"
    EXPIRED = "expired"
    REVOKED = "revoked"
    FAILED = "failed"


OPEN: tuple[str, ...] = (InvitationStatus.PENDING, InvitationStatus.SENT)
CLOSED: tuple[str, ...] = tuple(s for s in InvitationStatus if s not in OPEN)


class InvitationOpen(HubError):
    """An open invitation for this e-mail at this provider exists already."""

    retryable = False
    reason = "invitation_open"

    def __init__(self, detail: str, *, invitation_id: str) -> None:
        super().__init__(detail)
        self.invitation_id = invitation_id


def _open_key(provider: str, email: str) -> str:
    return f"{provider}/{email}"


def _out(row: Any) -> dict[str, Any]:
    invitation = dict(row._mapping)
    invitation.pop("open_key", None)
    for name in ("created_at", "expires_at", "closed_at"):
        if invitation[name] is not None:
            invitation[name] = as_utc(invitation[name])
    return invitation


def create_invitation(
    connection: Connection,
    *,
    provider: str,
    email: str,
    role: str,
    invited_by: str,
    expires_at: datetime,
) -> dict[str, Any]:
    """A new pending invitation (a new id); `InvitationOpen` when one is open for the e-mail."""
    values = {
        "id": f"inv_{uuid.uuid4().hex}",
        "provider": provider,
        "email": email,
        "role": role,
        "status": InvitationStatus.PENDING.value,
        "open_key": _open_key(provider, email),
        "invited_by": invited_by,
        "created_at": utcnow(),
        "expires_at": expires_at,
    }
    try:
        with connection.begin_nested():  # a duplicate leaves the transaction usable
            connection.execute(invitations.insert().values(values))
    except IntegrityError:
        held = open_invitation(connection, provider=provider, email=email)
        raise InvitationOpen(
            "an invitation for this e-mail is open already",
            invitation_id=held["id"] if held else "",
        ) from None
    created = get_invitation(connection, invitation_id=str(values["id"]))
    assert created is not None  # inserted just above, in this transaction
    return created


def get_invitation(connection: Connection, *, invitation_id: str) -> dict[str, Any] | None:
    row = connection.execute(select(invitations).where(invitations.c.id == invitation_id)).first()
    return None if row is None else _out(row)


def open_invitation(connection: Connection, *, provider: str, email: str) -> dict[str, Any] | None:
    row = connection.execute(
        select(invitations).where(invitations.c.open_key == _open_key(provider, email))
    ).first()
    return None if row is None else _out(row)


def list_invitations(
    connection: Connection,
    *,
    limit: int,
    after_id: str | None = None,
    statuses: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Invitations oldest first (created_at, then id), `limit` at most, after the invitation
    `after_id` (the last of the previous page), of `statuses` (any)."""
    query = select(invitations).order_by(invitations.c.created_at, invitations.c.id).limit(limit)
    if after_id is not None:
        cursor = (
            select(invitations.c.created_at).where(invitations.c.id == after_id).scalar_subquery()
        )
        query = query.where(
            or_(
                invitations.c.created_at > cursor,
                and_(invitations.c.created_at == cursor, invitations.c.id > after_id),
            )
        )
    if statuses:
        query = query.where(invitations.c.status.in_(list(statuses)))
    return [_out(row) for row in connection.execute(query).all()]


def mark_sent(
    connection: Connection,
    *,
    invitation_id: str,
    provider_invitation_id: str,
    expires_at: datetime | None,
) -> bool:
    """pending -> sent with the provider's id; False when the invitation is no longer pending
    (closed meanwhile, or sent already). The hub's own expiry stays the one stored and shown:
    the provider's (`expires_at`, accepted for the callers' sake) only ever shortens the
    workflow's timer, never lengthens the hub's promise."""
    del expires_at
    values: dict[str, Any] = {
        "status": InvitationStatus.SENT.value,
        "provider_invitation_id": provider_invitation_id,
    }
    result = connection.execute(
        update(invitations)
        .where(
            invitations.c.id == invitation_id,
            invitations.c.status == InvitationStatus.PENDING.value,
        )
        .values(values)
    )
    return bool(result.rowcount)


def close_invitation(
    connection: Connection, *, invitation_id: str, status: InvitationStatus, reason: str
) -> bool:
    """An open invitation -> `status` (a closed one); False when it was closed already."""
    if status.value in OPEN:
        raise ValueError(f"{status} is not a closed status")
    result = connection.execute(
        update(invitations)
        .where(invitations.c.id == invitation_id, invitations.c.status.in_(OPEN))
        .values(
            status=status.value,
            open_key=None,
            closed_at=utcnow(),
            reason=reason[:MAX_REASON],
        )
    )
    return bool(result.rowcount)


REVOKE_FAILED = "revoke_failed"
# Closed by the hub, then revoked at the provider: a revoke the provider did not take turns
# these into `failed` (`revoke_failed`), never left looking revoked.
PROVIDER_REVOKED: tuple[str, ...] = (InvitationStatus.REVOKED, InvitationStatus.EXPIRED)


def status_of(connection: Connection, *, invitation_id: str) -> str | None:
    found = connection.execute(
        select(invitations.c.status).where(invitations.c.id == invitation_id)
    ).scalar_one_or_none()
    return None if found is None else str(found)


def mark_revoke_failed(connection: Connection, *, invitation_id: str, detail: str) -> bool:
    """revoked/expired -> failed with reason `revoke_failed: <detail>`: the provider may still
    honour it. False when it is in neither status (accepted meanwhile, say)."""
    result = connection.execute(
        update(invitations)
        .where(invitations.c.id == invitation_id, invitations.c.status.in_(PROVIDER_REVOKED))
        .values(
            status=InvitationStatus.FAILED.value,
            reason=f"{REVOKE_FAILED}: {detail}"[:MAX_REASON],
        )
    )
    return bool(result.rowcount)


def expire_overdue(connection: Connection, *, before: datetime, limit: int) -> list[str]:
    """Close as `expired` at most `limit` open invitations whose expiry is before `before`
    (their workflow is gone or stuck); their ids, oldest expiry first."""
    overdue = [
        str(i)
        for i in connection.execute(
            select(invitations.c.id)
            .where(invitations.c.status.in_(OPEN), invitations.c.expires_at < before)
            .order_by(invitations.c.expires_at, invitations.c.id)
            .limit(limit)
        ).scalars()
    ]
    return [
        i
        for i in overdue
        if close_invitation(
            connection,
            invitation_id=i,
            status=InvitationStatus.EXPIRED,
            reason="swept: open past its expiry (no workflow closed it)",
        )
    ]
