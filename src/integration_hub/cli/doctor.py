"""`hub doctor`: every partner's secrets (set? well formed? never values) and its checklist."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from integration_hub.cli.common import print_json, settings

if TYPE_CHECKING:
    from integration_hub.doctor import PartnerReport
    from integration_hub.secrets import SecretSource


def doctor(
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when a P0 partner is incomplete.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    markdown: Annotated[
        bool,
        typer.Option(
            "--markdown",
            help="Print the checklist the declarations make (infra/secrets/README.md), "
            "reading nothing from this machine.",
        ),
    ] = False,
) -> None:
    """Every partner: its secrets (set? well formed? never values) and its sandbox checklist."""
    if markdown:
        if strict or as_json:
            typer.echo("--markdown prints the declared checklist: no --strict or --json", err=True)
            raise typer.Exit(2)
        from integration_hub.checklist import markdown as checklist

        # Not typer.echo's newline: the output is the committed file, byte for byte.
        typer.echo(checklist(), nl=False)
        return
    from sqlalchemy.engine import make_url

    from integration_hub.doctor import diagnose
    from integration_hub.errors import UnsafeConfiguration
    from integration_hub.secrets import open_secret_source
    from integration_hub.sending_domain import domain_checks
    from integration_hub.storage.engine import make_engine

    configured = settings()
    url = configured.resolved_database_url()
    database = make_url(url).database
    # Doctor reads; it never creates the embedded database as a side effect.
    fresh = make_url(url).get_backend_name() == "sqlite" and not Path(database or "").exists()
    engine = None if fresh else make_engine(url)
    source = open_secret_source(configured)
    try:
        reports = diagnose(
            secrets=source,
            engine=engine,
            public_base_url=configured.public_base_url,
            settings=configured,
            domain_checks=domain_checks(configured),
        )
    except UnsafeConfiguration as refusal:  # a partner's configuration (an IVR flow file)
        typer.echo(f"the hub would refuse to start: {refusal.detail}", err=True)
        raise typer.Exit(2) from None
    finally:
        if engine is not None:
            engine.dispose()
    if as_json:
        print_json([r.as_dict() for r in reports])
    else:
        for report in reports:
            show(report)
        typer.echo(signin_hint(configured.public_base_url, configured.auth_issuer, source))
    if strict and any(r.priority == "P0" and not r.complete for r in reports):
        raise typer.Exit(1)


def signin_hint(public_base_url: str | None, issuer: str | None, source: SecretSource) -> str:
    """The panel's sign-in URL to try, and whether the provider's sign-in is on."""
    base = (public_base_url or "<HUB_PUBLIC_BASE_URL>").rstrip("/")
    names = ("AUTH_ISSUER", "AUTH_CLIENT_ID", "AUTH_CLIENT_SECRET")
    if all((name == "AUTH_ISSUER" and issuer) or source.versions(name) for name in names):
        return f"panel sign-in: try {base}/status/login (provider callback {base}/status/login/callback)"
    return f"panel sign-in: {base}/status/login, pasted token only (set {', '.join(names)})"


def show(report: PartnerReport) -> None:
    mark = "ok" if report.complete else "incomplete"
    roles = [
        k
        for k, v in (
            ("webhooks", report.receives_webhooks),
            ("calls out", report.calls_out),
            ("polls", report.polling),
        )
        if v
    ]
    typer.echo(f"{report.partner} [{report.priority}] {mark} ({', '.join(roles)})")
    for secret in report.secrets:
        state = f"set ({secret.versions} versions)" if secret.versions > 1 else "set"
        if secret.no_instance_yet:
            typer.echo(f"  {secret.name}: no instance yet (one secret per instance, NAME__<ID>)")
            continue
        if secret.versions == 0:
            state = "NOT SET" if secret.required else "not set (optional)"
        elif secret.well_formed is False:
            state += ", MALFORMED"
        elif secret.well_formed:
            state += ", well formed"
        instance = f" (instance {secret.instance})" if secret.instance is not None else ""
        typer.echo(f"  {secret.name}{instance}: {state}")
    for item in report.checklist:
        box = {True: "x", False: " ", None: "?"}[item.done]
        hint = f"  -> {item.how}" if not item.done and item.how else ""
        typer.echo(f"  [{box}] {item.step}{hint}")
    for poll in report.polls:
        instance = f" [{poll.instance}]" if poll.instance else ""
        success = poll.last_success_at.isoformat() if poll.last_success_at else "never"
        typer.echo(f"  poll {poll.source}{instance}: last success {success}")
        if poll.last_error:
            typer.echo(f"    last error: {poll.last_error}")
    if report.sign_in is not None:
        typer.echo(f"  passkeys: {report.sign_in.passkeys}")
        typer.echo(f"  MFA: {report.sign_in.mfa}")
        typer.echo(f"  sign-in to try: {report.sign_in.url}")
    for check in report.domain:
        state = {True: "found", False: "MISSING", None: "could not check"}[check.found]
        typer.echo(f"  {check.purpose} {check.kind} {check.name}: {state}")
    for warning in report.warnings:
        typer.echo(f"  ! {warning}")
    for note in report.notes:
        typer.echo(f"  note: {note}")
