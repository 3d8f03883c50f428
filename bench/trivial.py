"""The reference workflow for the handler benchmark: does nothing, so it measures Temporal."""

from __future__ import annotations

from temporalio import workflow


@workflow.defn(name="bench-trivial")
class TrivialWorkflow:
    @workflow.run
    async def run(self, value: str) -> str:
        return value
