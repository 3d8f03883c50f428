"""Auth0 Management API calls out: users and their roles (the users-and-roles mirror), and the
Authorization token of a log stream (secrets rotation).

An M2M application's client-credentials token (`POST {AUTH_ISSUER}/oauth/token`, audience
`{AUTH_ISSUER}/api/v2/`) is cached until shortly before it expires; a 401 from the API drops it
and the retry fetches a new one. Each call is a Temporal activity and Temporal owns retries:
429 (after `Retry-After` or `X-RateLimit-Reset`) and 5xx are retried, other 4xx are not.
The inbound log stream connector is `webhook.py` (the two do not import each other); the
token rotation's workflow and schedule are `rotation.py`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import quote

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import httpx

    from integration_hub.connectors.auth0 import CLIENT_ID, CLIENT_SECRET, ISSUER
    from integration_hub.connectors.outbound import (
        CallLimiter,
        call_activity,
        call_failed,
        refuse,
        timed_call,
    )
    from integration_hub.secrets import SecretSource

PARTNER = "auth0"
HTTP_TIMEOUT_SECONDS = 20.0  # under CALL_TIMEOUT: the call gives up before Temporal does
TOKEN_REFRESH_MARGIN_SECONDS = 60.0  # fetch a new token this long before the old one expires
ROLES_PAGE_SIZE = 100  # the largest page Auth0 serves
# Management API limits depend on the plan; the lowest tier allows 2 requests per second.
DEFAULT_PER_MINUTE = 120


@dataclass(frozen=True)
class UserRef:
    user_id: str  # e.g. auth0|64f...


@dataclass(frozen=True)
class Auth0User:
    user_id: str
    email: str | None
    email_verified: bool
    name: str | None
    given_name: str | None
    family_name: str | None
    blocked: bool
    updated_at: str | None


@dataclass(frozen=True)
class Auth0Role:
    id: str
    name: str
    description: str | None = None


@dataclass(frozen=True)
class UserSnapshot:
    user: Auth0User
    roles: list[Auth0Role]


@dataclass(frozen=True)
class LogStreamToken:
    stream_id: str  # lst_...
    token: str  # the exact Authorization value Auth0 will send (e.g. "Bearer <token>")


def _retry_after(headers: httpx.Headers, now: float) -> str | None:
    """Retry-After when sent, else X-RateLimit-Reset (a Unix time) as seconds from now."""
    if "retry-after" in headers:
        return headers["retry-after"]
    reset = headers.get("x-ratelimit-reset", "")
    if reset.isdigit():
        return str(max(0, math.ceil(int(reset) - now)))
    return None


def _error_code(response: httpx.Response) -> str | int:
    try:
        body = response.json()
    except ValueError:
        return response.status_code
    code = body.get("errorCode") or body.get("error") if isinstance(body, dict) else None
    return code if isinstance(code, str) else response.status_code


class Auth0Management:
    """Auth0's activities; built once per worker with the secrets. `http` and `clock` are for
    tests (a local server, a clock that moves)."""

    def __init__(
        self,
        secrets: SecretSource,
        *,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        per_minute: int = DEFAULT_PER_MINUTE,
    ) -> None:
        self._issuer = next(iter(secrets.versions(ISSUER)), "").rstrip("/")
        self._client_id = next(iter(secrets.versions(CLIENT_ID)), "")
        self._client_secret = next(iter(secrets.versions(CLIENT_SECRET)), "")
        self._http = http or httpx.Client(timeout=HTTP_TIMEOUT_SECONDS)
        self._clock = clock
        self._limiter = CallLimiter(PARTNER, {"management": per_minute})
        self._lock = threading.RLock()
        self._token: tuple[str, float] | None = None  # (access token, refresh after)

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [self.get_user, self.get_user_roles, self.update_log_stream_token]

    def preflight(self) -> None:
        """Nothing here is unsafe to start with; a missing secret fails the calls, not the hub."""

    def close(self) -> None:
        self._http.close()

    def _send(self, operation: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request; any answer but 2xx becomes the activity's error (401: see `_api`)."""
        try:
            with timed_call(PARTNER, operation):
                response = self._http.request(method, url, **kwargs)
                if not response.is_success:
                    self._raise(operation, response)
                return response
        except httpx.HTTPError as error:  # no answer: connection refused, reset, timed out
            raise call_failed(
                PARTNER, operation, status=None, message=type(error).__name__
            ) from None

    def _raise(self, operation: str, response: httpx.Response) -> NoReturn:
        rejected = response.status_code == 401 and operation != "oauth.token"
        if rejected:
            with self._lock:
                self._token = None  # revoked or expired early: the retry fetches a new one
        raise call_failed(
            PARTNER,
            operation,
            status=response.status_code,
            message=response.reason_phrase,
            code=_error_code(response),
            retry_after=_retry_after(response.headers, self._clock()),
            retryable=True if rejected else None,
        )

    def _access_token(self, operation: str) -> str:
        missing = [n for n, v in ((ISSUER, self._issuer), (CLIENT_ID, self._client_id),
                                  (CLIENT_SECRET, self._client_secret)) if not v]  # fmt: skip
        if missing:
            raise refuse(PARTNER, operation, f"{', '.join(missing)} not set")
        with self._lock:
            if self._token and self._clock() < self._token[1]:
                return self._token[0]
            response = self._send(
                "oauth.token",
                "POST",
                f"{self._issuer}/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self._client_id,
                    "client_secret": self._client_secret,
                    "audience": f"{self._issuer}/api/v2/",
                },
            )
            body = response.json()
            lifetime = float(body.get("expires_in") or 0)
            self._token = (
                body["access_token"],
                self._clock() + lifetime - TOKEN_REFRESH_MARGIN_SECONDS,
            )
            return self._token[0]

    def _api(self, operation: str, method: str, path: str, **kwargs: Any) -> Any:
        token = self._access_token(operation)
        self._limiter.acquire("management")
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{self._issuer}/api/v2/{path}"
        response = self._send(operation, method, url, headers=headers, **kwargs)
        return response.json() if response.content else None

    @activity.defn(name="auth0_get_user")
    def get_user(self, input: UserRef) -> Auth0User:
        user = self._api("users.get", "GET", f"users/{quote(input.user_id, safe='')}")
        return Auth0User(
            user_id=user["user_id"],
            email=user.get("email"),
            email_verified=bool(user.get("email_verified")),
            name=user.get("name"),
            given_name=user.get("given_name"),
            family_name=user.get("family_name"),
            blocked=bool(user.get("blocked")),
            updated_at=user.get("updated_at"),
        )

    @activity.defn(name="auth0_get_user_roles")
    def get_user_roles(self, input: UserRef) -> list[Auth0Role]:
        roles: list[Auth0Role] = []
        path = f"users/{quote(input.user_id, safe='')}/roles"
        for page in range(1000):  # bounded: 100,000 roles is past any tenant's
            batch = self._api(
                "users.roles", "GET", path, params={"page": page, "per_page": ROLES_PAGE_SIZE}
            )
            roles.extend(Auth0Role(r["id"], r["name"], r.get("description")) for r in batch)
            if len(batch) < ROLES_PAGE_SIZE:
                break
        return roles

    @activity.defn(name="auth0_update_log_stream_token")
    def update_log_stream_token(self, input: LogStreamToken) -> None:
        """Set the Authorization value a custom-webhook log stream sends (a rotation step)."""
        self._api(
            "log_streams.update",
            "PATCH",
            f"log-streams/{quote(input.stream_id, safe='')}",
            json={"sink": {"httpAuthorization": input.token}},
        )


@workflow.defn(name="auth0_user_snapshot")
class Auth0UserSnapshotWorkflow:
    """A user and their roles as Auth0 has them now, for refreshing the mirror.
    Start with id `auth0_user_snapshot/{user_id}`."""

    @workflow.run
    async def run(self, input: UserRef) -> UserSnapshot:
        user = await call_activity(Auth0Management.get_user, input)
        roles = await call_activity(Auth0Management.get_user_roles, input)
        return UserSnapshot(user, roles)
