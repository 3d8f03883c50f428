"""The steps after a conversation is open (its escalation id attribute, its tags): once the
open is recorded `sent` the conversation exists and the core must learn its id, so these steps
are best effort. A failure (the attribute not defined in the workspace, a tag refused, an
outage, running out of the activity's time) is logged, without personal data, and counted;
the activity still returns the conversation.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from prometheus_client import Counter
from temporalio.exceptions import ApplicationError

log = structlog.get_logger(__name__)

STEP_FAILURES = Counter(
    "hub_intercom_step_failures_total",
    "Best-effort steps after an Intercom conversation was opened that failed, by step "
    "(attribute, tag, out_of_time); the conversation was opened all the same.",
    ["step"],
)


def step_failed(step: str, reason: str) -> None:
    STEP_FAILURES.labels(step).inc()
    log.warning("intercom_step_failed", step=step, reason=reason)


def best_effort(step: str, action: Callable[[], object]) -> bool:
    """Run `action`; a failure is logged and counted, never raised. True when it succeeded."""
    try:
        action()
    except ApplicationError as failed:  # the error type only: the message may quote Intercom
        step_failed(step, failed.type or "ApplicationError")
        return False
    except Exception as failed:  # the open succeeded: nothing after it fails it
        step_failed(step, type(failed).__name__)
        return False
    return True
