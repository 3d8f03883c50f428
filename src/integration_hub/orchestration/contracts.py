"""Contracts: applies a contracts partner's contract.* events to the `contracts` table.

An event finds its contract by the envelope id, or by the hub's contract id the envelope
carries (Connect may report `sent` before the send workflow recorded the envelope). Partners
deliver events in any order and more than once: a status is taken only from an event newer
than the one that set the stored status (of the same time: only one further on), and never
over completed, declined or voided, which are final. A completed contract holds for its template's
`valid_days` from completion (stored on the row when it was made); `signed_contract` answers
whether a subject (a cleaner) holds one now. A recipient's signature changes no status: the
envelope completes when every signer has signed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from integration_hub.orchestration.outcomes import HandlerOutcome, Skipped
from integration_hub.storage import contracts as stored
from integration_hub.storage.contracts import signed_contract as signed_contract

CONTRACT_EVENT_TYPES = frozenset(
    {
        "contract.sent",
        "contract.viewed",
        "contract.completed",
        "contract.declined",
        "contract.voided",
        "contract.recipient_signed",
    }
)


def apply_event(connection: Connection, event: dict[str, Any]) -> HandlerOutcome:
    data, partner = event["data"], event["partner"]
    envelope_id = data["envelope_id"]
    contract = stored.find_for_event(
        connection, provider=partner, envelope_id=envelope_id, contract_id=data["contract_id"]
    )
    if contract is None:
        return Skipped(f"no contract has {partner} envelope {envelope_id}")
    contract_id = contract["id"]
    if event["type"] == "contract.recipient_signed":
        return f"contract {contract_id}: recipient {data['recipient_id']} signed"
    when = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    status = data["status"]
    days = contract["valid_days"]
    expires_at = when + timedelta(days=days) if status == "completed" and days else None
    changed = stored.set_status(
        connection,
        contract_id=contract_id,
        envelope_id=envelope_id,
        status=status,
        when=when,
        reason=data["reason"],
        expires_at=expires_at,
    )
    if not changed:
        return Skipped(f"contract {contract_id}: a newer status is kept")
    until = f" until {expires_at.date().isoformat()}" if expires_at else ""
    return f"contract {contract_id}: {status}{until}"
