"""Google Maps Platform, calls out only: cached Geocoding, Directions and Distance Matrix.

`calls.GoogleMapsCalls` (activities), `workflows` (one per call, and the cache purge),
`cache` (at most 30 days, as the terms require), `client` (the official client with its own
retries off), `quota` (daily usage, its warning and the Maps metrics), `schedule` (the
daily purge).

The declaration is static and cheap: the factories import the client library and the modules
that use it only when the composition root calls them (`hub --help` reads every declaration).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from integration_hub.connectors.partner import CallsContext, Partner, Secret

if TYPE_CHECKING:
    import typer
    from temporalio.client import Client

    from integration_hub.connectors.outbound import PartnerCalls

KEY_NAME = "GOOGLE_MAPS_API_KEY"


def _calls(context: CallsContext) -> PartnerCalls:
    from integration_hub.connectors.google_maps.calls import GoogleMapsCalls
    from integration_hub.connectors.google_maps.settings import MapsSettings

    # HUB_MAPS_* are the partner's own settings, read when a worker or command builds the calls.
    return GoogleMapsCalls(MapsSettings(), context.secrets, context.engine)


def _workflows() -> tuple[type, ...]:
    from integration_hub.connectors.google_maps.workflows import MAPS_WORKFLOWS

    return MAPS_WORKFLOWS


async def _purge_schedule(client: Client, task_queue: str) -> str:
    from integration_hub.connectors.google_maps.schedule import ensure_purge_schedule

    return await ensure_purge_schedule(client, task_queue)


def _cli() -> typer.Typer:
    """`hub maps ...`, imported only when the CLI is built (the worker never needs typer)."""
    from integration_hub.connectors.google_maps.cli import maps_app

    return maps_app()


PARTNER = Partner(
    name="google_maps",
    priority="P0",
    summary="Routing: cached geocoding, directions and distance matrix out; daily cache purge.",
    capabilities=frozenset({"routing"}),
    secrets=(
        Secret(
            KEY_NAME,
            format=r"AIza[0-9A-Za-z_-]{35}",
            source=(
                "Google Cloud Console > APIs & Services > Credentials > Create credentials > "
                "API key; enable and restrict it to Geocoding, Directions and Distance Matrix"
            ),
        ),
    ),
    calls=_calls,
    workflows=_workflows,
    schedules=(_purge_schedule,),
    cli_name="maps",
    cli=_cli,
)
