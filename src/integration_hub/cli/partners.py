"""`hub connectors` lists the partners; `add_partner_apps` mounts the sub-apps they declare."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from integration_hub.cli.common import print_json
from integration_hub.connectors.partner import Partner


def connectors(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Every partner: priority, summary, whether it receives webhooks and calls out."""
    from integration_hub.connectors.partners import PARTNERS, build_connectors

    webhooks = build_connectors()  # static: the event maps need no settings or secrets
    if as_json:
        print_json(
            [
                {
                    "name": p.name,
                    "priority": p.priority,
                    "summary": p.summary,
                    "webhook": p.webhook is not None,
                    "calls": p.calls is not None,
                    "secrets": p.secret_names,
                    "event_types": list(webhooks[p.name].manifest.event_map)
                    if p.name in webhooks
                    else [],
                    "polls": [source.name for source in p.polls],
                    "cli": p.cli_name,
                }
                for p in PARTNERS
            ]
        )
        return
    width = max((len(p.name) for p in PARTNERS), default=0)
    typer.echo(f"{'partner':<{width}}  priority  webhook  calls  summary")
    for p in PARTNERS:
        typer.echo(
            f"{p.name:<{width}}  {p.priority:<8}  {yes(p.webhook is not None):<7}  "
            f"{yes(p.calls is not None):<5}  {p.summary}"
        )


def yes(value: bool) -> str:
    return "yes" if value else "no"


def add_partner_apps(app: typer.Typer, partners: Sequence[Partner]) -> None:
    """`hub <cli_name> ...` for every partner that declares a sub-app."""
    for partner in partners:
        if partner.cli is None or partner.cli_name is None:
            continue
        sub_app: typer.Typer = partner.cli()
        app.add_typer(sub_app, name=partner.cli_name)
