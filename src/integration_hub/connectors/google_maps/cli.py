"""`hub maps`: cached geocoding and the cache purge, called directly (no Temporal), and the
daily purge's Temporal Schedule."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import Annotated

import typer


def _print(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def geocode(
    address: Annotated[str, typer.Argument(help="A property address; '' with --place-id.")],
    place_id: Annotated[str | None, typer.Option(help="Geocode a kept place_id.")] = None,
) -> None:
    """Geocode through the cache (at most 30 days) and print the result and `from_cache`.

    Calls the geocode activity's own function directly, without Temporal (so no retries).
    """
    from temporalio.exceptions import ApplicationError

    from integration_hub.connectors.google_maps.calls import GeocodeInput
    from integration_hub.connectors.google_maps.local import local_calls
    from integration_hub.connectors.google_maps.settings import MapsSettings
    from integration_hub.settings import Settings  # when the command runs, not at `--help`

    with local_calls(Settings(), MapsSettings()) as calls:
        try:
            result = calls.geocode(GeocodeInput(address=address or None, place_id=place_id))
        except ApplicationError as error:
            typer.echo(f"geocode failed: {error.message}", err=True)
            raise typer.Exit(1) from None
    _print(asdict(result))


def purge() -> None:
    """Delete expired Maps cache rows now (what the daily purge workflow does)."""
    from integration_hub.connectors.google_maps.calls import PurgeInput
    from integration_hub.connectors.google_maps.local import local_calls
    from integration_hub.connectors.google_maps.settings import MapsSettings
    from integration_hub.settings import Settings  # when the command runs, not at `--help`

    with local_calls(Settings(), MapsSettings()) as calls:
        _print({"deleted": calls.purge_cache(PurgeInput()).deleted})


def schedule_purge() -> None:
    """Create or update the daily Temporal Schedule of the purge (needs HUB_TEMPORAL_ADDRESS)."""
    from temporalio.client import Client

    from integration_hub.connectors.google_maps.schedule import ensure_purge_schedule
    from integration_hub.settings import Settings

    settings = Settings()
    address = settings.temporal_address
    if not address:
        typer.echo("set HUB_TEMPORAL_ADDRESS to the cluster the workers use", err=True)
        raise typer.Exit(2)

    async def main() -> str:
        # A cluster out of reach is reported by `hub` itself, as for every sub-app.
        client = await Client.connect(address, namespace=settings.temporal_namespace)
        return await ensure_purge_schedule(client, settings.task_queue)

    _print({"schedule_id": asyncio.run(main())})


def maps_app() -> typer.Typer:
    """The sub-app `hub maps`, built when the CLI is (the declaration imports this lazily)."""
    app = typer.Typer(
        help="Google Maps calls out: cached geocoding and the cache purge.", no_args_is_help=True
    )
    app.command("geocode")(geocode)
    app.command("purge")(purge)
    app.command("schedule-purge")(schedule_purge)
    return app
