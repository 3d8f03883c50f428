"""What a handler's work may return besides its detail text."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Skipped:
    """The handler deliberately changed nothing (e.g. an update older than the stored row).

    The run is recorded as `skipped` with `reason` kept in its `last_error`, counted under the
    `skipped` label of hub_handler_outcomes_total, and its raw event still reaches `processed`.
    """

    reason: str


HandlerOutcome = str | Skipped
