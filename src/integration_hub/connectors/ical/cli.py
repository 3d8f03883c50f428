"""`hub ical add|release`: register an iCal feed (a URL or a local file) as a connection.

`add` checks the URL (local files allowed: the operator runs it on the host), makes the
manager when missing and the connection (partner ical) through the running hub's admin API,
which also makes its poll schedule, stores the URL as the secret `ICAL_FEED_URL__<ID>` in the
local writable store, then runs one poll now with `hub poll ical feed --connection <id>` and
prints what it stored (when HUB_TEMPORAL_ADDRESS is set: an embedded Temporal is reachable by
the hub only, whose schedule then fetches the feed on its next tick). The URL is never printed (its query is the feed's only credential).

The core commands are reached the way an operator reaches them (the admin API, `hub poll` as
a process): a partner package never imports the core CLI or the orchestration layer."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import unquote, urlsplit

import typer

from integration_hub.connectors.ical import FEED_URL, NAME, POLL_SOURCE, TICK

if TYPE_CHECKING:
    import httpx

    from integration_hub.settings import Settings

TICK_MINUTES = int(TICK.total_seconds() // 60)
CHANNELS = ("airbnb", "vrbo", "booking", "other")
DEFAULT_URL = "http://127.0.0.1:8000"
UrlOption = Annotated[str, typer.Option("--url", envvar="HUB_URL", help="Where the hub listens.")]
# The running hub reads a secret stored just now within its store's refresh (about a second).
SECRET_VISIBLE_WITHIN = 10.0


def _refuse(message: str, code: int = 2) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def default_connection_id(feed: str, name: str | None) -> str:
    """`ical-<slug>` of the listing name, else of the file's (or URL path's) stem."""
    stem = name or Path(unquote(urlsplit(feed).path).rstrip("/")).stem or "feed"
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")[:57].strip("-")
    return f"ical-{slug or 'feed'}"


def _settings() -> Settings:
    from integration_hub.settings import Settings  # when the command runs, not at `--help`

    return Settings()


def _admin(configured: Settings, url: str) -> httpx.Client:
    import httpx

    if configured.admin_token is None:
        raise _refuse("HUB_ADMIN_TOKEN is not set (run `hub init`, or export the token)")
    headers = {"Authorization": f"Bearer {configured.admin_token.get_secret_value()}"}
    return httpx.Client(base_url=url, headers=headers, timeout=30)


def _call(client: httpx.Client, method: str, path: str, body: object = None) -> httpx.Response:
    import httpx

    try:
        return client.request(method, path, json=body)
    except httpx.TransportError:
        raise _refuse(
            f"the hub at {client.base_url} does not answer (is `hub serve` running?)"
        ) from None


def _answer(response: httpx.Response) -> Any:
    if response.is_error:
        raise _refuse(f"{response.status_code}: {response.text}", 1)
    return response.json()


def _feed_url(feed: str) -> str:
    from integration_hub.connectors.ical.feeds import FeedUrlRefused, check_feed_url
    from integration_hub.connectors.ical.settings import IcalSettings

    if "://" not in feed and not feed.startswith("/"):  # a relative path: this directory's
        feed = str(Path(feed).resolve())
    try:
        return check_feed_url(
            feed, allow_files=True, allow_private_hosts=IcalSettings().allow_private_hosts
        )
    except FeedUrlRefused as refusal:
        raise _refuse(f"the feed: {refusal.detail}") from None


def poll_now(connection_id: str) -> dict[str, Any]:
    """`hub poll ical feed --connection <id>`, retried while the worker does not see the
    secret stored just now; its JSON answer."""
    command = [sys.executable, "-m", "integration_hub", "poll", NAME, POLL_SOURCE,
               "--connection", connection_id]  # fmt: skip
    deadline = time.monotonic() + SECRET_VISIBLE_WITHIN
    while True:
        # The command is this interpreter and fixed words; the id was checked as an instance id.
        ran = subprocess.run(  # noqa: S603
            command, capture_output=True, text=True, timeout=300, check=False
        )
        if ran.returncode == 0:
            answer: dict[str, Any] = json.loads(ran.stdout)
            return answer
        if "is not set" not in ran.stderr or time.monotonic() > deadline:
            raise _refuse(ran.stderr.strip() or f"hub poll exited {ran.returncode}", 1)
        time.sleep(0.5)


def add(
    feed: Annotated[str, typer.Argument(help="The feed's https URL, or a local .ics file.")],
    manager: Annotated[str, typer.Option(help="The manager's id (made when missing).")] = "demo",
    connection_id: Annotated[
        str | None, typer.Option("--id", help="Default: ical-<slug of --name or file stem>.")
    ] = None,
    channel: Annotated[str, typer.Option(help=" | ".join(CHANNELS))] = "other",
    name: Annotated[str | None, typer.Option(help="The listing's name.")] = None,
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Register a feed: the connection, its URL as a secret, and one poll now."""
    from integration_hub.secrets import open_secret_store
    from integration_hub.secrets.instances import is_instance_id

    if channel not in CHANNELS:
        raise _refuse(f"--channel: one of {', '.join(CHANNELS)}")
    configured = _settings()
    stored_url = _feed_url(feed)
    connection = connection_id or default_connection_id(stored_url, name)
    if not is_instance_id(connection):
        raise _refuse("--id: an instance id ([a-z0-9][a-z0-9_-]{0,62})")
    store = open_secret_store(configured)
    secret = FEED_URL.for_instance(connection)
    if store is None:  # checked before anything is made
        raise _refuse(
            f"the secret store is read-only (HUB_SECRETS_BACKEND={configured.secrets_backend}):"
            f" set {secret} where the hub reads it, then `hub connections add`"
        )
    options = {"channel": channel, **({"listing_name": name} if name else {})}
    body = {"id": connection, "partner": NAME, "manager_id": manager,
            "label": name or "iCal feed", "options": options}  # fmt: skip
    with _admin(configured, url) as client:
        made = _call(client, "POST", "/api/managers",
                     {"id": manager, "name": "Demo manager" if manager == "demo" else manager})  # fmt: skip
        if made.status_code != 409:  # 409: it exists
            _answer(made)
        added = _answer(_call(client, "POST", "/api/connections", body))
    store.set(secret, stored_url)
    typer.echo(f"feed stored for {connection}", err=True)
    if added.get("schedules") is None:
        typer.echo(
            "no poll schedule made now (Temporal away): the worker's start makes it", err=True
        )
    polled = None
    if configured.temporal_address:
        polled = poll_now(connection)
    else:  # an embedded Temporal (`hub serve` alone) is reachable by the hub only
        typer.echo(
            f"the hub's schedule fetches it on its next tick (every {TICK_MINUTES} minutes; set "
            "HUB_TEMPORAL_ADDRESS to the hub's Temporal to fetch it now)",
            err=True,
        )
    typer.echo(json.dumps({"connection": added, "poll": polled}, indent=2, default=str))


def release(connection_id: str, url: UrlOption = DEFAULT_URL) -> None:
    """Release a held feed: its next calendar applies in full."""
    with _admin(_settings(), url) as client:
        released = _answer(_call(client, "POST", f"/api/connections/{connection_id}/release"))
    typer.echo(json.dumps(released, indent=2, default=str))


def ical_app() -> typer.Typer:
    app = typer.Typer(help="iCal feeds: register one, release a held one.", no_args_is_help=True)
    app.command("add")(add)
    app.command("release")(release)
    return app
