"""`hub stripe sync-catalog`: the services' products and prices, created or reconciled.

Called directly (no Temporal): an operator runs it once per change of the catalog, reads its
output and reruns it on a failure; every create is keyed, so a rerun makes nothing twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def sync_catalog(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="A JSON catalog: {currency, items: [{key, name, amount (cents), description}]}."
            " Default: turnover cleaning, same-day surcharge, deep clean.",
        ),
    ] = None,
) -> None:
    """Create or reconcile the services' products and prices in Stripe (idempotent)."""
    from temporalio.exceptions import ApplicationError

    from integration_hub.connectors.stripe.calls import DEFAULT_API_BASE, StripeCalls
    from integration_hub.connectors.stripe.catalog import CatalogError, load_catalog
    from integration_hub.connectors.stripe.catalog import sync_catalog as sync
    from integration_hub.connectors.stripe.settings import StripeSettings
    from integration_hub.secrets import open_secret_source
    from integration_hub.settings import Settings  # when the command runs, not at `--help`

    try:
        catalog = load_catalog(config)
    except CatalogError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    settings = Settings()
    calls = StripeCalls(
        open_secret_source(settings),
        env=settings.env,
        api_base=StripeSettings().api_base_url or DEFAULT_API_BASE,
    )
    try:
        done = sync(calls, catalog)
    except ApplicationError as error:
        typer.echo(f"sync-catalog failed: {error.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        calls.close()
    typer.echo(json.dumps(done, indent=2))


def stripe_app() -> typer.Typer:
    """The sub-app `hub stripe`, built when the CLI is (the declaration imports this lazily)."""
    app = typer.Typer(help="Stripe: the services' catalog.", no_args_is_help=True)
    app.command("sync-catalog")(sync_catalog)
    return app
