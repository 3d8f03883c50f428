"""The official `googlemaps` client, set up so that Temporal owns retries and rate limits.

`googlemaps.Client` retries HTTP 500/503/504 and `OVER_QUERY_LIMIT` itself until
`retry_timeout`, and sleeps in its own per-second limiter. Here:

- `retry_over_query_limit=False`: `OVER_QUERY_LIMIT` is raised at once;
- a response hook on the client's `requests` session raises on any non-200 answer before the
  client's 5xx retry loop sees it, keeping the status and `Retry-After` for `call_failed`;
- `retry_timeout` is small and the client's own limiter is set out of reach: `CallLimiter`
  refuses instead of blocking a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import googlemaps

from integration_hub.connectors.outbound import call_failed, timed_call

PARTNER = "google_maps"
REQUEST_TIMEOUT_SECONDS = 10  # one HTTP request; below CALL_TIMEOUT so the activity reports it
# Business statuses (https://developers.google.com/maps/documentation/geocoding/requests-geocoding
# #StatusCodes): OVER_QUERY_LIMIT and UNKNOWN_ERROR may succeed later; REQUEST_DENIED,
# INVALID_REQUEST, OVER_DAILY_LIMIT (key or billing), MAX_ELEMENTS_EXCEEDED ... will not.
RETRYABLE_API_STATUSES = frozenset({"OVER_QUERY_LIMIT", "UNKNOWN_ERROR"})
T = TypeVar("T")


class HttpFailure(Exception):
    """A non-200 answer, raised from the session hook; carries what `call_failed` needs."""

    def __init__(self, status: int, retry_after: str | None) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


def _raise_for_status(response: Any, *args: Any, **kwargs: Any) -> None:
    if response.status_code != 200:
        response.close()  # hooks run before the body is read: give the connection back
        raise HttpFailure(response.status_code, response.headers.get("Retry-After"))


def make_client(key: str, *, base_url: str | None = None) -> Any:
    """A `googlemaps.Client` with its own retries and limiter out of the way (see above)."""
    client = googlemaps.Client(
        key=key,
        timeout=REQUEST_TIMEOUT_SECONDS,
        retry_timeout=1,
        retry_over_query_limit=False,
        # CallLimiter owns rate limits; the client's sleeping limiter must never engage.
        queries_per_second=1_000,
        queries_per_minute=60_000,
        **({"base_url": base_url.rstrip("/")} if base_url else {}),
    )
    client.session.hooks["response"].append(_raise_for_status)
    return client


def call(operation: str, request: Callable[[], T]) -> T:
    """Run one client call, timed and counted; failures become `call_failed` errors."""
    try:
        with timed_call(PARTNER, operation):
            return request()
    except googlemaps.exceptions.ApiError as error:
        status = str(error.status)
        raise call_failed(
            PARTNER,
            operation,
            status=200,
            code=status,
            message=f"{status}: {error.message or 'no message'}",
            retryable=status in RETRYABLE_API_STATUSES,
        ) from None
    except googlemaps.exceptions.HTTPError as error:  # before TransportError, its base class
        raise call_failed(
            PARTNER, operation, status=error.status_code, message=f"HTTP {error.status_code}"
        ) from None
    except googlemaps.exceptions.TransportError as error:
        cause = error.base_exception
        if isinstance(cause, HttpFailure):
            raise call_failed(
                PARTNER,
                operation,
                status=cause.status,
                message=str(cause),
                retry_after=cause.retry_after,
            ) from None
        # Never str(cause): a requests error names the URL, and the URL carries the key.
        raise call_failed(PARTNER, operation, status=None, message=type(cause).__name__) from None
    except googlemaps.exceptions.Timeout:
        raise call_failed(PARTNER, operation, status=None, message="timed out") from None
