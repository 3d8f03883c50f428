"""Auth0: log streams in (users, roles, sign-ins, bearer-token auth) to the users-and-roles
mirror; the Management API out (user snapshots; `rotation`: the log stream's token).

The declaration is static and cheap: the factories import the modules that do the work only
when the composition root calls them (`hub --help` reads every declaration).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from integration_hub.connectors.identity_provider import IdentityProvider, SignInPolicy
from integration_hub.connectors.partner import (
    CallsContext,
    Partner,
    Rotation,
    Secret,
    UpkeepContext,
    WebhookContext,
)

if TYPE_CHECKING:
    from temporalio.client import Client

    from integration_hub.connectors.base import Connector
    from integration_hub.connectors.outbound import PartnerCalls
    from integration_hub.secrets import SecretSource
    from integration_hub.settings import Settings

LOG_STREAM_TOKEN = "AUTH0_LOG_STREAM_TOKEN"  # noqa: S105 (a variable name, not a value)
ISSUER, CLIENT_ID, CLIENT_SECRET = "AUTH_ISSUER", "AUTH_CLIENT_ID", "AUTH_CLIENT_SECRET"
ORGANIZATION_ID = "AUTH0_ORGANIZATION_ID"  # invitations go to this organization


def _logout_url(issuer: str, client_id: str, return_to: str) -> str:
    # Auth0 tenants without RP-Initiated Logout enabled end the session at /v2/logout; the
    # return URL must be listed under the application's Allowed Logout URLs.
    query = urlencode({"client_id": client_id, "returnTo": return_to})
    return f"{issuer.rstrip('/')}/v2/logout?{query}"


def _webhook(context: WebhookContext) -> Connector:
    from integration_hub.connectors.auth0.webhook import Auth0Connector

    return Auth0Connector()


def _calls(context: CallsContext) -> PartnerCalls:
    from integration_hub.connectors.auth0.invitations import Auth0Invitations

    return Auth0Invitations(context.secrets)


def _sign_in_policy(settings: Settings, secrets: SecretSource, timeout: float) -> SignInPolicy:
    from integration_hub.connectors.auth0.invitations import sign_in_policy

    return sign_in_policy(settings, secrets, timeout)


def _workflows() -> tuple[type, ...]:
    from integration_hub.connectors.auth0.calls import Auth0UserSnapshotWorkflow
    from integration_hub.connectors.auth0.rotation import RotateAuth0LogStreamWorkflow

    return (Auth0UserSnapshotWorkflow, RotateAuth0LogStreamWorkflow)


def _upkeep(context: UpkeepContext) -> Sequence[Callable[..., Any]]:
    from integration_hub.connectors.auth0.rotation import upkeep

    return upkeep(context)


async def _rotation_schedule(
    client: Client, task_queue: str, stream_id: str | None, every: timedelta
) -> str:
    from integration_hub.connectors.auth0.rotation import ensure_rotation_schedule

    return await ensure_rotation_schedule(client, task_queue, stream_id, every)


PARTNER = Partner(
    name="auth0",
    display_name="Auth0",
    priority="P0",
    summary="Auth provider: log streams to the roles mirror; Management API snapshots out.",
    capabilities=frozenset({"auth"}),
    issuer_hosts=(".auth0.com",),
    logout_url=_logout_url,
    secrets=(
        # The token is ours to choose (`hub init` makes a 43-character one); long enough to guess.
        Secret(
            LOG_STREAM_TOKEN,
            format=r"\S{24,}",
            used_for="webhook",
            local=lambda: secrets.token_urlsafe(32),
            source=(
                "chosen by you (`hub init` makes one locally), then entered at Auth0 Dashboard "
                "> Monitoring > Streams > your Custom Webhook stream > Authorization Token"
            ),
        ),
        Secret(
            ISSUER,
            format=r"https://\S+",
            source="Auth0 Dashboard > Applications > your application > Settings > Domain, "
            "prefixed with https://",
        ),
        Secret(
            CLIENT_ID,
            format=r"[0-9A-Za-z]{16,}",
            source=(
                "Auth0 Dashboard > Applications > a Regular Web Application (Allowed Callback "
                "URLs: HUB_PUBLIC_BASE_URL/status/login/callback; Allowed Logout URLs: "
                "HUB_PUBLIC_BASE_URL/status/login), also authorized for the Management API "
                "(APIs > Auth0 Management API > Machine to Machine Applications) > Settings > "
                "Client ID"
            ),
        ),
        Secret(
            CLIENT_SECRET,
            format=r"[0-9A-Za-z_-]{32,}",
            source="the same application > Settings > Client Secret",
        ),
        Secret(
            ORGANIZATION_ID,
            format=r"org_[0-9A-Za-z]+",
            required=False,  # only inviting users needs it
            source="Auth0 Dashboard > Organizations > your organization > Organization ID",
        ),
    ),
    identity=IdentityProvider(
        invitation_secrets=(ISSUER, CLIENT_ID, CLIENT_SECRET, ORGANIZATION_ID),
        sign_in_check=_sign_in_policy,
    ),
    webhook=_webhook,
    calls=_calls,
    workflows=_workflows,
    upkeep=_upkeep,
    rotations=(
        Rotation(
            secret=LOG_STREAM_TOKEN,
            option="auth0-log-stream",
            help="Also rotate this Auth0 log stream's token (lst_...).",
            schedule=_rotation_schedule,
            takes_value=True,
        ),
    ),
)
