"""What the commands share: settings, JSON output, and reaching the hub, the database and
Temporal (each failure to reach one becomes `Unreachable`, printed as one line)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from integration_hub.cli.errors import (
    database_unreachable,
    hub_unreachable,
    temporal_unreachable,
)

# httpx and pydantic-settings are imported where a command runs: `hub --help` needs neither.
if TYPE_CHECKING:
    import httpx
    from sqlalchemy import Engine
    from temporalio.client import Client

    from integration_hub.settings import Settings

UrlOption = Annotated[str, typer.Option("--url", envvar="HUB_URL", help="Where the hub listens.")]
DEFAULT_URL = "http://127.0.0.1:8000"


def settings() -> Settings:
    """Read when a command runs, never at import (`hub --help` needs no configuration)."""
    from integration_hub.settings import Settings

    return Settings()


def print_json(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@contextlib.contextmanager
def admin_api(url: str) -> Iterator[httpx.Client]:
    """A client of the hub's admin API at `url`; exit 2 without an admin token."""
    token = settings().admin_token
    if token is None:
        typer.echo(
            "HUB_ADMIN_TOKEN is not set (run `hub init`, or export the token serve printed)",
            err=True,
        )
        raise typer.Exit(2)
    import httpx

    headers = {"Authorization": f"Bearer {token.get_secret_value()}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        try:
            yield client
        except httpx.TransportError as error:
            raise hub_unreachable(url, error) from error


def answer(response: httpx.Response) -> object:
    """The admin API's JSON answer; exit 1 with its status and body when it refused."""
    if response.is_error:
        typer.echo(f"{response.status_code}: {response.text}", err=True)
        raise typer.Exit(1)
    parsed: object = response.json()
    return parsed


def connect_database(url: str) -> Engine:
    """An engine on `url` that has answered once (`Unreachable` if it does not)."""
    from integration_hub.storage.engine import make_engine

    engine = make_engine(url)
    try:
        check_database(engine, url)
    except BaseException:
        engine.dispose()
        raise
    return engine


def check_database(engine: Engine, url: str) -> None:
    """Connect once, so that a database out of reach is one line before anything runs."""
    from sqlalchemy.exc import OperationalError

    try:
        with engine.connect():
            pass
    except OperationalError as error:
        raise database_unreachable(url) from error


def temporal_address(configured: Settings) -> str:
    """HUB_TEMPORAL_ADDRESS, or exit 2: schedules go to the cluster the workers use, never to
    a dev server of this process."""
    if not configured.temporal_address:
        typer.echo("set HUB_TEMPORAL_ADDRESS to the cluster the workers use", err=True)
        raise typer.Exit(2)
    return configured.temporal_address


async def connect_temporal(configured: Settings) -> Client:
    from temporalio.client import Client

    address = temporal_address(configured)
    # A plain TCP connect first: an address nobody listens on is told in milliseconds, and
    # the SDK's native runtime is never started for a command that only prints its one line
    # (a loaded machine once saw that runtime abort the process at exit after a refused
    # connect, instead of exit 2).
    host, _, port = address.rpartition(":")
    try:
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host.strip("[]"), int(port)), timeout=5
        )
    except (OSError, ValueError, TimeoutError) as error:
        raise temporal_unreachable(address) from error
    writer.close()
    try:
        return await Client.connect(address, namespace=configured.temporal_namespace)
    except RuntimeError as error:  # what temporalio raises when the connection fails
        raise temporal_unreachable(address) from error
