"""Calls to Hostaway's API for one connection: its token, its limits, its errors.

Token: OAuth2 client credentials (`POST /v1/accessTokens`, form `grant_type=client_credentials`,
`client_id=<account id>`, `client_secret=<API key>`, `scope=general`). Hostaway's tokens last
24 months, so one is issued per connection, stored through `TokenStore` (the secret store,
under a cross-process lock) with a fingerprint of the credentials it was issued for (a token of
replaced credentials is not used: a new one is issued under the lock), and reused by every
worker. A new token is accepted only about a second after issue: its first call waits
`HUB_HOSTAWAY_TOKEN_SETTLE_SECONDS`, and a 403 within that plus `SETTLE_GRACE_SECONDS` of the
issue is "not yet" (retry later, same token), never "refused" (which would issue another, and
that one would be refused the same way, without end). A 403 on an older token forgets it and
the retry issues a new one, at most once per `REISSUE_SECONDS`: a token issued minutes ago and
refused means the account's API access is refused (`hostaway.forbidden`, final).

Limits (shared by every worker: `call_limits.SharedLimiter`): Hostaway allows 15 requests per
10 s per IP, one key for every connection (`hostaway:ip`), and 20 per 10 s per account
(`hostaway:account:<account id>`); the hub keeps to about half (fixed windows can let twice a
budget through across a window edge). The token request counts too. A call enters the
account's limiter first, so a call its account refuses spends none of the shared IP budget. A
429 (`{"status":"fail"}`) closes both keys for `Retry-After`, or 10 s when Hostaway sends none
(Hostaway does not say which limit it was), and the call fails retryably with that delay.

Errors never carry a secret, a token, or what Hostaway answered (it can hold guest data).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Engine

from integration_hub.connectors.call_limits import CallBudget, SharedLimiter, Window, limit_backend
from integration_hub.connectors.hostaway import (
    ACCESS_TOKEN,
    ACCOUNT_ID,
    API_KEY,
    NAME,
    PARTNER,
)
from integration_hub.connectors.hostaway.settings import HostawaySettings
from integration_hub.connectors.outbound import (
    ClientsPerContext,
    call_failed,
    parse_retry_after,
    timed_call,
)
from integration_hub.connectors.partner import CallsContext
from integration_hub.connectors.tokens import IssuedToken, TokenStore
from integration_hub.secrets import SecretSource
from integration_hub.settings import Settings

HTTP_TIMEOUT_SECONDS = 20.0
LIMIT_WINDOW_SECONDS = 10
DEFAULT_RETRY_AFTER_SECONDS = 10  # Hostaway's window, when its 429 says nothing
IP_KEY = f"{NAME}:ip"
TOKEN_OPERATION = "issue_token"  # noqa: S105 (an operation name, not a value)
SETTLE_GRACE_SECONDS = 5.0  # past the settle time, a new token's 403 may still be "not yet"
REISSUE_SECONDS = 300.0  # a token this young refused past its grace is not re-issued


def account_key(account_id: str) -> str:
    return f"{NAME}:account:{account_id}"


class NoCredentials(Exception):
    """The connection has no HOSTAWAY_ACCOUNT_ID or HOSTAWAY_API_KEY instance."""


@dataclass(frozen=True, slots=True)
class Credentials:
    account_id: str
    api_key: str

    @property
    def fingerprint(self) -> str:
        """What a stored token records of the credentials it was issued for (never them)."""
        pair = f"{self.account_id}:{self.api_key}".encode()
        return hashlib.sha256(pair).hexdigest()[:16]


def credentials(secrets: SecretSource, connection: str) -> Credentials | None:
    account = secrets.versions(PARTNER.secret(ACCOUNT_ID).for_instance(connection))
    key = secrets.versions(PARTNER.secret(API_KEY).for_instance(connection))
    if not account or not key:
        return None
    return Credentials(account_id=account[0].strip(), api_key=key[0].strip())


class HostawayApi:
    """Built once per worker (`api_for`); `http`, `clock` and `sleep` are for tests."""

    def __init__(
        self,
        settings: Settings,
        secrets: SecretSource,
        engine: Engine,
        hostaway: HostawaySettings,
        *,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._base = hostaway.api_base_url.rstrip("/")
        self._secrets = secrets
        self._tokens = TokenStore(engine, secrets, clock=clock)
        backend = limit_backend(settings, engine)
        window = LIMIT_WINDOW_SECONDS
        ip_budget = CallBudget((Window(hostaway.ip_calls_per_10s, window),))
        account_budget = CallBudget((Window(hostaway.account_calls_per_10s, window),))
        self._ip = SharedLimiter(NAME, ip_budget, backend, clock=clock)
        self._account = SharedLimiter(NAME, account_budget, backend, clock=clock)
        self._settle = hostaway.token_settle_seconds
        self._clock, self._sleep = clock, sleep
        # No keep-alive: the worker never closes its partners' clients, so no socket is left
        # open between calls (a few calls per 10 s gain little from reuse).
        self._http = http or httpx.Client(
            timeout=HTTP_TIMEOUT_SECONDS, limits=httpx.Limits(max_keepalive_connections=0)
        )

    def close(self) -> None:
        self._http.close()

    def get(
        self,
        connection: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str | int] | None = None,
    ) -> dict[str, Any] | None:
        """Hostaway's JSON answer to `GET {base}{path}`, or None for a 404. Raises
        `NoCredentials` before any call when the connection has none."""
        found = credentials(self._secrets, connection)
        if found is None:
            raise NoCredentials(connection)
        name = PARTNER.secret(ACCESS_TOKEN).for_instance(connection)
        token = self._token(name, found)
        self._settled(token)
        headers = {"Authorization": f"Bearer {token.access}", "Cache-control": "no-cache"}
        response = self._send("GET", path, found, operation, headers=headers, params=params)
        if response.status_code in (401, 403):
            raise self._refused(name, token, operation, response.status_code)
        if response.status_code == 404:
            return None
        return _answer(response, operation)

    def _token(self, name: str, found: Credentials) -> IssuedToken:
        token = self._tokens.token(name, lambda _: self._issue(found))
        if token.fingerprint != found.fingerprint:
            # Issued for credentials since replaced (or before fingerprints were kept): it is
            # no token of these; forget it (unless another worker replaced it) and issue one
            # under the lock.
            self._tokens.refused(name, token.access)
            token = self._tokens.token(name, lambda _: self._issue(found))
        return token

    def _refused(self, name: str, token: IssuedToken, operation: str, status: int) -> Exception:
        age = self._clock() - token.issued_at
        settling = self._settle + SETTLE_GRACE_SECONDS
        if age < settling:
            # Not honoured yet: keep it and try again when it should be.
            return call_failed(NAME, operation, status=status, retryable=True,
                               message="Hostaway does not honour the new access token yet",
                               retry_after=str(max(1, math.ceil(settling - age))))  # fmt: skip
        if age < REISSUE_SECONDS:
            return call_failed(NAME, operation, status=status, code="forbidden", retryable=False,
                               message="Hostaway refused a token issued minutes ago: the "
                               "account's API access is refused")  # fmt: skip
        # Hostaway refuses a token it no longer honours with 403: forget it (unless another
        # worker already replaced it); the activity's retry issues a new one.
        self._tokens.refused(name, token.access)
        return call_failed(NAME, operation, status=status, retryable=True, retry_after="1",
                           message="Hostaway refused the access token; the retry issues a new one")  # fmt: skip

    def _issue(self, found: Credentials) -> IssuedToken:
        form = {
            "grant_type": "client_credentials",
            "client_id": found.account_id,
            "client_secret": found.api_key,
            "scope": "general",
        }
        headers = {"Cache-control": "no-cache"}
        response = self._send("POST", "/v1/accessTokens", found, TOKEN_OPERATION,
                              headers=headers, data=form)  # fmt: skip
        if response.status_code in (400, 401, 403):
            raise call_failed(
                NAME,
                TOKEN_OPERATION,
                status=response.status_code,
                message="Hostaway refused the account id and API key",
                retryable=False,
            )
        answer = _answer(response, TOKEN_OPERATION)
        access, lifetime = answer.get("access_token"), answer.get("expires_in")
        if not isinstance(access, str) or not access:
            raise call_failed(NAME, TOKEN_OPERATION, status=response.status_code,
                              message="the answer holds no access_token", retryable=True)  # fmt: skip
        now = self._clock()
        expires_at = None  # no lifetime given: valid until Hostaway refuses it
        if isinstance(lifetime, (int, float)) and not isinstance(lifetime, bool):
            expires_at = now + float(lifetime)
        return IssuedToken(
            access=access, expires_at=expires_at, issued_at=now, fingerprint=found.fingerprint
        )

    def _settled(self, token: IssuedToken) -> None:
        wait = token.issued_at + self._settle - self._clock()
        if wait > 0:
            self._sleep(min(wait, self._settle))

    def _send(
        self,
        method: str,
        path: str,
        found: Credentials,
        operation: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str | int] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        account = account_key(found.account_id)
        with self._limited(account, operation), timed_call(NAME, operation):
            try:
                response = self._http.request(
                    method, self._base + path, headers=headers, params=params, data=data
                )
            except httpx.HTTPError as error:
                raise call_failed(
                    NAME, operation, status=None, message=type(error).__name__
                ) from None
            if response.status_code == 429:
                delay = parse_retry_after(response.headers.get("retry-after"))
                seconds = delay.total_seconds() if delay else DEFAULT_RETRY_AFTER_SECONDS
                self._account.pause(account, seconds)
                self._ip.pause(IP_KEY, seconds)
                raise call_failed(
                    NAME,
                    operation,
                    status=429,
                    message="over Hostaway's rate limit",
                    retry_after=str(max(1, math.ceil(seconds))),
                )
        return response

    @contextlib.contextmanager
    def _limited(self, account: str, operation: str) -> Iterator[None]:
        # The account first: a call its account refuses spends none of the shared IP budget.
        with self._account.call(account, operation), self._ip.call(IP_KEY, operation):
            yield


def _answer(response: httpx.Response, operation: str) -> dict[str, Any]:
    """The JSON object of a 2xx answer; a failure (never its body) otherwise."""
    if response.is_error or response.status_code >= 300:
        raise call_failed(NAME, operation, status=response.status_code,
                          message=response.reason_phrase[:100])  # fmt: skip
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise call_failed(NAME, operation, status=response.status_code,
                          message="the answer is not a JSON object", retryable=True)  # fmt: skip
    return answer


# A poll gets its context per page: the worker's calls context keys one client (and limiter).
# HUB_HOSTAWAY_* are the partner's own settings, read when a worker first calls.
_APIS: ClientsPerContext[HostawayApi] = ClientsPerContext(
    lambda context: HostawayApi(
        context.settings, context.secrets, context.engine, HostawaySettings()
    )
)


def api_for(context: CallsContext) -> HostawayApi:
    return _APIS.get(context)


def close_apis() -> None:
    """Close every kept client (tests, a worker's shutdown)."""
    _APIS.close_all()
