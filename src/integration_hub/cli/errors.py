"""What `hub` prints when a command cannot run: one line, and the traceback only with `--debug`.

A command that cannot reach what it needs (the hub's HTTP API, the database, Temporal) raises
`Unreachable`, whose one line says what was tried and how to fix it, as Stripe CLI's errors do.
`HubGroup` (cli/group.py), the root command, prints that line and exits 2; under `hub --debug ...` the
exception goes on to Python, which prints the traceback.

Exit codes: 2 when the command could not run (a setting is missing or unsafe, a service is out
of reach: fix the setup and run it again); 1 when it ran and the answer is a failure (the admin
API refused, a call out failed, doctor found an incomplete P0 partner).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a hub is out of reach, not by `hub --help`
    import httpx


class Unreachable(Exception):
    """A service the command needs did not answer; the message is the one line to print."""


def hub_unreachable(url: str, error: httpx.TransportError) -> Unreachable:
    import httpx

    fix = "is hub serve running? set HUB_URL"
    # A refused or timed-out connection is "cannot reach"; a dropped one names what happened.
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
        return Unreachable(f"cannot reach the hub at {url}: {fix}")
    return Unreachable(f"lost the hub at {url} ({type(error).__name__}): {fix}")


def database_unreachable(url: str) -> Unreachable:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        fix = "may this user create and write that file? set HUB_DATABASE_URL or HUB_HOME"
    else:
        fix = "is the database server running, and the URL right? set HUB_DATABASE_URL"
    shown = parsed.render_as_string(hide_password=True)  # the password never reaches a terminal
    return Unreachable(f"cannot reach the database at {shown}: {fix}")


def temporal_unreachable(address: str) -> Unreachable:
    return Unreachable(
        f"cannot reach Temporal at {address}: is the Temporal server running? "
        "set HUB_TEMPORAL_ADDRESS"
    )
