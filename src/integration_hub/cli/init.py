"""`hub init`: local defaults in .env (the admin token) and the secrets store (every partner
secret whose declaration says how to make a local value)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import typer

from integration_hub.cli.common import settings

ADMIN_VARIABLE = "HUB_ADMIN_TOKEN"  # a setting read from .env, never a store entry


def local_defaults() -> dict[str, str]:
    """A fresh value for the admin token and for each partner secret the hub may choose."""
    from integration_hub.connectors.partners import PARTNERS

    defaults = {ADMIN_VARIABLE: secrets.token_urlsafe(32)}
    for partner in PARTNERS:
        for secret in partner.secrets:
            if secret.local is not None:
                defaults[secret.name] = secret.local()
    return defaults


def init(env_file: Path = Path(".env")) -> None:
    """Write local defaults to .env (admin token, local webhook secrets); keeps what is set."""
    from integration_hub.home import UnsafeFileMode, exposure, prepare_home

    try:  # HUB_HOME 0700 and the umask before the secrets store writes there
        prepare_home(settings().home)
    except UnsafeFileMode as refusal:
        typer.echo(f"refusing to initialise: {refusal.detail}", err=True)
        raise typer.Exit(2) from None
    existing = env_file.read_text() if env_file.exists() else ""
    missing = {
        k: v for k, v in local_defaults().items() if f"{k}=" not in existing and k not in os.environ
    }
    stored, held = init_store(missing, env_file)  # partner secrets go to the store, if writable
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


def init_store(defaults: dict[str, str], env_file: Path) -> tuple[list[str], list[str]]:
    """Local partner secrets into a writable store (names it lacks); not the admin token.
    Returns (stored now, held already); both empty under the read-only `env` backend."""
    from integration_hub.secrets import open_secret_store

    store = open_secret_store(settings(), env_file=env_file)
    if store is None:
        return [], []
    stored: list[str] = []
    held: list[str] = []
    for name, value in defaults.items():
        if name == ADMIN_VARIABLE:
            continue
        if store.holds(name):
            held.append(name)
        else:
            store.set(name, value)
            stored.append(name)
    return stored, held
