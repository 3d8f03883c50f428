"""`hub events list|show`, `hub replay`, `hub ledger` (the admin API) and `hub send`."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from integration_hub.cli.common import (
    DEFAULT_URL,
    UrlOption,
    admin_api,
    answer,
    print_json,
    settings,
)
from integration_hub.cli.errors import hub_unreachable

if TYPE_CHECKING:
    import httpx

events_app = typer.Typer(help="Inspect stored events through the admin API.", no_args_is_help=True)


@events_app.command("list")
def events_list(
    url: UrlOption = DEFAULT_URL,
    partner: str | None = None,
    status: str | None = None,
    limit: int = 20,
) -> None:
    """Newest events first."""
    params = {
        k: v
        for k, v in {"partner": partner, "status": status, "limit": limit}.items()
        if v is not None
    }
    with admin_api(url) as client:
        print_json(answer(client.get("/api/events", params=params)))


@events_app.command("show")
def events_show(partner: str, partner_event_id: str, url: UrlOption = DEFAULT_URL) -> None:
    """One event with its normalized CloudEvents and their handlers."""
    from integration_hub.web.event_ids import api_event_path  # ids may hold `/`, `?`, `..`

    with admin_api(url) as client:
        print_json(answer(client.get(api_event_path(partner, partner_event_id))))


def replay(
    url: UrlOption = DEFAULT_URL,
    partner: str | None = None,
    event_id: Annotated[str | None, typer.Option("--id", help="The partner's event id.")] = None,
    status: str | None = None,
) -> None:
    """Normalize stored raw events again and re-dispatch their handlers (idempotent)."""
    body = {"partner": partner, "partner_event_id": event_id, "status": status}
    with admin_api(url) as client:
        print_json(answer(client.post("/api/replay", json=body)))


def ledger(url: UrlOption = DEFAULT_URL, limit: int = 20) -> None:
    """Ledger entries, newest first."""
    with admin_api(url) as client:
        print_json(answer(client.get("/api/ledger", params={"limit": limit})))


def send(
    partner: str,
    event_type: str,
    url: UrlOption = DEFAULT_URL,
    connection: Annotated[
        str | None,
        typer.Option(help="The connection to post to (a partner that verifies per connection)."),
    ] = None,
) -> None:
    """Sign a realistic sample event as the partner does, post it to the hub, print the answer.

    A partner that verifies per connection (a PMS) is posted to /webhooks/<partner>/<connection>:
    --connection, else its only connection, else a demo one (local file store only)."""
    from integration_hub.connectors.base import Delivery
    from integration_hub.connectors.partners import build_connectors
    from integration_hub.secrets import open_secret_source
    from integration_hub.testing import sign_as

    configured = settings()
    connector = build_connectors(configured).get(partner)
    if connector is None:
        typer.echo(
            f"no partner named {partner!r} receives webhooks: see `hub connectors`", err=True
        )
        raise typer.Exit(2)
    manifest = connector.manifest
    if manifest.endpoints == frozenset():
        typer.echo(f"{partner} only polls: `hub poll` fetches its events", err=True)
        raise typer.Exit(2)
    path, endpoint, fresh = f"/webhooks/{partner}", "", False
    if manifest.secret_per_endpoint:
        from integration_hub.cli.send_target import resolve

        target = resolve(configured, partner, manifest.webhook_secret, connection)
        path, endpoint, fresh = f"{path}/{target.connection}", target.connection, target.made_secret
        secret = target.secret
    else:
        if connection is not None:
            typer.echo(f"{partner} has one endpoint: --connection is not for it", err=True)
            raise typer.Exit(2)
        name = manifest.webhook_secret
        versions = open_secret_source(configured).versions(name)
        if not versions:
            typer.echo(f"{name} is not set (run `hub init` for a local one)", err=True)
            raise typer.Exit(2)
        secret = versions[0]
    body = connector.sample(event_type)
    target_url = f"{url.rstrip('/')}{path}"
    # A URL-signing partner signs the public URL it calls, which is what the hub checks
    # against when HUB_PUBLIC_BASE_URL is set.
    signed_url = (
        f"{configured.public_base_url.rstrip('/')}{path}"
        if configured.public_base_url
        else target_url
    )
    headers = sign_as(partner, body, secret=secret, url=signed_url)
    response = _post(target_url, body, headers, url, retry_unknown=fresh)
    is_json = response.headers.get("content-type", "").startswith("application/json")
    # The partner's event id is what `hub events show` takes. It may live in a header (a
    # Svix id) or the answer may be the partner's own format (TwiML, say), so ask the
    # connector, which is what the edge did.
    lowered = {k.lower(): v for k, v in headers.items()}
    events = connector.split(Delivery(body, lowered, signed_url, time.time(), endpoint=endpoint))
    print_json(
        {
            "status_code": response.status_code,
            "response": response.json() if is_json else response.text,
            "partner_event_id": events[0].partner_event_id if events else None,
        }
    )
    if response.is_error:
        raise typer.Exit(1)


def _post(
    target: str, body: bytes, headers: dict[str, str], url: str, *, retry_unknown: bool
) -> httpx.Response:
    """Post once; a secret stored just now reaches the running hub within its store's refresh
    (about a second), so until then its 404 (unknown endpoint) is retried."""
    import httpx  # here, not at import: `hub --help` does not pay for it

    deadline = time.monotonic() + 5
    while True:
        try:
            response = httpx.post(target, content=body, headers=headers, timeout=30)
        except httpx.TransportError as error:
            raise hub_unreachable(url, error) from error
        if not (retry_unknown and response.status_code == 404 and time.monotonic() < deadline):
            return response
        time.sleep(0.25)
