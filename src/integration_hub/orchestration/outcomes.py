"""What a handler run takes and gives: the workflow type the outbox starts, its input, and
what a handler's work may return besides its detail text.

A leaf module (it imports nothing of the hub), so the dispatch outbox can start handler runs
without importing the handlers, the activities or, through them, any partner package.
"""

from __future__ import annotations

from dataclasses import dataclass

# The one workflow type every handler run is: its input names the handler (see workflows.py).
HANDLER_WORKFLOW = "handler"


@dataclass(frozen=True)
class HandlerInput:
    event_id: str
    handler: str


@dataclass(frozen=True)
class OutcomeInput:
    event_id: str
    handler: str
    error: str | None


@dataclass(frozen=True, slots=True)
class Skipped:
    """The handler deliberately changed nothing (e.g. an update older than the stored row).

    The run is recorded as `skipped` with `reason` kept in its `last_error`, counted under the
    `skipped` label of hub_handler_outcomes_total, and its raw event still reaches `processed`.
    """

    reason: str


HandlerOutcome = str | Skipped
