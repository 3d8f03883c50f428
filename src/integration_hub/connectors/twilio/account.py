"""Twilio Auth Token rotation through Twilio's own API (official SDK, Accounts v1).

Order, so that no webhook fails verification and no call fails authentication:
1. create a secondary Auth Token (`POST /v1/AuthTokens/Secondary`) and store it as the newest
   version of TWILIO_AUTH_TOKEN, the primary kept valid for the overlap: the hub now verifies
   with both, and authenticates calls with the secondary, which Twilio accepts;
2. promote it (`POST /v1/AuthTokens/Promote`): Twilio signs with it from now on and deletes the
   old primary, which the hub drops when the overlap ends.
Token values never leave the activities (no workflow input, result or history holds them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import requests
from temporalio import activity
from temporalio.exceptions import ApplicationError
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from integration_hub.connectors.outbound import call_failed, timed_call
from integration_hub.connectors.twilio import ACCOUNT_SID, AUTH_TOKEN
from integration_hub.secrets import SecretSource
from integration_hub.secrets.store import RecordStore

PARTNER = "twilio"
HTTP_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class TokenRotationStep:
    rotation_id: str  # the workflow run: a retried step mints and stores nothing twice
    overlap_hours: float | None = None


class TwilioAuthTokens:
    """Activities that rotate TWILIO_AUTH_TOKEN; they need a writable secrets store."""

    def __init__(self, secrets: SecretSource, *, accounts_base_url: str | None = None) -> None:
        self._secrets = secrets
        self._accounts_base_url = accounts_base_url  # tests: a local server

    def activities(self) -> list[Callable[..., Any]]:
        return [self.create_secondary, self.promote_secondary]

    def _store(self) -> RecordStore:
        if not isinstance(self._secrets, RecordStore):
            raise ApplicationError(
                "secrets are read only with HUB_SECRETS_BACKEND=env", type="secrets.read_only"
            )
        return self._secrets

    def _client(self, responses: list[requests.Response]) -> Client:
        sid = next(iter(self._secrets.versions(ACCOUNT_SID)), None)
        token = next(iter(self._secrets.versions(AUTH_TOKEN)), None)
        if sid is None or token is None:
            raise ApplicationError(
                "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are needed", non_retryable=True
            )
        http = TwilioHttpClient(
            timeout=HTTP_TIMEOUT_SECONDS,
            max_retries=0,  # Temporal owns retries
            request_hooks={"response": [lambda response, *_, **__: responses.append(response)]},
        )
        client = Client(sid, token, http_client=http)
        if self._accounts_base_url:
            client.accounts.base_url = self._accounts_base_url
        return client

    def _call(self, operation: str, do: Callable[[Client], Any]) -> Any:
        responses: list[requests.Response] = []
        try:
            with timed_call(PARTNER, operation):
                return do(self._client(responses))
        except TwilioRestException as err:
            retry_after = responses[-1].headers.get("Retry-After") if responses else None
            raise call_failed(
                PARTNER, operation, status=err.status, message=str(err.msg), code=err.code,
                retry_after=retry_after,
            ) from None  # fmt: skip
        except requests.RequestException as err:
            raise call_failed(PARTNER, operation, status=None, message=type(err).__name__) from None

    @activity.defn(name="twilio.create_secondary_auth_token")
    def create_secondary(self, input: TokenRotationStep) -> bool:
        """Mint a secondary token and store it as the newest version; False when a retried
        step finds it already stored."""
        store = self._store()
        if store.has_rotation(AUTH_TOKEN, input.rotation_id):
            return False
        created = self._call(
            "create_secondary_auth_token",
            lambda client: client.accounts.v1.secondary_auth_token().create(),
        )
        overlap = None if input.overlap_hours is None else timedelta(hours=input.overlap_hours)
        return store.rotate(
            AUTH_TOKEN,
            str(created.secondary_auth_token),
            overlap=overlap,
            rotation_id=input.rotation_id,
        )

    @activity.defn(name="twilio.promote_secondary_auth_token")
    def promote_secondary(self, input: TokenRotationStep) -> None:
        self._call(
            "promote_secondary_auth_token",
            lambda client: client.accounts.v1.auth_token_promotion().update(),
        )
