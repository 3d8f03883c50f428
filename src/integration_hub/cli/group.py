"""The root `hub` command: an unreachable service becomes its one line (cli/errors.py)."""

from __future__ import annotations

from typing import Any

import typer

# typer 0.29 vendors click: its Context, which `invoke` receives, has no public name.
from typer import _click
from typer.core import TyperGroup

from integration_hub.cli.common import connect_database, settings
from integration_hub.cli.errors import Unreachable, temporal_unreachable


def explain(error: Exception) -> Unreachable | None:
    """The one line for an error a partner's sub-app let through, or None for a real failure.

    Core commands raise `Unreachable` themselves; sub-apps use the database and Temporal
    directly, so their errors are recognised here: a database error counts when the
    configured database refuses a fresh connection too, a Temporal error when the client
    failed to connect.
    """
    if isinstance(error, Unreachable):
        return error
    from sqlalchemy.exc import OperationalError

    try:
        configured = settings()
    except Exception:  # settings that do not load: not a reachability problem
        return None
    if isinstance(error, OperationalError):
        try:
            connect_database(configured.resolved_database_url()).dispose()
        except Unreachable as unreachable:
            return unreachable
        return None  # the database answers: the error is about something else
    if isinstance(error, RuntimeError) and str(error).startswith("Failed client connect"):
        return temporal_unreachable(configured.temporal_address or "HUB_TEMPORAL_ADDRESS")
    return None


class HubGroup(TyperGroup):
    """The `hub` command: turns an unreachable service into its one line (exit 2) unless the
    root callback was given `--debug`."""

    def invoke(self, ctx: _click.Context) -> Any:  # Any: what click's own invoke returns
        try:
            return super().invoke(ctx)
        except Exception as error:
            if ctx.params.get("debug"):
                raise
            unreachable = explain(error)
            if unreachable is None:
                raise
            typer.echo(str(unreachable), err=True)
            raise typer.Exit(2) from None
