"""The one handler workflow: runs the handler its input names. Deterministic only: every side
effect is an activity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from integration_hub.orchestration.activities import HandlerActivities
    from integration_hub.orchestration.outcomes import HANDLER_WORKFLOW, HandlerInput, OutcomeInput

# Handler writes take milliseconds; a short timeout lets a killed worker's activity retry soon.
ACTIVITY_TIMEOUT = timedelta(seconds=10)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=12,
)


@dataclass(frozen=True)
class HandlerResult:
    event_id: str
    handler: str
    detail: str


async def _record_failure(input: HandlerInput, error: str) -> None:
    await workflow.execute_activity_method(
        HandlerActivities.record_handler_outcome,
        OutcomeInput(event_id=input.event_id, handler=input.handler, error=error),
        start_to_close_timeout=ACTIVITY_TIMEOUT,
        retry_policy=RETRY,
    )


@workflow.defn(name=HANDLER_WORKFLOW)
class HandlerWorkflow:
    """Runs one handler for one internal event (the input names both)."""

    @workflow.run
    async def run(self, input: HandlerInput) -> HandlerResult:
        """The handler's one local activity; on a failure retries cannot fix, record it and fail.

        A local activity: a short database write gains nothing from a round trip through the
        Temporal server per attempt, and the handler runs near the rate of an empty workflow.
        """
        try:
            detail = await workflow.execute_local_activity_method(
                HandlerActivities.apply_handler,
                input,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=RETRY,
            )
        except (ActivityError, ApplicationError) as err:
            # A remote activity's failure arrives as ActivityError(cause=...); a local one's
            # non-retryable ApplicationError can arrive as itself.
            cause = err.cause if isinstance(err, ActivityError) else err
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            await _record_failure(input, message)
            raise ApplicationError(message, type="HandlerFailed", non_retryable=True) from err
        return HandlerResult(event_id=input.event_id, handler=input.handler, detail=detail)
