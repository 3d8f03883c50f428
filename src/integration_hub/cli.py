"""`hub`: serve | worker | migrate | init | connectors | events | replay | ledger | send."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import os
import secrets
import signal
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from integration_hub.settings import Settings

app = typer.Typer(
    help="integration-hub: verified partner webhooks in, normalized events out.",
    no_args_is_help=True,
)
events_app = typer.Typer(help="Inspect stored events through the admin API.", no_args_is_help=True)
app.add_typer(events_app, name="events")

UrlOption = Annotated[str, typer.Option("--url", envvar="HUB_URL", help="Where the hub listens.")]
DEFAULT_URL = "http://127.0.0.1:8000"


def _settings() -> Settings:
    return Settings()


def _print(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _api(url: str) -> httpx.Client:
    token = _settings().admin_token
    if token is None:
        typer.echo(
            "HUB_ADMIN_TOKEN is not set (run `hub init`, or export the token serve printed)",
            err=True,
        )
        raise typer.Exit(2)
    return httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token.get_secret_value()}"}, timeout=30
    )


def _call(response: httpx.Response) -> Any:
    if response.is_error:
        typer.echo(f"{response.status_code}: {response.text}", err=True)
        raise typer.Exit(1)
    return response.json()


@app.command()
def init(env_file: Path = Path(".env")) -> None:
    """Write local defaults to .env (admin token, local webhook secrets); keeps what is set."""
    from integration_hub.home import UnsafeFileMode, exposure, prepare_home

    try:  # HUB_HOME 0700 and the umask before the secrets store writes there
        prepare_home(_settings().home)
    except UnsafeFileMode as refusal:
        typer.echo(f"refusing to initialise: {refusal.detail}", err=True)
        raise typer.Exit(2) from None
    existing = env_file.read_text() if env_file.exists() else ""
    defaults = {
        "HUB_ADMIN_TOKEN": secrets.token_urlsafe(32),
        "STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(24),
        # Svix secrets are base64 after the prefix.
        "CLERK_WEBHOOK_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
        "AUTH0_LOG_STREAM_TOKEN": secrets.token_urlsafe(32),
        # Shaped like a Twilio Auth Token (32 hex), so `hub send twilio ...` works locally.
        "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
    }
    missing = {k: v for k, v in defaults.items() if f"{k}=" not in existing and k not in os.environ}
    stored, held = _init_store(missing, env_file)  # partner secrets go to the store, if writable
    missing = {k: v for k, v in missing.items() if k not in stored and k not in held}
    if missing:  # created 0600: the admin token is never readable by others, not even briefly
        fd = os.open(env_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as f:
            f.writelines(f"{k}={v}\n" for k, v in missing.items())
    typer.echo(f"{env_file}: {', '.join(missing) or 'nothing to add'}")
    if exposure(env_file) is not None:  # written by hand, or by an older `hub init`
        env_file.chmod(0o600)
        typer.echo(f"{env_file}: mode set to 0600 (it holds secrets)")
    if stored:
        typer.echo(f"secrets store: {', '.join(stored)}")


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run HTTP, normalizer, dispatcher and Temporal worker (and a dev Temporal when none is set)."""
    import uvicorn

    from integration_hub.logs import configure_logging
    from integration_hub.web.app import create_app
    from integration_hub.web.server import build_config

    settings = _settings()
    configure_logging(settings)
    hub = _checked_hub(settings, pipeline=False, pipeline_process=True)
    if hub.admin_token_generated:
        typer.echo(f"HUB_ADMIN_TOKEN not set; this run's admin token: {hub.admin_token}", err=True)
    # Slow or greedy clients (receipt deadline, head cap, connection caps): web/server.py.
    config = build_config(create_app(hub), settings, host=host, port=port)
    # The hot path allocates many short-lived objects and no cycles worth a pause: move what
    # startup built out of the collector's sight and collect the young generation less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    uvicorn.Server(config).run()


def _checked_hub(
    settings: Settings, *, edge: bool = True, pipeline: bool = True, pipeline_process: bool = False
) -> Any:
    """A Hub that may start, or exit 2 saying why not (a live key outside production, a
    secrets key file others can read, ...), before anything runs."""
    from integration_hub.errors import UnsafeConfiguration
    from integration_hub.orchestration.calls import partner_calls, preflight
    from integration_hub.runtime import Hub
    from integration_hub.secrets.store import SecretStoreError

    try:
        hub = Hub(settings, edge=edge, pipeline=pipeline, pipeline_process=pipeline_process)
        preflight(partner_calls(hub.settings, hub.secrets, hub.engine))
    except (UnsafeConfiguration, SecretStoreError) as refusal:
        typer.echo(f"refusing to start: {refusal.detail}", err=True)
        raise typer.Exit(2) from None
    return hub


@app.command()
def worker() -> None:
    """Run more normalizer, dispatcher and Temporal worker capacity (needs HUB_TEMPORAL_ADDRESS)."""
    from integration_hub.logs import configure_logging

    settings = _settings()
    if not settings.temporal_address:
        typer.echo("hub worker joins a shared Temporal: set HUB_TEMPORAL_ADDRESS", err=True)
        raise typer.Exit(2)
    configure_logging(settings)

    async def main() -> None:
        hub = _checked_hub(settings, edge=False)
        if settings.worker_metrics_port:
            from prometheus_client import start_http_server

            # The pipeline's own counters live in this process: serve them for a scrape.
            start_http_server(settings.worker_metrics_port, addr=settings.worker_metrics_host)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await hub.start()
        try:
            await stop.wait()
        finally:
            await hub.stop()

    asyncio.run(main())


@app.command()
def migrate() -> None:
    """Apply database migrations (serve also applies them at start)."""
    from integration_hub.errors import UnsafeConfiguration
    from integration_hub.storage import migrate as migrations
    from integration_hub.storage.engine import make_engine

    url = _settings().resolved_database_url()
    try:
        migrations.upgrade(make_engine(url))
    except UnsafeConfiguration as refusal:
        typer.echo(f"refusing to migrate: {refusal.detail}", err=True)
        raise typer.Exit(2) from None
    typer.echo("database is at the latest revision")


@app.command()
def connectors() -> None:
    """List registered connectors and what each needs."""
    from integration_hub.connectors.partners import build_connectors

    for name, c in build_connectors(_settings()).items():
        manifest = c.manifest
        _print(
            {
                "name": name,
                "webhook_secret": manifest.webhook_secret,
                "api_secrets": list(manifest.api_secrets),
                "event_map": dict(manifest.event_map),
            }
        )


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
    with _api(url) as client:
        _print(_call(client.get("/api/events", params=params)))


@events_app.command("show")
def events_show(partner: str, partner_event_id: str, url: UrlOption = DEFAULT_URL) -> None:
    """One event with its normalized CloudEvents and their handlers."""
    from integration_hub.web.event_ids import api_event_path  # ids may hold `/`, `?`, `..`

    with _api(url) as client:
        _print(_call(client.get(api_event_path(partner, partner_event_id))))


@app.command()
def replay(
    url: UrlOption = DEFAULT_URL,
    partner: str | None = None,
    event_id: Annotated[str | None, typer.Option("--id", help="The partner's event id.")] = None,
    status: str | None = None,
) -> None:
    """Normalize stored raw events again and re-dispatch their handlers (idempotent)."""
    body = {"partner": partner, "partner_event_id": event_id, "status": status}
    with _api(url) as client:
        _print(_call(client.post("/api/replay", json=body)))


@app.command()
def ledger(url: UrlOption = DEFAULT_URL, limit: int = 20) -> None:
    """Ledger entries, newest first."""
    with _api(url) as client:
        _print(_call(client.get("/api/ledger", params={"limit": limit})))


@app.command()
def send(partner: str, event_type: str, url: UrlOption = DEFAULT_URL) -> None:
    """Sign a realistic sample event as the partner does, post it to the hub, print the answer."""
    from integration_hub.connectors.base import Delivery
    from integration_hub.connectors.partners import build_connectors, get_connector
    from integration_hub.secrets import open_secret_source
    from integration_hub.testing import sign_as

    settings = _settings()
    connector = get_connector(build_connectors(settings), partner)
    name = connector.manifest.webhook_secret
    versions = open_secret_source(settings).versions(name)
    if not versions:
        typer.echo(f"{name} is not set (run `hub init` for a local one)", err=True)
        raise typer.Exit(2)
    body = connector.sample(event_type)
    target = f"{url.rstrip('/')}/webhooks/{partner}"
    # A URL-signing partner (Twilio) signs the public URL it calls, which is what the hub
    # checks against when HUB_PUBLIC_BASE_URL is set.
    signed_url = (
        f"{settings.public_base_url.rstrip('/')}/webhooks/{partner}"
        if settings.public_base_url
        else target
    )
    headers = sign_as(partner, body, secret=versions[0], url=signed_url)
    response = httpx.post(target, content=body, headers=headers, timeout=30)
    is_json = response.headers.get("content-type", "").startswith("application/json")
    # The partner's event id is what `hub events show` takes. It may live in a header (Clerk's
    # svix-id) or the answer may be the partner's own format (Twilio's TwiML), so ask the
    # connector, which is what the edge did.
    lowered = {k.lower(): v for k, v in headers.items()}
    events = connector.split(Delivery(body, lowered, signed_url, time.time()))
    _print(
        {
            "status_code": response.status_code,
            "response": response.json() if is_json else response.text,
            "partner_event_id": events[0].partner_event_id if events else None,
        }
    )
    if response.is_error:
        raise typer.Exit(1)


@app.command()
def doctor(
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when a P0 partner is incomplete.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Every partner: its secrets (set? well formed? never values) and its sandbox checklist."""
    from sqlalchemy.engine import make_url

    from integration_hub.connectors.partners import build_connectors
    from integration_hub.doctor import diagnose
    from integration_hub.orchestration.calls import partner_calls
    from integration_hub.secrets import open_secret_source
    from integration_hub.storage.engine import make_engine

    settings = _settings()
    source = open_secret_source(settings)
    url = settings.resolved_database_url()
    database = make_url(url).database
    # Doctor reads; it never creates the embedded database as a side effect.
    fresh = make_url(url).get_backend_name() == "sqlite" and not Path(database or "").exists()
    engine = None if fresh else make_engine(url)
    try:
        calls = [
            c.manifest for c in partner_calls(settings, source, engine or make_engine("sqlite://"))
        ]
        reports = diagnose(
            connectors=build_connectors(settings),
            calls=calls,
            secrets=source,
            engine=engine,
            public_base_url=settings.public_base_url,
        )
    finally:
        if engine is not None:
            engine.dispose()
    if as_json:
        _print([r.as_dict() for r in reports])
    else:
        for report in reports:
            mark = "ok" if report.complete else "incomplete"
            roles = [
                k
                for k, v in (
                    ("webhooks", report.receives_webhooks),
                    ("calls out", report.calls_out),
                )
                if v
            ]
            typer.echo(f"{report.partner} [{report.priority}] {mark} ({', '.join(roles)})")
            for secret in report.secrets:
                state = f"set ({secret.versions} versions)" if secret.versions > 1 else "set"
                if secret.versions == 0:
                    state = "NOT SET" if secret.required else "not set (optional)"
                elif secret.well_formed is False:
                    state += ", MALFORMED"
                elif secret.well_formed:
                    state += ", well formed"
                typer.echo(f"  {secret.name}: {state}")
            for item in report.checklist:
                box = {True: "x", False: " ", None: "?"}[item.done]
                hint = f"  -> {item.how}" if not item.done and item.how else ""
                typer.echo(f"  [{box}] {item.step}{hint}")
            for warning in report.warnings:
                typer.echo(f"  ! {warning}")
    if strict and any(r.priority == "P0" and not r.complete for r in reports):
        raise typer.Exit(1)


maps_app = typer.Typer(
    help="Google Maps calls out: cached geocoding and the cache purge.", no_args_is_help=True
)
app.add_typer(maps_app, name="maps")


@maps_app.command("geocode")
def maps_geocode(
    address: Annotated[str, typer.Argument(help="A property address; '' with --place-id.")],
    place_id: Annotated[str | None, typer.Option(help="Geocode a kept place_id.")] = None,
) -> None:
    """Geocode through the cache (at most 30 days) and print the result and `from_cache`.

    Calls the geocode activity's own function directly, without Temporal (so no retries).
    """
    from dataclasses import asdict

    from temporalio.exceptions import ApplicationError

    from integration_hub.connectors.google_maps.calls import GeocodeInput
    from integration_hub.connectors.google_maps.local import local_calls

    with local_calls(_settings()) as calls:
        try:
            result = calls.geocode(GeocodeInput(address=address or None, place_id=place_id))
        except ApplicationError as error:
            typer.echo(f"geocode failed: {error.message}", err=True)
            raise typer.Exit(1) from None
    _print(asdict(result))


@maps_app.command("purge")
def maps_purge() -> None:
    """Delete expired Maps cache rows now (what the daily purge workflow does)."""
    from integration_hub.connectors.google_maps.calls import PurgeInput
    from integration_hub.connectors.google_maps.local import local_calls

    with local_calls(_settings()) as calls:
        _print({"deleted": calls.purge_cache(PurgeInput()).deleted})


@maps_app.command("schedule-purge")
def maps_schedule_purge() -> None:
    """Create or update the daily Temporal Schedule of the purge (needs HUB_TEMPORAL_ADDRESS)."""
    from temporalio.client import Client

    from integration_hub.connectors.google_maps.schedule import ensure_purge_schedule

    settings = _settings()
    if not settings.temporal_address:
        typer.echo("set HUB_TEMPORAL_ADDRESS to the cluster the workers use", err=True)
        raise typer.Exit(2)
    address = settings.temporal_address

    async def main() -> str:
        client = await Client.connect(address, namespace=settings.temporal_namespace)
        return await ensure_purge_schedule(client, settings.task_queue)

    _print({"schedule_id": asyncio.run(main())})


secrets_app = typer.Typer(
    help="Partner secrets in the store HUB_SECRETS_BACKEND names; values are never shown.",
    no_args_is_help=True,
)
app.add_typer(secrets_app, name="secrets")
FromFile = Annotated[
    Path | None,
    typer.Option(
        "--from-file", help="Read the value from this file (default: standard input).",
        exists=True, dir_okay=False,
    ),
]  # fmt: skip


def _store() -> Any:
    """The writable store, or exit 2 saying why (the env backend, an unsafe key file)."""
    from integration_hub.secrets import SecretStoreError, open_secret_store

    try:
        store = open_secret_store(_settings())
    except SecretStoreError as error:
        typer.echo(f"secrets store: {error.detail}", err=True)
        raise typer.Exit(2) from None
    if store is None:
        typer.echo(
            "HUB_SECRETS_BACKEND=env is read only: use file or aws to store secrets", err=True
        )
        raise typer.Exit(2)
    return store


def _init_store(defaults: dict[str, str], env_file: Path) -> tuple[list[str], list[str]]:
    """`hub init`: local partner secrets into a writable store (names it lacks); not the
    admin token, which is a setting read from .env. Returns (stored now, held already)."""
    from integration_hub.secrets import open_secret_store

    store = open_secret_store(_settings(), env_file=env_file)
    if store is None:
        return [], []
    stored, held = [], []
    for name, value in defaults.items():
        if name == "HUB_ADMIN_TOKEN":
            continue
        if store.holds(name):
            held.append(name)
        else:
            store.set(name, value)
            stored.append(name)
    return stored, held


def _read_value(name: str, from_file: Path | None) -> str:
    import sys

    if from_file is None and sys.stdin.isatty():
        typer.echo(f"{name}: type the value, then Enter and Ctrl-D", err=True)
    raw = from_file.read_text() if from_file is not None else sys.stdin.read()
    value = raw.rstrip("\r\n")  # the newline `echo` or an editor adds is not part of it
    if not value:
        typer.echo(f"{name}: no value read", err=True)
        raise typer.Exit(2)
    return value


def _duration(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    return f"{days}d{rest // 3600}h" if days else f"{rest // 3600}h{rest % 3600 // 60}m"


@secrets_app.command("set")
def secrets_set(name: str, from_file: FromFile = None) -> None:
    """Store NAME (read from stdin or --from-file); replaces every version at once."""
    store = _store()
    store.set(name, _read_value(name, from_file))
    typer.echo(f"{name}: set")


@secrets_app.command("rotate")
def secrets_rotate(
    name: str,
    from_file: FromFile = None,
    overlap_hours: Annotated[
        float | None, typer.Option(help="How long the previous version stays valid.")
    ] = None,
) -> None:
    """Make a new value (stdin or --from-file) current; the previous stays valid for the overlap."""
    from datetime import timedelta

    store = _store()
    overlap = None if overlap_hours is None else timedelta(hours=overlap_hours)
    store.rotate(name, _read_value(name, from_file), overlap=overlap)
    window = overlap or store.policy.overlap_for(name)
    typer.echo(
        f"{name}: rotated; the previous version stays valid for {_duration(window.total_seconds())}"
    )


@secrets_app.command("list")
def secrets_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Stored secrets: versions, age, when the previous version expires, max age. No values."""
    from datetime import UTC, datetime

    infos = _store().describe()
    rows = [
        {
            "name": i.name,
            "versions": i.versions,
            "age_seconds": round(i.age_seconds),
            "previous_expires_at": None
            if i.previous_expires_at is None
            else datetime.fromtimestamp(i.previous_expires_at, UTC).isoformat(timespec="seconds"),
            "max_age_seconds": round(i.max_age_seconds),
            "past_max_age": i.past_max_age,
        }
        for i in infos
    ]
    if as_json:
        _print(rows)
        return
    for row, info in zip(rows, infos, strict=True):
        expiry = (
            f", previous valid until {row['previous_expires_at']}"
            if row["previous_expires_at"]
            else ""
        )
        overdue = " PAST MAX AGE, rotate it" if info.past_max_age else ""
        typer.echo(
            f"{info.name}: {info.versions} version(s), age {_duration(info.age_seconds)} "
            f"(max {_duration(info.max_age_seconds)}){expiry}{overdue}"
        )
    if not rows:
        typer.echo("no secrets stored (names not stored are read from the environment/.env)")


@secrets_app.command("import-env")
def secrets_import_env() -> None:
    """Copy the partners' secrets (connector and calls manifests) from env/.env into the store."""
    from integration_hub.orchestration.maintenance import known_secret_names

    store = _store()
    imported, kept = [], []
    for name in known_secret_names(_settings()):
        values = store.fallback.versions(name)
        if not values:
            continue
        if store.holds(name):
            kept.append(name)
            continue
        store.adopt(name, values)
        imported.append(name)
    _print({"imported": imported, "already_stored": kept})


@secrets_app.command("schedule")
def secrets_schedule(
    auth0_log_stream: Annotated[
        str | None, typer.Option(help="Also rotate this Auth0 log stream's token (lst_...).")
    ] = None,
    twilio_auth_token: Annotated[
        bool, typer.Option(help="Also rotate the Twilio Auth Token (secondary, then promote).")
    ] = False,
    rotate_every_days: float = 30,
) -> None:
    """Create or update the daily secret-age reminder (the worker also does at start) and the
    token rotation schedules asked for."""
    from datetime import timedelta

    from temporalio.client import Client

    from integration_hub.orchestration import maintenance

    settings = _settings()
    if not settings.temporal_address:
        typer.echo("set HUB_TEMPORAL_ADDRESS to the cluster the workers use", err=True)
        raise typer.Exit(2)
    address = settings.temporal_address

    async def main() -> list[str]:
        client = await Client.connect(address, namespace=settings.temporal_namespace)
        ids = [await maintenance.ensure_age_reminder_schedule(client, settings.task_queue)]
        every = timedelta(days=rotate_every_days)
        if twilio_auth_token:
            ids.append(
                await maintenance.ensure_twilio_rotation_schedule(
                    client, settings.task_queue, every
                )
            )
        if auth0_log_stream:
            ids.append(
                await maintenance.ensure_auth0_rotation_schedule(
                    client, settings.task_queue, auth0_log_stream, every
                )
            )
        return ids

    _print({"schedule_ids": asyncio.run(main())})
