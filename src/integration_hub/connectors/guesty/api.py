"""Guesty's Open API for one connection: its token, its call limits, one GET (httpx, no SDK).

Token: OAuth2 client credentials, `POST {base}/oauth2/token` (form `grant_type`,
`scope=open-api`, `client_id`, `client_secret`), valid 24 h, no refresh token. Guesty issues
at most 5 per key a day, so the token lives in the secret store (`GUESTY_ACCESS_TOKEN__<CONN>`)
and is fetched by one process at a time (`TokenStore`), never while a stored one is valid;
a budget of its own (3 a day and 2 per half day: at most 5 in any 24 h) keeps a token that
keeps being refused from locking the account out. A 401 forgets the token (the next attempt
issues one); a 403 is a permission the key lacks, which a new token would not fix.

Limits: 15/s, 120/min and 5,000/h per account, shared by every worker (`SharedLimiter`, key
`guesty:<connection>`); a 429 closes the key for its `Retry-After`, and an answer whose
`X-RateLimit-Remaining-*` reached 0 closes it for that window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import httpx
from sqlalchemy import Engine

from integration_hub.connectors.call_limits import CallBudget, SharedLimiter, Window, limit_backend
from integration_hub.connectors.guesty import ACCESS_TOKEN, CLIENT_ID, CLIENT_SECRET, NAME
from integration_hub.connectors.guesty.settings import GuestySettings
from integration_hub.connectors.outbound import call_failed, parse_retry_after, timed_call
from integration_hub.connectors.tokens import IssuedToken, TokenStore
from integration_hub.secrets import SecretSource
from integration_hub.secrets.instances import instance_secret_name
from integration_hub.settings import Settings

SCOPE = "open-api"
TOKEN_BUDGET = CallBudget((Window(3, 86_400), Window(2, 43_200)))
DEFAULT_LIFETIME = 86_400  # when the answer names no expires_in
# X-RateLimit-Remaining-<window>: how long that window is.
WINDOWS = {"second": 1.0, "minute": 60.0, "hour": 3600.0}


def limit_key(connection: str) -> str:
    return f"{NAME}:{connection}"


class GuestyApi:
    """Built once per worker; `http` and `clock` are for tests."""

    def __init__(
        self,
        settings: Settings,
        secrets: SecretSource,
        engine: Engine,
        guesty: GuestySettings,
        *,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secrets = secrets
        self._base = guesty.api_base_url.rstrip("/")
        self._http = http or httpx.Client(timeout=guesty.timeout_seconds)
        self._clock = clock
        self.tokens = TokenStore(engine, secrets, clock=clock)
        backend = limit_backend(settings, engine)
        windows = (Window(guesty.per_second, 1), Window(guesty.per_minute, 60),
                   Window(guesty.per_hour, 3600))  # fmt: skip
        self.limiter = SharedLimiter(NAME, CallBudget(windows), backend, clock=clock)
        self.token_limiter = SharedLimiter(NAME, TOKEN_BUDGET, backend, clock=clock)

    def close(self) -> None:
        self._http.close()

    def credentials(self, connection: str) -> tuple[str, str] | None:
        """The connection's client id and secret, or None when either is not set."""
        client_id = self._secrets.versions(instance_secret_name(CLIENT_ID, connection))
        secret = self._secrets.versions(instance_secret_name(CLIENT_SECRET, connection))
        return (client_id[0], secret[0]) if client_id and secret else None

    def get(
        self, connection: str, operation: str, path: str, params: dict[str, str] | None = None
    ) -> httpx.Response | None:
        """GET `path` (under /v1) as `connection`: the answer, None for a 404, else the
        failure (retryable or not) for Temporal to act on."""
        name = instance_secret_name(ACCESS_TOKEN, connection)
        token = self.tokens.token(name, lambda _: self._issue(connection, operation))
        key = limit_key(connection)
        with self.limiter.call(key, operation), timed_call(NAME, operation):
            try:
                response = self._http.get(
                    f"{self._base}/v1{path}",
                    params=params,
                    headers={
                        "Authorization": f"Bearer {token.access}",
                        "Accept": "application/json",
                    },
                )
            except httpx.HTTPError as error:
                raise call_failed(
                    NAME, operation, status=None, message=type(error).__name__
                ) from None
            self._close_spent_windows(key, response)
            if response.status_code == 404:
                return None
            if response.status_code == 401:
                self.tokens.refused(name, token.access)
                raise call_failed(
                    NAME, operation, status=401, retryable=True,
                    message="the access token was refused; the next attempt gets a new one",
                )  # fmt: skip
            self._raise_for(key, operation, response)
            return response

    def _issue(self, connection: str, operation: str) -> IssuedToken:
        """A new token (only ever called under the connection's token lock)."""
        found = self.credentials(connection)
        if found is None:
            raise call_failed(
                NAME, operation, status=None, retryable=False,
                message="the connection has no client id and secret",
            )  # fmt: skip
        client_id, client_secret = found
        key, token_operation = f"{limit_key(connection)}:token", "oauth2.token"
        with self.token_limiter.call(key, token_operation), timed_call(NAME, token_operation):
            try:
                response = self._http.post(
                    f"{self._base}/oauth2/token",
                    data={"grant_type": "client_credentials", "scope": SCOPE,
                          "client_id": client_id, "client_secret": client_secret},
                    headers={"Accept": "application/json"},
                )  # fmt: skip
            except httpx.HTTPError as error:
                raise call_failed(
                    NAME, token_operation, status=None, message=type(error).__name__
                ) from None
            if response.status_code in (400, 401, 403):
                raise call_failed(
                    NAME, token_operation, status=response.status_code, retryable=False,
                    message="Guesty refused the connection's client id and secret",
                )  # fmt: skip
            self._raise_for(key, token_operation, response)
            answer = _json_object(response)
        access = answer.get("access_token") if answer else None
        if not isinstance(access, str) or not access:
            raise call_failed(NAME, token_operation, status=response.status_code,
                              message="the answer holds no access_token")  # fmt: skip
        lifetime = answer.get("expires_in") if answer else None
        seconds = lifetime if isinstance(lifetime, int) and lifetime > 0 else DEFAULT_LIFETIME
        now = self._clock()
        return IssuedToken(access=access, expires_at=now + seconds, issued_at=now)

    def _raise_for(self, key: str, operation: str, response: httpx.Response) -> None:
        status = response.status_code
        if status < 300:
            return
        retry_after = response.headers.get("retry-after")
        if status == 429:
            delay = parse_retry_after(retry_after) or timedelta(seconds=1)
            self.limiter.pause(key, delay.total_seconds())
        raise call_failed(NAME, operation, status=status, message=f"HTTP {status}",
                          retry_after=retry_after)  # fmt: skip

    def _close_spent_windows(self, key: str, response: httpx.Response) -> None:
        for window, seconds in WINDOWS.items():
            if response.headers.get(f"x-ratelimit-remaining-{window}", "").strip() == "0":
                self.limiter.pause(key, seconds)


def _json_object(response: httpx.Response) -> dict[str, object] | None:
    try:
        answer = response.json()
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None
