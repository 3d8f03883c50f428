"""`hub cleaners add|list`: the cleaners registry, through the admin API."""

from __future__ import annotations

from typing import Annotated

import typer

from integration_hub.cli.common import DEFAULT_URL, UrlOption, admin_api, answer, print_json

cleaners_app = typer.Typer(
    help="The cleaners registry (payout readiness included).", no_args_is_help=True
)


@cleaners_app.command("add")
def cleaners_add(
    name: str,
    phone: Annotated[str, typer.Argument(help="E.164, e.g. +13055550142.")],
    language: Annotated[str, typer.Option(help="es or en.")] = "es",
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Register a cleaner; its phone becomes a messaging contact in its language."""
    body = {"name": name, "phone": phone, "language": language}
    with admin_api(url) as client:
        print_json(answer(client.post("/api/cleaners", json=body)))


@cleaners_app.command("list")
def cleaners_list(
    url: UrlOption = DEFAULT_URL,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    cursor: str | None = None,
) -> None:
    """Cleaners with their payout account, readiness and `payable`."""
    params: dict[str, str | int] = {"limit": limit}
    if cursor:
        params["cursor"] = cursor
    with admin_api(url) as client:
        print_json(answer(client.get("/api/cleaners", params=params)))
