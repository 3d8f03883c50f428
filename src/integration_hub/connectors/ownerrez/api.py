"""One GET to OwnerRez's API v2 for one connection: HTTP Basic with the account's username and
personal access token, under the connection's shared call budget, failures as `call_failed`.

OwnerRez documents no rate limit (pms.md §4): a conservative budget per connection
(HUB_OWNERREZ_CALLS_PER_SECOND / _PER_MINUTE) shared by every worker (`SharedLimiter`); a 429
closes the connection's key for everyone until its `Retry-After` and the activity is retried
then. A 401/403 means the token or username is wrong or revoked: retrying cannot help until
someone sets a new one, so it fails for good (the next scheduled poll tries again).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine

from integration_hub.connectors.call_limits import CallBudget, SharedLimiter, Window, limit_backend
from integration_hub.connectors.outbound import (
    ClientsPerContext,
    call_failed,
    parse_retry_after,
    timed_call,
)
from integration_hub.connectors.ownerrez import ACCESS_TOKEN, NAME, USERNAME
from integration_hub.connectors.ownerrez.settings import OwnerRezSettings
from integration_hub.connectors.partner import CallsContext
from integration_hub.secrets import SecretSource
from integration_hub.secrets.instances import instance_secret_name
from integration_hub.settings import Settings

TIMEOUT = httpx.Timeout(20.0, connect=5.0)
MAX_PATH = 900  # a next_page_url kept in a cursor (poll cursors hold 1024 chars)


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    token: str


class NoCredentials(Exception):
    """The connection has no username or token: names the secrets, never a value."""


def credentials(secrets: SecretSource, connection: str) -> Credentials:
    names = [instance_secret_name(family, connection) for family in (USERNAME, ACCESS_TOKEN)]
    values = [secrets.versions(name) for name in names]
    missing = [name for name, found in zip(names, values, strict=True) if not found]
    if missing:
        raise NoCredentials(f"{' and '.join(missing)} not set")
    return Credentials(username=values[0][0].strip(), token=values[1][0].strip())


def api_path(url: str, base_url: str) -> str | None:
    """The path and query of a `next_page_url` OwnerRez gave, when it points at its own API
    (the credentials never go to another host); None otherwise."""
    parts, base = urlsplit(url), urlsplit(base_url)
    elsewhere = (parts.scheme, parts.netloc) != (base.scheme, base.netloc)
    if (parts.scheme or parts.netloc) and elsewhere:
        return None
    if not parts.path.startswith("/v2/") or ".." in parts.path:
        return None
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return path if len(path) <= MAX_PATH else None


class OwnerRezApi:
    def __init__(
        self,
        settings: Settings,
        secrets: SecretSource,
        engine: Engine | None,
        own: OwnerRezSettings,
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

    def get(
        self,
        connection: str,
        operation: str,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        missing_ok: bool = False,
    ) -> Any:
        """The JSON OwnerRez answers, or None for a 404 when `missing_ok`. Raises
        `NoCredentials` before any call when the connection has none."""
        account = credentials(self._secrets, connection)
        key = f"{NAME}:{connection}"
        with self.limiter.call(key, operation), timed_call(NAME, operation):
            try:
                response = self._http.get(
                    self.base_url + path,
                    params=params,
                    auth=(account.username, account.token),
                    headers={"Accept": "application/json", "User-Agent": "integration-hub"},
                )
            except httpx.HTTPError as error:
                raise call_failed(
                    NAME, operation, status=None, message=type(error).__name__
                ) from None
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code == 429:
            retry_after = response.headers.get("retry-after")
            delay = parse_retry_after(retry_after)
            self.limiter.pause(key, delay.total_seconds() if delay is not None else 60.0)
            raise call_failed(
                NAME, operation, status=429, message="rate limited", retry_after=retry_after
            )
        if response.status_code in (401, 403):
            raise call_failed(
                NAME,
                operation,
                status=response.status_code,
                message="OwnerRez refused the connection's username and access token",
                retryable=False,
            )
        if response.is_error:
            raise call_failed(
                NAME, operation, status=response.status_code, message="OwnerRez answered an error"
            )
        try:
            return response.json()
        except ValueError:
            raise call_failed(
                NAME, operation, status=response.status_code, message="the answer is not JSON",
                retryable=True,
            ) from None  # fmt: skip


# A poll gets its context per page: the worker's calls context keys one client (and limiter).
# HUB_OWNERREZ_* are the partner's own settings, read when a worker first calls.
_APIS: ClientsPerContext[OwnerRezApi] = ClientsPerContext(
    lambda context: OwnerRezApi(
        context.settings, context.secrets, context.engine, OwnerRezSettings()
    )
)


def api_for(context: CallsContext) -> OwnerRezApi:
    return _APIS.get(context)


def close_apis() -> None:
    """Close every kept client (tests, a worker's shutdown)."""
    _APIS.close_all()
