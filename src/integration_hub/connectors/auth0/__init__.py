"""Auth0: log streams in (users, roles, sign-ins, bearer-token auth) to the users-and-roles
mirror; the Management API out (user snapshots; `rotation`: the log stream's token)."""

from __future__ import annotations

import secrets

from integration_hub.connectors.auth0 import rotation
from integration_hub.connectors.auth0.calls import (
    CLIENT_ID,
    CLIENT_SECRET,
    ISSUER,
    Auth0Management,
    Auth0UserSnapshotWorkflow,
)
from integration_hub.connectors.auth0.webhook import Auth0Connector
from integration_hub.connectors.partner import Partner, Secret

PARTNER = Partner(
    name="auth0",
    priority="P0",
    summary="Auth provider: log streams to the roles mirror; Management API snapshots out.",
    capabilities=frozenset({"auth"}),
    issuer_hosts=(".auth0.com",),
    secrets=(
        # The token is ours to choose (`hub init` makes a 43-character one); long enough to guess.
        Secret(
            rotation.LOG_STREAM_TOKEN,
            format=r"\S{24,}",
            used_for="webhook",
            local=lambda: secrets.token_urlsafe(32),
        ),
        Secret(ISSUER, format=r"https://\S+"),
        Secret(CLIENT_ID, format=r"[0-9A-Za-z]{16,}"),
        Secret(CLIENT_SECRET, format=r"[0-9A-Za-z_-]{32,}"),
    ),
    webhook=lambda context: Auth0Connector(),
    calls=lambda context: Auth0Management(context.secrets),
    workflows=(Auth0UserSnapshotWorkflow, rotation.RotateAuth0LogStreamWorkflow),
    upkeep=rotation.upkeep,
    rotations=(rotation.ROTATION,),
)
