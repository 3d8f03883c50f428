"""Front's Core API over httpx (no official Python SDK): Bearer API token, JSON, Front's rate
limits (dev.frontapp.com/docs/rate-limiting): a 429 carries `Retry-After` (seconds) and every
answer `X-RateLimit-Remaining` / `X-RateLimit-Reset` (unix seconds); when none remain, calls
wait for the reset (a retryable activity error that says when), and a client-side limit keeps
each worker under HUB_FRONT_REQUESTS_PER_MINUTE."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import httpx

from integration_hub.connectors.front import API_TOKEN
from integration_hub.connectors.front.settings import FrontSettings
from integration_hub.connectors.outbound import (
    CallLimiter,
    RateGate,
    call_failed,
    refuse,
    timed_call,
)
from integration_hub.secrets import SecretSource

PARTNER = "front"
HTTP_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
MAX_PAGES = 5  # pages of a listing (tags) followed at most, 100 each
MAX_RESULTS = 100  # entries of one page looked at
MAX_WAIT_SECONDS = 3600
# Front's ids (cnv_, crd_, grp_, tag_ + base 36): checked before one goes into a path, whether
# it came from the core or from an answer of Front's.
_FRONT_ID = re.compile(r"[a-z]{3}_[a-z0-9]{1,64}")


def is_front_id(value: Any) -> bool:
    return isinstance(value, str) and _FRONT_ID.fullmatch(value) is not None


def observe_limits(gate: RateGate, headers: httpx.Headers) -> None:
    """Front's `X-RateLimit-Remaining: 0` closes the gate until `X-RateLimit-Reset` (unix
    seconds, possibly fractional)."""
    reset = _seconds(headers.get("x-ratelimit-reset"))
    if headers.get("x-ratelimit-remaining") == "0" and reset is not None:
        gate.close_until(reset, max_wait=MAX_WAIT_SECONDS)


def _seconds(value: str | None) -> float | None:
    try:
        number = float(value) if value else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


class FrontApi:
    """One call at a time under the token, the gate and the limiter; answers as JSON."""

    def __init__(
        self,
        secrets: SecretSource,
        settings: FrontSettings,
        *,
        http: httpx.Client | None = None,
        clock: Callable[[], float],
    ) -> None:
        self.base_url = settings.api_base_url.rstrip("/")
        self._secrets = secrets
        self._clock = clock
        # No keep-alive: the worker never closes its partners' clients (a few calls a minute).
        self._http = http or httpx.Client(
            timeout=HTTP_TIMEOUT, limits=httpx.Limits(max_keepalive_connections=0)
        )
        self._gate = RateGate(PARTNER, "Front", clock)
        self._limiter = CallLimiter(PARTNER, {"core": settings.requests_per_minute})

    def close(self) -> None:
        self._http.close()

    def _token(self, operation: str) -> str:
        versions = self._secrets.versions(API_TOKEN)
        if not versions:
            raise refuse(PARTNER, operation, f"{API_TOKEN} is not set")
        return versions[0]

    def call(
        self, operation: str, method: str, path_or_url: str, *, missing_ok: bool = False,
        **kwargs: Any,
    ) -> Any:  # fmt: skip
        """The answer's JSON (None for an empty one, or a 404 when `missing_ok`)."""
        self._gate.check(operation)
        token = self._token(operation)
        self._limiter.acquire("core")
        url = path_or_url if path_or_url.startswith("http") else self.base_url + path_or_url
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        try:
            with timed_call(PARTNER, operation):
                response = self._http.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as error:  # no answer: refused, reset, timed out
            raise call_failed(
                PARTNER, operation, status=None, message=type(error).__name__
            ) from None
        observe_limits(self._gate, response.headers)
        if missing_ok and response.status_code == 404:
            return None
        if not response.is_success:
            self._raise(operation, response)
        try:
            return response.json() if response.content else None
        except ValueError:
            return None

    def _raise(self, operation: str, response: httpx.Response) -> NoReturn:
        retry_after = response.headers.get("retry-after")
        reset = _seconds(response.headers.get("x-ratelimit-reset"))
        if retry_after is None and response.status_code == 429 and reset is not None:
            retry_after = str(max(0, math.ceil(reset - self._clock())))
        raise call_failed(
            PARTNER,
            operation,
            status=response.status_code,
            message=_error_message(response),
            retry_after=retry_after,
        )

    def listing(self, operation: str, path: str) -> Iterator[dict[str, Any]]:
        """The `_results` of a listing, following `_pagination.next` (on Front's own host
        only: the token never goes elsewhere) for at most MAX_PAGES pages."""
        url: str | None = f"{self.base_url}{path}"
        for _ in range(MAX_PAGES):
            if url is None:
                return
            page = self.call(operation, "GET", url)
            results = page.get("_results") if isinstance(page, dict) else None
            for entry in results[:MAX_RESULTS] if isinstance(results, list) else []:
                if isinstance(entry, dict):
                    yield entry
            following = page.get("_pagination") if isinstance(page, dict) else None
            url = following.get("next") if isinstance(following, dict) else None
            if not isinstance(url, str) or not url.startswith(self.base_url + "/"):
                url = None


def _error_message(response: httpx.Response) -> str:
    """Front's `_error.title` (never the request: it may hold a phone or a body)."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    error = body.get("_error") if isinstance(body, dict) else None
    title = error.get("title") if isinstance(error, dict) else None
    return title[:200] if isinstance(title, str) else response.reason_phrase
