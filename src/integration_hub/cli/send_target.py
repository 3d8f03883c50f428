"""Where `hub send` posts a per-endpoint partner's sample (`Manifest.secret_per_endpoint`, a
PMS): /webhooks/<partner>/<connection>, signed with the connection's own secret.

The connection is `--connection`, else the partner's only one, else a demo one made here:
manager `demo` and connection `<partner>-demo`, only on the local file store (a demo account
never lands in a shared store). A connection whose webhook secret is not set gets a value made
locally, in the shape the family declares (`testing.well_formed_secret`: a token, or
`user:password` for a Basic-auth partner); the partner's `sign` takes it as it is."""

from __future__ import annotations

from dataclasses import dataclass

import typer

from integration_hub.cli.common import connect_database
from integration_hub.settings import Settings

DEMO_MANAGER = "demo"


@dataclass(frozen=True)
class Target:
    connection: str
    secret: str
    made_secret: bool  # stored just now: the running hub reads it within a second or so


def demo_connection_id(partner: str) -> str:
    return f"{partner}-demo"


def _refuse(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(2)


def resolve(configured: Settings, partner: str, family: str, connection: str | None) -> Target:
    from integration_hub.secrets import open_secret_source, open_secret_store
    from integration_hub.secrets.instances import instance_secret_name, is_instance_id
    from integration_hub.storage import managers
    from integration_hub.storage.engine import begin_write

    if connection is not None and not is_instance_id(connection):
        raise _refuse("--connection: an instance id ([a-z0-9][a-z0-9_-]{0,62})")
    local = configured.secrets_backend == "file"
    engine = connect_database(configured.resolved_database_url())
    try:
        with begin_write(engine) as db:
            known = [c["id"] for c in managers.list_connections(db, partner=partner, limit=2)]
            if connection is not None:
                if managers.get_connection(db, connection_id=connection) is None:
                    raise _refuse(f"no connection {connection!r}: see `hub connections list`")
                chosen = connection
            elif len(known) == 1:
                chosen = known[0]
            elif known:
                raise _refuse(f"{partner} has several connections: give --connection")
            elif not local:
                raise _refuse(
                    f"{partner} has no connection: add one (`hub connections add`), or use the "
                    "local file store (HUB_SECRETS_BACKEND=file) for a demo one"
                )
            else:
                chosen = demo_connection_id(partner)
                if managers.get_manager(db, manager_id=DEMO_MANAGER) is None:
                    managers.add_manager(db, manager_id=DEMO_MANAGER, name="Demo manager")
                managers.add_connection(
                    db, connection_id=chosen, partner=partner, manager_id=DEMO_MANAGER,
                    label="hub send demo",
                )  # fmt: skip
    finally:
        engine.dispose()
    name = instance_secret_name(family, chosen)
    versions = open_secret_source(configured).versions(name)
    if versions:
        return Target(chosen, versions[0], made_secret=False)
    store = open_secret_store(configured) if local else None
    if store is None:
        raise _refuse(f"{name} is not set (`hub secrets set {name}`)")
    from integration_hub.connectors.partners import partner_named
    from integration_hub.testing import well_formed_secret

    value = well_formed_secret(partner_named(partner).secret(family).format)
    store.set(name, value)
    typer.echo(f"{name}: set to a value made locally", err=True)
    return Target(chosen, value, made_secret=True)
