"""What an Intercom activity made, recorded before the next call: Intercom takes no
idempotency key, so each thing a retried activity must not make twice (an escalation's
contact, its conversation, each message) is a row of `outbound_messages` (the guard the
SendGrid and Twilio sends use), keyed by the hub's own ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.intercom.api import NoAnswer
from integration_hub.connectors.outbound import refuse
from integration_hub.storage import outbound_messages
from integration_hub.storage.engine import begin_write
from integration_hub.storage.rows import as_utc

NAME = "intercom"
CHANNEL = "support"  # outbound_messages.channel of what this module records
# While a search may still miss what a lost attempt made (Intercom's index lags minutes), a
# recovery that finds nothing is tried again this long after, instead of failing for good.
RECOVER_AGAIN_AFTER = timedelta(seconds=60)


class Recorder:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    def claim(self, key: str, phone: str, operation: str) -> tuple[str, str | None, datetime]:
        """(state, what was recorded, when the record was first made) under `key`; a new or
        failed record is marked `sending` for this attempt."""
        with begin_write(self._engine) as connection:
            record = outbound_messages.claim_outbound_message(
                connection, message_id=key, partner=NAME, channel=CHANNEL, to_address=phone
            )
            if record["to_address"] != phone or record["channel"] != CHANNEL:
                raise refuse(NAME, operation, f"{key} was made for another contact")
            state = str(record["state"])
            if state not in ("sent", "sending", "unknown"):
                outbound_messages.update_outbound_message(
                    connection, message_id=key, state="sending", attempts=record["attempts"] + 1
                )
        return state, record["partner_message_id"], as_utc(record["created_at"])

    def settle(
        self, key: str, state: str, made: str | None = None, note: str | None = None
    ) -> None:
        with begin_write(self._engine) as connection:
            outbound_messages.update_outbound_message(
                connection, message_id=key, state=state, partner_message_id=made, last_error=note
            )

    def once(
        self,
        key: str,
        phone: str,
        operation: str,
        make: Callable[[], str],
        recover: Callable[[datetime], str | None] | None = None,
        search_lag: timedelta = timedelta(0),
    ) -> str:
        """`make()` at most once for `key` across attempts, its id recorded before the activity
        goes on. After an attempt whose outcome was lost, `recover(claimed_at)` looks for what
        it made since the record was first made; while the record is younger than
        `search_lag` a miss is retried later (the search may not show it yet), after that (or
        without `recover`) the activity fails for good."""
        state, recorded, claimed_at = self.claim(key, phone, operation)
        if state == "sent":
            return recorded or ""
        if state in ("sending", "unknown"):
            found = recover(claimed_at) if recover is not None else None
            age = self._clock() - claimed_at.timestamp()
            if found is None and recover is not None and age < search_lag.total_seconds():
                raise ApplicationError(
                    f"{key}: an earlier attempt's outcome is unknown; looking again later",
                    type=f"{NAME}.outcome_pending",
                    next_retry_delay=RECOVER_AGAIN_AFTER,
                )
            if found is None:
                raise ApplicationError(
                    f"{key}: an earlier attempt's outcome is unknown; not making it again",
                    type=f"{NAME}.outcome_unknown",
                    non_retryable=True,
                )
            self.settle(key, "sent", found, note="found after a lost answer")
            return found
        try:
            made = make()
        except NoAnswer as lost:
            self.settle(key, "unknown", note="no answer")
            raise lost.error from None
        except Exception as failed:  # Intercom answered with an error: nothing was made
            self.settle(key, "failed", note=type(failed).__name__)
            raise
        self.settle(key, "sent", made)
        return made
