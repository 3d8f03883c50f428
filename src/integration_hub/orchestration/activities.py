"""The handler activities: one class built once with the database engine, the handlers it
runs and their context. `apply_handler` runs the handler its input names."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DataError, IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from integration_hub import metrics
from integration_hub.errors import HubError
from integration_hub.orchestration.handlers import Handler, HandlerContext, checked
from integration_hub.orchestration.outcomes import (
    HandlerInput,
    HandlerOutcome,
    OutcomeInput,
    Skipped,
)
from integration_hub.storage import handler_runs, internal_events
from integration_hub.storage.engine import begin_write
from integration_hub.storage.refusals import describe_refusal
from integration_hub.storage.tables import RawStatus

log = structlog.get_logger(__name__)


class HandlerActivities:
    def __init__(
        self, engine: Engine, handlers: Iterable[Handler], context: HandlerContext
    ) -> None:
        self._engine = engine
        self._handlers = {handler.name: handler for handler in checked(handlers)}
        self._context = context

    @activity.defn
    def apply_handler(self, input: HandlerInput) -> str:
        """Do the named handler's write and mark its run completed (or skipped), in one
        transaction. Every line logged meanwhile carries the event's partner, ids and workflow id.

        A write the database refuses for what it holds (a value that does not fit a column, a
        constraint) fails the same way on every attempt, as does a handler's own refusal (a
        HubError that is not retryable): non-retryable, so the run fails at once with the error
        kept (the dead-letter) instead of retrying until it gives up."""
        with _event_log_context(input.event_id):
            handler = self._handlers.get(input.handler)
            if handler is None:  # a run left from a handler since removed
                raise ApplicationError(
                    f"no handler named {input.handler!r}",
                    type="unknown_handler",
                    non_retryable=True,
                )
            try:
                with begin_write(self._engine) as connection:
                    event = internal_events.get_internal_event(connection, event_id=input.event_id)
                    if event is None:
                        raise ApplicationError(
                            f"internal event {input.event_id} does not exist", non_retryable=True
                        )
                    with structlog.contextvars.bound_contextvars(
                        partner=event.get("partner"), partner_event_id=event.get("partnereventid")
                    ):
                        outcome = _apply(handler, connection, event, self._context)
                        skipped = outcome.reason if isinstance(outcome, Skipped) else None
                        raw = handler_runs.record_handler_outcome(
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
    def record_handler_outcome(self, input: OutcomeInput) -> None:
        """Record a run's final state (the failure path; success is recorded with its work)."""
        with _event_log_context(input.event_id), begin_write(self._engine) as connection:
            raw = handler_runs.record_handler_outcome(
                connection, event_id=input.event_id, handler=input.handler, error=input.error
            )
            if input.error:
                log.warning("handler_failed", handler=input.handler, error=input.error)
        status = "failed" if input.error else "completed"
        metrics.HANDLER_OUTCOMES.labels(input.handler, status).inc()
        _observe_processed(raw)


def _apply(
    handler: Handler, connection: Connection, event: dict[str, Any], context: HandlerContext
) -> HandlerOutcome:
    """The handler's apply; its refusal (a HubError retries cannot fix) fails the run at once
    with the error's reason as its type."""
    try:
        return handler.apply(connection, event, context)
    except HubError as err:
        if err.retryable:
            raise
        raise ApplicationError(err.detail, type=err.reason, non_retryable=True) from err


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


def _observe_processed(raw: handler_runs.RawOutcome) -> None:
    """Receipt to processed: observed once the run just recorded made its raw event processed."""
    if raw.status is RawStatus.PROCESSED:
        elapsed = (datetime.now(UTC) - raw.received_at).total_seconds()
        metrics.RECEIPT_TO_PROCESSED.labels(raw.partner).observe(max(elapsed, 0.0))
