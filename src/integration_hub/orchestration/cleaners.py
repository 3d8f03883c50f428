"""Cleaners' payout readiness: applies connected_account.updated events to the cleaner paid
through that account (matched by the event's partner and account id).

A cleaner is payable when its account can receive payouts and is not restricted: payouts
enabled and no `disabled_reason`. What is still due (`requirements_due`) is kept so an operator
sees what the cleaner must provide. Partners deliver account events in any order and more than
once: a state is taken only from an event at least as new as the one that set the stored one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from integration_hub.errors import HubError
from integration_hub.orchestration.outcomes import HandlerOutcome, Skipped
from integration_hub.storage import cleaners as stored
from integration_hub.storage.cleaners import payable as payable

CLEANER_EVENT_TYPES = frozenset({"connected_account.updated"})


class AccountNotRecordedYet(HubError):
    """The partner announced a cleaner's new account before onboarding stored it on the
    cleaner (its webhook can outrun the workflow's next activity): retried, not skipped, or
    the account's first state would be lost until its next event."""

    reason = "account_not_recorded_yet"
    retryable = True


def _cleaner_recording(connection: Connection, metadata: Mapping[str, Any]) -> str | None:
    """The cleaner an account's metadata names (onboarding sets `cleaner_id`) when that
    cleaner exists and holds no payout account yet; None otherwise (someone else's account)."""
    cleaner_id = metadata.get("cleaner_id")
    if not isinstance(cleaner_id, str):
        return None
    cleaner = stored.get_cleaner(connection, cleaner_id=cleaner_id)
    if cleaner is None or cleaner["payout_account_id"] is not None:
        return None
    return cleaner_id


def apply_event(connection: Connection, event: dict[str, Any]) -> HandlerOutcome:
    data, partner = event["data"], event["partner"]
    account = data["account"]
    when = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    if not stored.has_payout_account(connection, partner=partner, account_id=account):
        awaited = _cleaner_recording(connection, data.get("metadata") or {})
        if awaited is not None:
            raise AccountNotRecordedYet(
                f"{partner} account {account} of cleaner {awaited} is not recorded yet"
            )
        return Skipped(f"no cleaner is paid through {partner} account {account}")
    # Events stored before these fields existed carry neither: read as "nothing known".
    reason, due = data.get("disabled_reason"), data.get("requirements_due") or []
    changed = stored.update_readiness(
        connection,
        partner=partner,
        account_id=account,
        when=when,
        charges_enabled=bool(data["charges_enabled"]),
        payouts_enabled=bool(data["payouts_enabled"]),
        disabled_reason=reason,
        requirements_due=due,
    )
    if not changed:
        return Skipped(f"{partner} account {account}: a newer state is kept")
    ready = payable(
        {
            "payout_account_id": account,
            "payouts_enabled": data["payouts_enabled"],
            "disabled_reason": reason,
        }
    )
    state = "payable" if ready else f"not payable ({reason or 'payouts disabled'}, {len(due)} due)"
    return f"{partner} account {account}: {state}"
