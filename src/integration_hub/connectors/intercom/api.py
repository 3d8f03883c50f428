"""One Intercom REST call (developers.intercom.com/docs/references/2.11/rest-api): Bearer access
token, `Intercom-Version`, JSON in and out. httpx, no SDK: a handful of documented requests.

Failures become the shared outbound errors: 429 and 5xx are retried after `Retry-After` or,
as Intercom answers 429, `X-RateLimit-Reset` (a unix time); other 4xx are not. A request that creates
something and whose answer was lost (sent, then no response) or was a 5xx (a gateway's 502 or
504 says nothing of what Intercom did) raises `NoAnswer`, so its caller can record that the
outcome is unknown; a 4xx or 429 made nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import httpx
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.intercom import ACCESS_TOKEN
from integration_hub.connectors.intercom.settings import IntercomSettings
from integration_hub.connectors.outbound import CallLimiter, call_failed, refuse, timed_call
from integration_hub.secrets import SecretSource

PARTNER = "intercom"
HTTP_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
MAX_ERROR_TEXT = 200
MAX_RECORDED_ID = 64  # outbound_messages.partner_message_id


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def intercom_id(value: Any) -> str | None:
    """One of Intercom's ids from an answer (a string, or a number in places), when it fits
    the hub's record of it."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    ok = isinstance(text, str) and 0 < len(text) <= MAX_RECORDED_ID and text.isprintable()
    return text if ok else None


class NoAnswer(Exception):
    """The request left but no answer came back: it may have taken effect."""

    def __init__(self, error: ApplicationError) -> None:
        super().__init__(str(error))
        self.error = error


def unreadable(operation: str, status: int) -> NoAnswer:
    """A success whose answer does not say what was made: as good as no answer (retryable,
    so the next attempt looks for it)."""
    error = call_failed(
        PARTNER, operation, status=status, message="unreadable answer", retryable=True
    )
    return NoAnswer(error)


class IntercomApi:
    def __init__(
        self,
        secrets: SecretSource,
        settings: IntercomSettings,
        *,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secrets = secrets
        self._base = settings.api_base_url.rstrip("/")
        self._version = settings.api_version
        self._clock = clock
        # No keep-alive: the worker never closes its partners' clients.
        self._http = http or httpx.Client(
            timeout=HTTP_TIMEOUT, limits=httpx.Limits(max_keepalive_connections=0)
        )
        self._limiter = CallLimiter(PARTNER, {"rest": settings.requests_per_minute})

    def token(self) -> str | None:
        versions = self._secrets.versions(ACCESS_TOKEN)
        return versions[0] if versions else None

    def close(self) -> None:
        self._http.close()

    def call(
        self,
        operation: str,
        method: str,
        path: str,
        body: Any = None,
        *,
        creates: bool = False,
        absent_ok: bool = False,
        timeout: httpx.Timeout = HTTP_TIMEOUT,
    ) -> Any:
        """The JSON answer of one request (`path` below the API base), or raise (`NoAnswer`
        for a lost outcome of a request that `creates`; else the activity's error). With
        `absent_ok`, a 404 (what the request names is gone) answers None."""
        token = self.token()
        if token is None:
            raise refuse(PARTNER, operation, f"{ACCESS_TOKEN} is not set")
        self._limiter.acquire("rest")
        headers = {
            "Authorization": f"Bearer {token}",
            "Intercom-Version": self._version,
            "Accept": "application/json",
        }
        try:
            with timed_call(PARTNER, operation):
                response = self._http.request(
                    method, f"{self._base}{path}", headers=headers, json=body, timeout=timeout
                )
        except httpx.ConnectError:  # nothing reached Intercom: a retry is safe
            raise call_failed(
                PARTNER, operation, status=None, message="could not connect"
            ) from None
        except httpx.TransportError:
            error = call_failed(PARTNER, operation, status=None, message="no answer")
            raise (NoAnswer(error) if creates else error) from None
        if absent_ok and response.status_code == 404:
            return None
        if not response.is_success:
            error = self._failure(operation, response)
            raise NoAnswer(error) if creates and response.status_code >= 500 else error
        try:
            return response.json() if response.content else None
        except ValueError:
            if creates:  # it was made, but what it is cannot be read: the outcome is unknown
                raise unreadable(operation, response.status_code) from None
            raise refuse(PARTNER, operation, "Intercom's answer is not JSON") from None

    def _failure(self, operation: str, response: httpx.Response) -> ApplicationError:
        retry_after = response.headers.get("retry-after")
        reset = response.headers.get("x-ratelimit-reset", "")
        if retry_after is None and response.status_code == 429 and reset.isdigit():
            retry_after = str(max(0, math.ceil(int(reset) - self._clock())))
        code, message = _error(response)
        return call_failed(
            PARTNER,
            operation,
            status=response.status_code,
            message=message,
            code=code,
            retry_after=retry_after,
        )


def _error(response: httpx.Response) -> tuple[str | None, str]:
    """Intercom's error code from `{"type": "error.list", "errors": [{"code", "message"}]}`
    and a message of the status and that code only: Intercom's message text may quote what
    was sent (a phone, a name), and the error travels to the hub's rows and logs."""
    try:
        body = response.json()
    except ValueError:
        body = None
    errors = body.get("errors") if isinstance(body, dict) else None
    first = errors[0] if isinstance(errors, list) and errors else None
    code = first.get("code") if isinstance(first, dict) else None
    code = code if isinstance(code, str) and code.isidentifier() and len(code) <= 64 else None
    return code, code or response.reason_phrase[:MAX_ERROR_TEXT]
