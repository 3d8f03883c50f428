"""One GET to Lodgify's API for one connection: the account's key in `X-ApiKey`, under the
connection's shared call budget, failures as `call_failed`.

Lodgify documents no rate limit (pms.md §3): a conservative budget per connection
(HUB_LODGIFY_CALLS_PER_SECOND / _PER_MINUTE) shared by every worker; a 429 closes the
connection's key for everyone until its `Retry-After`. A 401/403 is a wrong or revoked key:
it fails for good (the next scheduled poll tries again, once someone sets a new one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from sqlalchemy import Engine

from integration_hub.connectors.call_limits import CallBudget, SharedLimiter, Window, limit_backend
from integration_hub.connectors.lodgify import API_KEY, NAME
from integration_hub.connectors.lodgify.settings import LodgifySettings
from integration_hub.connectors.outbound import (
    ClientsPerContext,
    call_failed,
    parse_retry_after,
    timed_call,
)
from integration_hub.connectors.partner import CallsContext
from integration_hub.secrets import SecretSource
from integration_hub.secrets.instances import instance_secret_name
from integration_hub.settings import Settings

TIMEOUT = httpx.Timeout(20.0, connect=5.0)


class NoCredentials(Exception):
    """The connection has no API key: names the secret, never a value."""


class LodgifyApi:
    def __init__(
        self,
        settings: Settings,
        secrets: SecretSource,
        engine: Engine | None,
        own: LodgifySettings,
        *,
        http: httpx.Client | None = None,
    ) -> None:
        self.base_url = own.api_base_url.rstrip("/")
        self.first_poll_days = own.first_poll_days  # read by the bookings poll
        self._secrets = secrets
        self._http = http or httpx.Client(timeout=TIMEOUT, follow_redirects=False)
        budget = CallBudget(
            windows=(
                Window(own.calls_per_second, 1),
                Window(own.calls_per_minute, 60),
            )
        )
        self.limiter = SharedLimiter(NAME, budget, limit_backend(settings, engine))

    def close(self) -> None:
        self._http.close()

    def get(self, connection: str, operation: str, path: str, params: Mapping[str, str]) -> Any:
        name = instance_secret_name(API_KEY, connection)
        versions = self._secrets.versions(name)
        if not versions:
            raise NoCredentials(f"{name} is not set")
        key = f"{NAME}:{connection}"
        with self.limiter.call(key, operation), timed_call(NAME, operation):
            try:
                response = self._http.get(
                    self.base_url + path,
                    params=params,
                    headers={"X-ApiKey": versions[0].strip(), "Accept": "application/json"},
                )
            except httpx.HTTPError as error:
                raise call_failed(
                    NAME, operation, status=None, message=type(error).__name__
                ) from None
        if response.status_code == 429:
            retry_after = response.headers.get("retry-after")
            delay = parse_retry_after(retry_after)
            self.limiter.pause(key, delay.total_seconds() if delay is not None else 60.0)
            raise call_failed(
                NAME, operation, status=429, message="rate limited", retry_after=retry_after
            )
        if response.status_code in (401, 403):
            raise call_failed(
                NAME, operation, status=response.status_code,
                message="Lodgify refused the connection's API key", retryable=False,
            )  # fmt: skip
        if response.is_error:
            raise call_failed(
                NAME, operation, status=response.status_code, message="Lodgify answered an error"
            )
        try:
            return response.json()
        except ValueError:
            raise call_failed(
                NAME, operation, status=response.status_code, message="the answer is not JSON",
                retryable=True,
            ) from None  # fmt: skip


# A poll gets its context per page: the worker's calls context keys one client (and limiter).
# HUB_LODGIFY_* are the partner's own settings, read when a worker first calls.
_APIS: ClientsPerContext[LodgifyApi] = ClientsPerContext(
    lambda context: LodgifyApi(context.settings, context.secrets, context.engine, LodgifySettings())
)


def api_for(context: CallsContext) -> LodgifyApi:
    return _APIS.get(context)


def close_apis() -> None:
    """Close every kept client (tests, a worker's shutdown)."""
    _APIS.close_all()
