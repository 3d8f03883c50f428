"""Google Maps Platform, calls out only: cached Geocoding, Directions and Distance Matrix.

`calls.GoogleMapsCalls` (activities), `workflows` (one per call, and the cache purge),
`cache` (at most 30 days, as the terms require), `client` (the official client with its own
retries off), `quota` (daily usage, its warning and the Maps metrics), `schedule` (the
daily purge).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from integration_hub.connectors.google_maps.calls import KEY_NAME, GoogleMapsCalls
from integration_hub.connectors.google_maps.schedule import ensure_purge_schedule
from integration_hub.connectors.google_maps.settings import MapsSettings
from integration_hub.connectors.google_maps.workflows import MAPS_WORKFLOWS
from integration_hub.connectors.partner import Partner, Secret

if TYPE_CHECKING:
    import typer


def _cli() -> typer.Typer:
    """`hub maps ...`, imported only when the CLI is built (the worker never needs typer)."""
    from integration_hub.connectors.google_maps.cli import maps_app

    return maps_app()


PARTNER = Partner(
    name="google_maps",
    priority="P0",
    summary="Routing: cached geocoding, directions and distance matrix out; daily cache purge.",
    capabilities=frozenset({"routing"}),
    secrets=(Secret(KEY_NAME, format=r"AIza[0-9A-Za-z_-]{35}"),),
    # HUB_MAPS_* are the partner's own settings, read when a worker or command builds the calls.
    calls=lambda context: GoogleMapsCalls(MapsSettings(), context.secrets, context.engine),
    workflows=MAPS_WORKFLOWS,
    schedules=(ensure_purge_schedule,),
    cli_name="maps",
    cli=_cli,
)
