"""Activities: methods of a class built once with the database engine."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import structlog
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DataError, IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from integration_hub import metrics
from integration_hub.orchestration import contacts, identity, ledger
from integration_hub.orchestration.outcomes import HandlerOutcome, Skipped
from integration_hub.storage import repo
from integration_hub.storage.engine import begin_write
from integration_hub.storage.refusals import describe_refusal
from integration_hub.storage.tables import RawStatus

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class HandlerInput:
    event_id: str
    handler: str


@dataclass(frozen=True)
class OutcomeInput:
    event_id: str
    handler: str
    error: str | None


class HandlerActivities:
    def __init__(
        self, engine: Engine, *, identity_clock_skew: timedelta = identity.DEFAULT_CLOCK_SKEW
    ) -> None:
        self._engine = engine
        self._identity_clock_skew = identity_clock_skew

    def _complete(
        self, input: HandlerInput, work: Callable[[Connection, dict[str, Any]], HandlerOutcome]
    ) -> str:
        """Do a handler's write and mark its run completed (or skipped), in one transaction.
        Every line logged meanwhile carries the event's partner, ids and workflow id.

        A write the database refuses for what it holds (a value that does not fit a column, a
        constraint) fails the same way on every attempt: it is non-retryable, so the run fails
        at once with the error kept (the dead-letter) instead of retrying until it gives up."""
        with _event_log_context(input.event_id):
            try:
                with begin_write(self._engine) as connection:
                    event = repo.get_internal_event(connection, event_id=input.event_id)
                    if event is None:
                        raise ApplicationError(
                            f"internal event {input.event_id} does not exist", non_retryable=True
                        )
                    with structlog.contextvars.bound_contextvars(
                        partner=event.get("partner"), partner_event_id=event.get("partnereventid")
                    ):
                        outcome = work(connection, event)
                        skipped = outcome.reason if isinstance(outcome, Skipped) else None
                        raw = repo.record_handler_outcome(
                            connection,
                            event_id=input.event_id,
                            handler=input.handler,
                            error=None,
                            skipped=skipped,
                        )
                        if skipped is not None:
                            log.info("handler_skipped", handler=input.handler, reason=skipped)
                            detail = f"skipped: {skipped}"
                        else:
                            detail = str(outcome)
                            log.debug("handler_completed", handler=input.handler, detail=detail)
            except (DataError, IntegrityError) as refused:
                reason = _refusal_text(refused)
                log.warning("handler_write_refused", handler=input.handler, error=reason)
                raise ApplicationError(
                    reason, type="handler_write_refused", non_retryable=True
                ) from None
        metrics.HANDLER_OUTCOMES.labels(input.handler, "skipped" if skipped else "completed").inc()
        _observe_processed(raw)
        return detail

    @activity.defn
    def post_ledger_entry(self, input: HandlerInput) -> str:
        return self._complete(input, _post_ledger_entry)

    @activity.defn
    def apply_identity_event(self, input: HandlerInput) -> str:
        """Update the users-and-roles mirror."""
        return self._complete(
            input, partial(_apply_identity_event, clock_skew=self._identity_clock_skew)
        )

    @activity.defn
    def apply_contact_event(self, input: HandlerInput) -> str:
        """Update the messaging contacts and their consent history."""
        return self._complete(input, contacts.apply_event)

    @activity.defn
    def record_handler_outcome(self, input: OutcomeInput) -> None:
        """Record a run's final state (the failure path; success is recorded with its work)."""
        with _event_log_context(input.event_id), begin_write(self._engine) as connection:
            raw = repo.record_handler_outcome(
                connection, event_id=input.event_id, handler=input.handler, error=input.error
            )
            if input.error:
                log.warning("handler_failed", handler=input.handler, error=input.error)
        status = "failed" if input.error else "completed"
        metrics.HANDLER_OUTCOMES.labels(input.handler, status).inc()
        _observe_processed(raw)


def _event_log_context(event_id: str) -> AbstractContextManager[None]:
    """Bind the internal event id and, inside an activity, its workflow id (the trace id comes
    from the current span, see `logs.add_trace_context`)."""
    workflow_id = activity.info().workflow_id if activity.in_activity() else None
    return structlog.contextvars.bound_contextvars(event_id=event_id, workflow_id=workflow_id)


def _refusal_text(refused: DataError | IntegrityError) -> str:
    """What the database said, never a value: `describe_refusal` blanks the quoted text where
    drivers echo values ("invalid input syntax ...: \"...\"") and leaves out the statement."""
    kind = "data_error" if isinstance(refused, DataError) else "integrity_error"
    return f"the database refused the handler's write ({kind}): {describe_refusal(refused)}"


def _observe_processed(raw: repo.RawOutcome) -> None:
    """Receipt to processed: observed once the run just recorded made its raw event processed."""
    if raw.status is RawStatus.PROCESSED:
        elapsed = (datetime.now(UTC) - raw.received_at).total_seconds()
        metrics.RECEIPT_TO_PROCESSED.labels(raw.partner).observe(max(elapsed, 0.0))


def _apply_identity_event(
    connection: Connection, event: dict[str, Any], *, clock_skew: timedelta
) -> HandlerOutcome:
    try:
        return identity.apply_event(connection, event, clock_skew=clock_skew)
    except identity.IdentityRejected as err:
        raise ApplicationError(err.detail, type=err.reason, non_retryable=True) from err


def _post_ledger_entry(connection: Connection, event: dict[str, Any]) -> str:
    try:
        entry = ledger.entry_for(connection, event)
    except ledger.LedgerRejected as err:
        raise ApplicationError(err.detail, type=err.reason, non_retryable=True) from err
    created = repo.post_ledger_entry(connection, entry=entry)
    posted = f"{entry['kind']} {entry['amount']} {entry['currency']}"
    return posted if created else f"{posted} (already posted)"
