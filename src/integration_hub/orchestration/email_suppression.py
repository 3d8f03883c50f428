"""The e-mail suppression list: applies email.* events from whichever provider sends.

A hard bounce, a complaint, an unsubscribe or the provider's own suppression puts the address
on the list at once (with why and when); soft bounces are counted and suppress the address when
they reach HUB_EMAIL_SOFT_BOUNCE_LIMIT. Each event is applied once (a replay counts nothing
twice); events arrive in any order, and an address keeps the earliest reason it was suppressed
for. Nothing here un-suppresses: that is an operator's decision. Sends read the list before any
request leaves (connectors/mail.py). The address is personal data: results name the event's
id, never the address.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from integration_hub.storage import email_suppressions as stored

EMAIL_SUPPRESSION_EVENT_TYPES = frozenset(
    {"email.bounced", "email.complained", "email.unsubscribed", "email.suppressed"}
)
REASONS = {
    "email.complained": "complaint",
    "email.unsubscribed": "unsubscribe",
    "email.suppressed": "provider",
}


def apply_event(connection: Connection, event: dict[str, Any], *, soft_bounce_limit: int) -> str:
    """Apply one email.* event; returns what happened (for the handler run's detail)."""
    data, event_type = event["data"], event["type"]
    when = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    address = data["recipient"]
    if not stored.record_event(
        connection, event_id=event["id"], address=address, event_type=event_type, occurred_at=when
    ):
        return f"{event_type} {event['id']}: already applied"
    if event_type == "email.bounced" and data["kind"] == "soft":
        count = stored.count_soft_bounce(connection, address=address)
        if count < soft_bounce_limit:
            return f"soft bounce {count} of {soft_bounce_limit}: not suppressed yet"
        reason = "soft_bounces"
    elif event_type == "email.bounced":
        reason = "hard_bounce"
    else:
        reason = REASONS[event_type]
    changed = stored.suppress(connection, address=address, reason=reason, since=when)
    return f"suppressed ({reason})" if changed else f"{reason}: suppressed already"
