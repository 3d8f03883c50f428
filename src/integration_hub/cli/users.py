"""`hub users invite|invitations|revoke`: invitations through the auth provider, by way of
the admin API (an admin token)."""

from __future__ import annotations

from typing import Annotated

import typer

from integration_hub.cli.common import DEFAULT_URL, UrlOption, admin_api, answer, print_json

users_app = typer.Typer(
    help="Invite users through the auth provider; list and revoke invitations.",
    no_args_is_help=True,
)


@users_app.command("invite")
def users_invite(
    email: str,
    role: Annotated[str, typer.Option(help="viewer, operator or admin.")] = "viewer",
    url: UrlOption = DEFAULT_URL,
) -> None:
    """Invite EMAIL with ROLE; the provider sends the invitation e-mail."""
    with admin_api(url) as client:
        print_json(answer(client.post("/api/invitations", json={"email": email, "role": role})))


@users_app.command("invitations")
def users_invitations(
    url: UrlOption = DEFAULT_URL,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    cursor: str | None = None,
    status: Annotated[
        list[str] | None, typer.Option(help="pending, sent, accepted, expired, revoked, failed.")
    ] = None,
) -> None:
    """Invitations, oldest first, with their status."""
    params: dict[str, str | int | list[str]] = {"limit": limit}
    if cursor:
        params["cursor"] = cursor
    if status:
        params["status"] = status
    with admin_api(url) as client:
        print_json(answer(client.get("/api/invitations", params=params)))


@users_app.command("revoke")
def users_revoke(invitation_id: str, url: UrlOption = DEFAULT_URL) -> None:
    """Revoke an open invitation (at the provider too)."""
    with admin_api(url) as client:
        print_json(answer(client.delete(f"/api/invitations/{invitation_id}")))
