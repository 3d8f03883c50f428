"""contracts: B2B contracts sent for signature, their envelopes and status. The rules (which
event wins, when a contract holds) are the contracts handler's (orchestration/contracts.py);
`signed_contract` is the question later features ask ("may this cleaner receive jobs?")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select, update

from integration_hub.storage.rows import as_utc, utcnow
from integration_hub.storage.tables import contracts

SUBJECT_REF_PATTERN = r"^[a-z][a-z_]{0,31}:[A-Za-z0-9_.-]{1,95}$"  # e.g. cleaner:cln_<hex>
CONTRACT_ID_PATTERN = r"^ctr_[0-9a-f]{32}$"
STATUSES = ("created", "sent", "delivered", "completed", "declined", "voided")
# An envelope that completed, was declined or was voided never changes again: no event, however
# late or reordered, moves such a contract. Among events of the same time the further status
# wins (a tie never moves a contract back).
FINAL_STATUSES = ("completed", "declined", "voided")
_RANK = {"created": 0, "sent": 1, "delivered": 2, "completed": 3, "declined": 3, "voided": 3}
_TIMES = ("sent_at", "completed_at", "expires_at", "status_at", "created_at", "updated_at")


def cleaner_ref(cleaner_id: str) -> str:
    """The subject_ref of a cleaner's contracts."""
    return f"cleaner:{cleaner_id}"


def _out(row: Any) -> dict[str, Any]:
    contract = dict(row._mapping)
    for name in _TIMES:
        if contract[name] is not None:
            contract[name] = as_utc(contract[name])
    return contract


def create_contract(
    connection: Connection,
    *,
    subject_ref: str,
    template: str,
    language: str,
    signer_name: str,
    signer_email: str,
    provider: str,
    valid_days: int | None,
) -> dict[str, Any]:
    """A new contract (a new id), not sent yet."""
    now = utcnow()
    contract_id = f"ctr_{uuid.uuid4().hex}"
    connection.execute(
        contracts.insert().values(
            id=contract_id,
            subject_ref=subject_ref,
            template=template,
            language=language,
            signer_name=signer_name,
            signer_email=signer_email,
            provider=provider,
            status="created",
            valid_days=valid_days,
            created_at=now,
            updated_at=now,
        )
    )
    created = get_contract(connection, contract_id=contract_id)
    assert created is not None  # inserted just above, in this transaction
    return created


def get_contract(connection: Connection, *, contract_id: str) -> dict[str, Any] | None:
    row = connection.execute(select(contracts).where(contracts.c.id == contract_id)).first()
    return None if row is None else _out(row)


def list_contracts(connection: Connection, *, subject_ref: str, limit: int) -> list[dict[str, Any]]:
    """The subject's contracts, newest first, `limit` at most."""
    query = (
        select(contracts)
        .where(contracts.c.subject_ref == subject_ref)
        .order_by(contracts.c.created_at.desc(), contracts.c.id)
        .limit(limit)
    )
    return [_out(row) for row in connection.execute(query).all()]


def find_for_event(
    connection: Connection, *, provider: str, envelope_id: str, contract_id: str | None
) -> dict[str, Any] | None:
    """The contract an envelope's event is about: by envelope id, else by the contract id the
    envelope carries (an event may arrive before the send recorded the envelope)."""
    by_envelope = and_(contracts.c.provider == provider, contracts.c.envelope_id == envelope_id)
    row = connection.execute(select(contracts).where(by_envelope)).first()
    if row is None and contract_id is not None:
        unrecorded = and_(
            contracts.c.id == contract_id,
            contracts.c.provider == provider,
            contracts.c.envelope_id.is_(None),
        )
        row = connection.execute(select(contracts).where(unrecorded)).first()
    return None if row is None else _out(row)


def set_status(
    connection: Connection,
    *,
    contract_id: str,
    envelope_id: str,
    status: str,
    when: datetime,
    reason: str | None = None,
    completed_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> bool:
    """Take `status` as of `when` unless the contract holds one from a later event, one from an
    event of the same time that is further on, a final one (FINAL_STATUSES), or belongs to
    another envelope; returns whether it did (the same event again is taken again, unchanged).
    The envelope is recorded if it was not."""
    if status not in STATUSES:
        raise ValueError(f"unknown contract status {status!r}")
    values: dict[str, Any] = {
        "status": status,
        "status_at": when,
        "envelope_id": func.coalesce(contracts.c.envelope_id, envelope_id),
        "updated_at": utcnow(),
    }
    if status != "created":
        values["sent_at"] = func.coalesce(contracts.c.sent_at, when)
    if status in ("declined", "voided"):
        values["reason"] = reason
    if status == "completed":
        values |= {"completed_at": completed_at or when, "expires_at": expires_at}
    result = connection.execute(
        update(contracts)
        .where(
            contracts.c.id == contract_id,
            or_(contracts.c.envelope_id.is_(None), contracts.c.envelope_id == envelope_id),
            or_(
                and_(
                    contracts.c.status.not_in(FINAL_STATUSES),
                    or_(
                        contracts.c.status_at.is_(None),
                        contracts.c.status_at < when,
                        and_(contracts.c.status_at == when, _rank() <= _RANK[status]),
                    ),
                ),
                and_(contracts.c.status == status, contracts.c.status_at == when),  # a replay
            ),
        )
        .values(values)
    )
    return bool(result.rowcount)


def _rank() -> Any:
    """The stored status's rank (_RANK) as a SQL expression."""
    return case(_RANK, value=contracts.c.status, else_=0)


def record_envelope(
    connection: Connection, *, contract_id: str, envelope_id: str, sent_at: datetime
) -> bool:
    """Record the envelope a send made on its contract: the contract becomes `sent` only if it
    is still `created`; one an event already moved on keeps its status and only gains the
    envelope id (and a sent time if it had none). False when the contract is unknown or holds
    another envelope."""
    still_created = contracts.c.status == "created"
    result = connection.execute(
        update(contracts)
        .where(
            contracts.c.id == contract_id,
            or_(contracts.c.envelope_id.is_(None), contracts.c.envelope_id == envelope_id),
        )
        .values(
            envelope_id=func.coalesce(contracts.c.envelope_id, envelope_id),
            sent_at=func.coalesce(contracts.c.sent_at, sent_at),
            status=case((still_created, "sent"), else_=contracts.c.status),
            status_at=case((still_created, sent_at), else_=contracts.c.status_at),
            updated_at=utcnow(),
        )
    )
    return bool(result.rowcount)


def signed_contract(
    connection: Connection, *, subject_ref: str, now: datetime, template: str | None = None
) -> dict[str, Any] | None:
    """The subject's signed contract that holds at `now` (completed, not expired), the most
    recently completed one; None when there is none. A cleaner needs one to receive jobs."""
    query = select(contracts).where(
        contracts.c.subject_ref == subject_ref,
        contracts.c.status == "completed",
        or_(contracts.c.expires_at.is_(None), contracts.c.expires_at > now),
    )
    if template is not None:
        query = query.where(contracts.c.template == template)
    row = connection.execute(query.order_by(contracts.c.completed_at.desc()).limit(1)).first()
    return None if row is None else _out(row)
