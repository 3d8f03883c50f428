"""Calls to Hospitable's Public API v2 for one connection: `Authorization: Bearer` with the
connection's personal access token (`HOSPITABLE_ACCESS_TOKEN__<CONNECTION>`, set by an
operator: Hospitable issues it, the hub never does, so there is nothing to refresh), under a
call budget per connection shared by every worker (`call_limits.SharedLimiter`).

Failures become `outbound.call_failed` errors (no token, URL or guest data in them): a 429
pauses the connection for everyone for its `Retry-After` and is retried after it; 5xx and
timeouts are retried; 401/403 (a revoked or mistyped token) is not: an operator must set a new
token, and the next attempt (the next poll, a replayed fetch) reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import Engine

from integration_hub.connectors.call_limits import (
    CallBudget,
    SharedLimiter,
    Window,
    limit_backend,
)
from integration_hub.connectors.hospitable import ACCESS_TOKEN_SECRET, NAME
from integration_hub.connectors.hospitable.settings import HospitableSettings
from integration_hub.connectors.outbound import (
    CALL_TIMEOUT,
    ClientsPerContext,
    call_failed,
    parse_retry_after,
    timed_call,
)
from integration_hub.connectors.partner import CallsContext
from integration_hub.secrets import SecretSource
from integration_hub.settings import Settings

# What a 429 without Retry-After pauses the connection for.
DEFAULT_PAUSE = timedelta(seconds=10)


def limit_key(connection: str) -> str:
    return f"{NAME}:{connection}"


class HospitableApi:
    """One per worker: `HospitableCalls` holds its own, polls share `api_for`'s; `close` ends
    its HTTP client."""

    def __init__(
        self,
        settings: Settings,
        secrets: SecretSource,
        engine: Engine | None,
        hospitable: HospitableSettings,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._secrets = secrets
        self._base = hospitable.api_base_url.rstrip("/")
        per_second = hospitable.requests_per_second
        budget = CallBudget((Window(per_second, 1), Window(per_second * 30, 60)))
        self.limiter = SharedLimiter(NAME, budget, limit_backend(settings, engine))
        self._client = httpx.Client(
            timeout=CALL_TIMEOUT.total_seconds(), transport=transport, follow_redirects=False
        )

    def close(self) -> None:
        self._client.close()

    def token(self, connection: str) -> str | None:
        """The connection's access token, or None when none is set (no credentials)."""
        versions = self._secrets.versions(ACCESS_TOKEN_SECRET.for_instance(connection))
        return versions[0].strip() if versions and versions[0].strip() else None

    def get(
        self,
        connection: str,
        token: str,
        path: str,
        params: Mapping[str, str | int],
        *,
        operation: str,
        missing_ok: bool = False,
    ) -> dict[str, Any] | None:
        """The JSON object `GET <base><path>` answers; None for a 404 when `missing_ok`."""
        key = limit_key(connection)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        with self.limiter.call(key, operation):
            try:
                with timed_call(NAME, operation):
                    response = self._client.get(
                        f"{self._base}{path}", params=dict(params), headers=headers
                    )
            except httpx.HTTPError as error:
                raise call_failed(
                    NAME, operation, status=None, message=type(error).__name__
                ) from None
        status = response.status_code
        if status == 404 and missing_ok:
            return None
        if status == 429:
            retry_after = response.headers.get("retry-after")
            pause = parse_retry_after(retry_after)
            if pause is None:  # "Retry-After: 0" is a pause of 0 s, not the default
                pause = DEFAULT_PAUSE
            self.limiter.pause(key, pause.total_seconds())
            raise call_failed(
                NAME,
                operation,
                status=status,
                message="rate limited",
                retry_after=retry_after or str(int(pause.total_seconds())),
            )
        if status in (401, 403):
            raise call_failed(
                NAME,
                operation,
                status=status,
                code="token_refused",
                message="the connection's access token was refused; set a new one",
                retryable=False,
            )
        if status >= 300:
            raise call_failed(NAME, operation, status=status, message=response.reason_phrase)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise call_failed(NAME, operation, status=status, message="the answer is not JSON")
        return answer


# A poll gets its context per page: the worker's calls context keys one client (and limiter).
# HUB_HOSPITABLE_* are the partner's own settings, read when a worker first calls.
_APIS: ClientsPerContext[HospitableApi] = ClientsPerContext(
    lambda context: HospitableApi(
        context.settings, context.secrets, context.engine, HospitableSettings()
    )
)


def api_for(context: CallsContext) -> HospitableApi:
    return _APIS.get(context)


def close_apis() -> None:
    """Close every kept client (tests, a worker's shutdown)."""
    _APIS.close_all()
