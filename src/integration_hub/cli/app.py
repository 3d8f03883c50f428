"""`hub`: the core commands, listed here, and the sub-apps partners declare.

serve | worker | migrate | init | connectors | doctor | events | replay | ledger | send |
poll | secrets | cleaners | users | managers | connections | properties | reservations, then one `hub <cli_name>` per partner that declares a CLI (`Partner.cli`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from integration_hub.cli import (
    cleaners,
    doctor,
    events,
    init,
    partners,
    pms,
    polls,
    secrets,
    serve,
    users,
)
from integration_hub.cli.group import HubGroup
from integration_hub.connectors.partners import PARTNERS

app = typer.Typer(
    cls=HubGroup,
    help="integration-hub: verified partner webhooks in, normalized events out.",
    no_args_is_help=True,
    # Under --debug a failure is for an engineer: Python's own traceback, without locals
    # (which could hold secret values).
    pretty_exceptions_enable=False,
)


@app.callback()
def hub(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="Show the traceback when a command fails, not only its one line."
        ),
    ] = False,
) -> None:
    # HubGroup reads `debug` from the context; the callback only declares the option.
    del debug


app.command()(init.init)
app.command()(serve.serve)
app.command()(serve.worker)
app.command()(serve.migrate)
app.command()(partners.connectors)
app.command()(doctor.doctor)
app.add_typer(events.events_app, name="events")
app.command()(events.replay)
app.command()(events.ledger)
app.command()(events.send)
app.command()(polls.poll)
app.add_typer(secrets.secrets_app(), name="secrets")
app.add_typer(cleaners.cleaners_app, name="cleaners")
app.add_typer(users.users_app, name="users")
app.add_typer(pms.managers_app, name="managers")
app.add_typer(pms.connections_app, name="connections")
app.add_typer(pms.properties_app, name="properties")
app.add_typer(pms.reservations_app, name="reservations")
partners.add_partner_apps(app, PARTNERS)


def main() -> None:
    """The `hub` console script and `python -m integration_hub`."""
    app(prog_name="hub")
