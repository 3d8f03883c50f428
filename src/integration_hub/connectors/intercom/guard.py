"""What an Intercom activity made, recorded before the next call: Intercom takes no
idempotency key, so each thing a retried activity must not make twice (an escalation's
contact, its conversation, each message) is a row of `outbound_messages` (the guard the
SendGrid and Twilio sends use), keyed by the hub's own ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Claim:
    state: str  # new | sending | sent | failed | unknown (before this attempt)
    made: str | None  # what was recorded (Intercom's id)
    first_at: datetime  # when the record was first made
    last_at: datetime  # when it last changed: the last attempt's start or lost outcome
    attempts: int


class Recorder:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    def claim(self, key: str, phone: str, operation: str) -> Claim:
        """The record under `key`; a new or failed record is marked `sending` for this
        attempt."""
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
        return Claim(
            state,
            record["partner_message_id"],
            as_utc(record["created_at"]),
            as_utc(record["updated_at"]),
            int(record["attempts"]),
        )

    def again(self, key: str, claim: Claim) -> None:
        """A record whose lost attempt made nothing: marked `sending` for a new attempt (its
        `updated_at`, the time a later search lag counts from, is now)."""
        with begin_write(self._engine) as connection:
            outbound_messages.update_outbound_message(
                connection,
                message_id=key,
                state="sending",
                attempts=claim.attempts + 1,
                last_error="not found after the search lag: made again",
            )

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
        goes on. After an attempt whose outcome was lost, `recover(first_at)` looks for what
        any attempt made since the record was first made. While the last attempt is younger
        than `search_lag` a miss is looked for again later (the search may not show it yet);
        after that a miss means the attempt made nothing (a 5xx of an outage), so `make()`
        runs again. Without `recover` (a message: posting it twice is worse than an operator
        completing the escalation) a lost outcome fails the activity for good."""
        claim = self.claim(key, phone, operation)
        if claim.state == "sent":
            return claim.made or ""
        if claim.state in ("sending", "unknown"):
            if recover is None:
                raise ApplicationError(
                    f"{key}: an earlier attempt's outcome is unknown; not making it again",
                    type=f"{NAME}.outcome_unknown",
                    non_retryable=True,
                )
            found = recover(claim.first_at)
            if found is not None:
                self.settle(key, "sent", found, note="found after a lost answer")
                return found
            if self._clock() - claim.last_at.timestamp() < search_lag.total_seconds():
                raise ApplicationError(
                    f"{key}: an earlier attempt's outcome is unknown; looking again later",
                    type=f"{NAME}.outcome_pending",
                    next_retry_delay=RECOVER_AGAIN_AFTER,
                )
            self.again(key, claim)
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
