"""`hub managers|connections|properties|reservations`: the property managers, their PMS
connections and what the PMSs told the hub, through the admin API (an admin token).

`hub connections add` prints the secret names the connection reads (`hub secrets set` them);
when the hub could not make the connection's poll schedules (its Temporal away) and
HUB_TEMPORAL_ADDRESS is set, the command makes them itself, as `hub poll` reaches Temporal.
`hub reservations list` prints a table; guest names and contacts are never printed."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer

from integration_hub.cli.common import DEFAULT_URL, UrlOption, admin_api, answer, print_json

managers_app = typer.Typer(help="Property managers the hub serves.", no_args_is_help=True)
connections_app = typer.Typer(
    help="Managers' accounts at PMSs (and iCal feeds).", no_args_is_help=True
)
properties_app = typer.Typer(help="Properties and their listings.", no_args_is_help=True)
reservations_app = typer.Typer(help="Reservations, by check-in.", no_args_is_help=True)

Limit = Annotated[int, typer.Option(min=1, max=500)]


@managers_app.command("add")
def managers_add(
    manager_id: Annotated[str, typer.Argument(help="A slug: [a-z0-9][a-z0-9_-]{0,62}.")],
    name: str,
    email: Annotated[str | None, typer.Option(help="Contact e-mail.")] = None,
    phone: Annotated[str | None, typer.Option(help="Contact phone, E.164.")] = None,
    stripe_customer: Annotated[str | None, typer.Option(help="cus_...")] = None,
    billing: Annotated[str, typer.Option(help="per_job or monthly.")] = "per_job",
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Add a property manager."""
    body = {
        "id": manager_id, "name": name, "contact_email": email, "contact_phone": phone,
        "stripe_customer_id": stripe_customer, "billing_mode": billing,
    }  # fmt: skip
    with admin_api(url) as client:
        print_json(answer(client.post("/api/managers", json=body)))


@managers_app.command("list")
def managers_list(url: UrlOption = DEFAULT_URL, limit: Limit = 100) -> None:
    """Managers, by id."""
    with admin_api(url) as client:
        print_json(answer(client.get("/api/managers", params={"limit": limit})))


def _schedules(partner: str, connection: str, *, remove: bool) -> list[str] | None:
    """Make (or delete) the connection's poll schedules on HUB_TEMPORAL_ADDRESS; None when it
    is not set or cannot be reached (the worker's next start makes them)."""
    from integration_hub.cli.common import connect_temporal, settings
    from integration_hub.cli.errors import Unreachable
    from integration_hub.connectors.partners import partner_named
    from integration_hub.orchestration.polls import (
        delete_connection_schedules,
        ensure_connection_schedules,
    )

    configured = settings()
    if not configured.temporal_address:
        return None
    declared = partner_named(partner)

    async def main() -> list[str]:
        client = await connect_temporal(configured)
        if remove:
            return await delete_connection_schedules(client, declared, connection)
        return await ensure_connection_schedules(
            client, configured.task_queue, declared, connection
        )

    try:
        return asyncio.run(main())
    except Unreachable:
        return None


@connections_app.command("add")
def connections_add(
    connection_id: Annotated[str, typer.Argument(help="The connection's id (an instance id).")],
    partner: str,
    manager: Annotated[str, typer.Option(help="The manager's id.")],
    label: str | None = None,
    option: Annotated[
        list[str] | None, typer.Option(help="key=value, per partner (never a secret).")
    ] = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Add a connection; prints the secret names to set with `hub secrets set`."""
    options: dict[str, str] = {}
    for pair in option or ():
        key, separator, value = pair.partition("=")
        if not separator or not key:
            typer.echo(f"--option {key or pair!r}: key=value", err=True)
            raise typer.Exit(2)
        options[key] = value
    body = {"id": connection_id, "partner": partner, "manager_id": manager, "label": label,
            "options": options}  # fmt: skip
    with admin_api(url) as client:
        added: Any = answer(client.post("/api/connections", json=body))
    if added.get("schedules") is None:
        added["schedules"] = _schedules(partner, connection_id, remove=False)
    print_json(added)
    for name in added.get("secrets", []):
        typer.echo(f"set its secret: hub secrets set {name}", err=True)


@connections_app.command("list")
def connections_list(
    url: UrlOption = DEFAULT_URL,
    partner: str | None = None,
    manager: str | None = None,
    limit: Limit = 100,
) -> None:
    """Connections, by id, with their status (a held feed says why)."""
    params = {k: v for k, v in {"partner": partner, "manager": manager}.items() if v}
    with admin_api(url) as client:
        print_json(answer(client.get("/api/connections", params={**params, "limit": limit})))


@connections_app.command("remove")
def connections_remove(connection_id: str, url: UrlOption = DEFAULT_URL) -> None:
    """Remove a connection nothing was stored from, with its poll schedules."""
    with admin_api(url) as client:
        removed: Any = answer(client.delete(f"/api/connections/{connection_id}"))
    if removed.get("schedules") is None:
        removed["schedules"] = _schedules(removed["partner"], connection_id, remove=True)
    print_json(removed)


@connections_app.command("release")
def connections_release(connection_id: str, url: UrlOption = DEFAULT_URL) -> None:
    """Release a held iCal feed: its next calendar applies in full."""
    with admin_api(url) as client:
        print_json(answer(client.post(f"/api/connections/{connection_id}/release")))


@properties_app.command("list")
def properties_list(
    url: UrlOption = DEFAULT_URL, manager: str | None = None, limit: Limit = 100
) -> None:
    """Properties, by id."""
    params: dict[str, str | int] = {"limit": limit, **({"manager": manager} if manager else {})}
    with admin_api(url) as client:
        print_json(answer(client.get("/api/properties", params=params)))


@properties_app.command("link")
def properties_link(
    connection: str, listing: str, property_id: str, url: UrlOption = DEFAULT_URL
) -> None:
    """Tie the listing LISTING of CONNECTION to PROPERTY_ID (its stays move with it)."""
    body = {"connection_id": connection, "source_listing_id": listing, "property_id": property_id}
    with admin_api(url) as client:
        print_json(answer(client.post("/api/properties/link", json=body)))


COLUMNS = ("property_id", "stay_id", "check_in", "check_out", "status", "source", "channel")


def table(rows: list[dict[str, Any]]) -> str:
    """Plain columns, padded; only the COLUMNS (no guest data can reach the terminal)."""
    cells = [[str(row.get(c) or "-") for c in COLUMNS] for row in rows]
    header = ["property", "stay", "check_in", "check_out", "status", "source", "channel"]
    widths = [max(len(x) for x in column) for column in zip(header, *cells, strict=False)]
    lines = ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True))
             for line in [header, *cells]]  # fmt: skip
    return "\n".join(line.rstrip() for line in lines)


@reservations_app.command("list")
def reservations_list(
    url: UrlOption = DEFAULT_URL,
    property_id: Annotated[str | None, typer.Option("--property")] = None,
    start: Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="YYYY-MM-DD, exclusive.")] = None,
    status: Annotated[list[str] | None, typer.Option(help="e.g. confirmed.")] = None,
    limit: Limit = 100,
) -> None:
    """Reservations by check-in: property, stay, dates, status, source, channel."""
    params: dict[str, Any] = {"limit": limit}
    for key, value in (("property", property_id), ("from", start), ("to", end)):
        if value:
            params[key] = value
    if status:
        params["status"] = status
    with admin_api(url) as client:
        page: Any = answer(client.get("/api/reservations", params=params))
    typer.echo(table(page["items"]))
    if page.get("next_cursor"):
        typer.echo(f"(more: narrow --from/--to; next cursor {page['next_cursor']})", err=True)
