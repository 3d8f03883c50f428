"""`hub poll <partner> <source>`: run one of a partner's poll sources now, on the workers.

The run is the scheduled one's workflow (orchestration/polls.py): it stores pages from the
stored cursor, with the same dedup and retries, and a worker (`hub serve` or `hub worker`)
on HUB_TASK_QUEUE runs it. The command waits and prints what the run stored.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Annotated

import typer

from integration_hub.cli.common import connect_temporal, print_json, settings, temporal_address


def poll(
    partner: str,
    source: str,
    instance: Annotated[
        str, typer.Option(help="Which instance of the source (a realm, a feed); default the one.")
    ] = "",
    connection: Annotated[
        str, typer.Option(help="The PMS connection, for a source polled per connection.")
    ] = "",
) -> None:
    """Fetch a partner's poll source now, from its stored cursor, and store what is new."""
    from temporalio.client import WorkflowFailureError

    from integration_hub.connectors.partners import PARTNERS
    from integration_hub.orchestration.polls import PollInput, run_poll

    declared = {(p.name, s.name) for p in PARTNERS for s in p.polls}
    per_connection = {(p.name, s.name) for p in PARTNERS for s in p.polls if s.per_connection}
    if connection and instance and connection != instance:
        typer.echo("--connection and --instance name the same thing: give one", err=True)
        raise typer.Exit(2)
    instance = connection or instance
    if (partner, source) in per_connection and not instance:
        typer.echo(f"{partner} {source} is polled per connection: give --connection", err=True)
        raise typer.Exit(2)
    if (partner, source) not in declared:
        known = ", ".join(f"{p} {s}" for p, s in sorted(declared)) or "none"
        typer.echo(f"no poll source {partner!r} {source!r} (declared: {known})", err=True)
        raise typer.Exit(2)
    if instance:  # it names a workflow id, a header and a column: the same rule as secrets
        from integration_hub.secrets.instances import InvalidInstance, check_instance

        try:
            check_instance(instance)
        except InvalidInstance as refusal:
            typer.echo(f"--instance: {refusal.detail}", err=True)
            raise typer.Exit(2) from None
    configured = settings()
    temporal_address(configured)  # exit 2 before connecting when it is not set

    async def main() -> dict[str, object]:
        client = await connect_temporal(configured)
        result = await run_poll(client, configured.task_queue, PollInput(partner, source, instance))
        return dataclasses.asdict(result)

    try:
        print_json(asyncio.run(main()))
    except WorkflowFailureError as failure:
        cause = failure.cause
        while cause.__cause__ is not None:  # the activity's own error, not the wrappers
            cause = cause.__cause__
        typer.echo(f"the poll failed: {cause}", err=True)
        raise typer.Exit(1) from None
