"""`hub secrets set|rotate|list|import-env`: the store HUB_SECRETS_BACKEND names. Values are
read from standard input or a file, never from the command line, and never printed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from integration_hub.cli.common import print_json, settings
from integration_hub.cli.rotations import rotation_schedule

if TYPE_CHECKING:
    from integration_hub.secrets.store import RecordStore

FromFile = Annotated[
    Path | None,
    typer.Option(
        "--from-file", help="Read the value from this file (default: standard input).",
        exists=True, dir_okay=False,
    ),
]  # fmt: skip


def writable_store() -> RecordStore:
    """The writable store, or exit 2 saying why (the env backend, an unsafe key file)."""
    from integration_hub.secrets import SecretStoreError, open_secret_store

    try:
        store = open_secret_store(settings())
    except SecretStoreError as error:
        typer.echo(f"secrets store: {error.detail}", err=True)
        raise typer.Exit(2) from None
    if store is None:
        typer.echo(
            "HUB_SECRETS_BACKEND=env is read only: use file or aws to store secrets", err=True
        )
        raise typer.Exit(2)
    return store


def read_value(name: str, from_file: Path | None) -> str:
    if from_file is None and sys.stdin.isatty():
        typer.echo(f"{name}: type the value, then Enter and Ctrl-D", err=True)
    raw = from_file.read_text() if from_file is not None else sys.stdin.read()
    value = raw.rstrip("\r\n")  # the newline `echo` or an editor adds is not part of it
    if not value:
        typer.echo(f"{name}: no value read", err=True)
        raise typer.Exit(2)
    return value


def duration(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    return f"{days}d{rest // 3600}h" if days else f"{rest // 3600}h{rest % 3600 // 60}m"


def secrets_set(name: str, from_file: FromFile = None) -> None:
    """Store NAME (read from stdin or --from-file); replaces every version at once."""
    store = writable_store()
    store.set(name, read_value(name, from_file))
    typer.echo(f"{name}: set")


def secrets_rotate(
    name: str,
    from_file: FromFile = None,
    overlap_hours: Annotated[
        float | None, typer.Option(help="How long the previous version stays valid.")
    ] = None,
) -> None:
    """Make a new value (stdin or --from-file) current; the previous stays valid for the overlap."""
    from datetime import timedelta

    store = writable_store()
    overlap = None if overlap_hours is None else timedelta(hours=overlap_hours)
    store.rotate(name, read_value(name, from_file), overlap=overlap)
    window = overlap or store.policy.overlap_for(name)
    typer.echo(
        f"{name}: rotated; the previous version stays valid for {duration(window.total_seconds())}"
    )


def secrets_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Stored secrets: versions, age, when the previous version expires, max age. No values."""
    from datetime import UTC, datetime

    infos = writable_store().describe()
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
        print_json(rows)
        return
    for row, info in zip(rows, infos, strict=True):
        expiry = (
            f", previous valid until {row['previous_expires_at']}"
            if row["previous_expires_at"]
            else ""
        )
        overdue = " PAST MAX AGE, rotate it" if info.past_max_age else ""
        typer.echo(
            f"{info.name}: {info.versions} version(s), age {duration(info.age_seconds)} "
            f"(max {duration(info.max_age_seconds)}){expiry}{overdue}"
        )
    if not rows:
        typer.echo("no secrets stored (names not stored are read from the environment/.env)")


def secrets_import_env() -> None:
    """Copy the partners' secrets (every name a partner declares, and every instance of a family
    declared per instance) from env/.env into the store."""
    from integration_hub.orchestration.maintenance import known_secret_names

    store = writable_store()
    imported: list[str] = []
    kept: list[str] = []
    # The instances env/.env holds (the store's own are stored already).
    for name in known_secret_names(secrets=store.fallback):
        values = store.fallback.versions(name)
        if not values:
            continue
        if store.holds(name):
            kept.append(name)
            continue
        store.adopt(name, values)
        imported.append(name)
    print_json({"imported": imported, "already_stored": kept})


def secrets_app() -> typer.Typer:
    """The `hub secrets` sub-app; `schedule` takes one option per partner rotation."""
    app = typer.Typer(
        help="Partner secrets in the store HUB_SECRETS_BACKEND names; values are never shown.",
        no_args_is_help=True,
    )
    app.command("set")(secrets_set)
    app.command("rotate")(secrets_rotate)
    app.command("list")(secrets_list)
    app.command("import-env")(secrets_import_env)
    app.command("schedule")(rotation_schedule())
    return app
