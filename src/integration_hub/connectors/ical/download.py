"""One conditional GET of a feed: redirects followed by hand (each target checked as the URL
was), connections only to the addresses checked (`connect.PinnedBackend`), the body streamed
and decompressed by bounded steps, cut off past 2 MB (so a gzip bomb never inflates in
memory), at most 5 calls a second and 120 a minute per host across workers (Airbnb serves
every host's feeds from one name). A local file (the CLI's `hub ical add ./file.ics`) is read
only when it is a regular file, opened without blocking, within the same 2 MB.

Errors say the status or the size, never the URL (its query is the feed's token): 429 and 5xx
are retryable (Retry-After kept, and a 429 pauses the host for every worker); 401, 403, 404
and 410 say the feed was refused, for good.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from integration_hub.connectors.call_limits import CallBudget, SharedLimiter, Window
from integration_hub.connectors.ical import NAME
from integration_hub.connectors.ical.bodies import (
    DECODERS,
    OPERATION,
    read_capped,
    read_file,
    refused,
)
from integration_hub.connectors.ical.connect import PrivateAddress, pinned_transport
from integration_hub.connectors.ical.feeds import (
    FeedUrlRefused,
    Resolver,
    check_feed_url,
    resolves_to_private,
)
from integration_hub.connectors.outbound import call_failed, parse_retry_after, timed_call

TIMEOUT_SECONDS = 20.0  # each connect, read or write
# The whole download, redirects included: within the activity's 30 s (outbound.CALL_TIMEOUT),
# so a feed that trickles bytes fails as itself rather than as a timed-out activity.
TOTAL_SECONDS = 25.0
MAX_REDIRECTS = 3
USER_AGENT = "integration-hub-ical/1.0 (calendar sync)"
MAX_VALIDATOR = 256  # an ETag or Last-Modified longer than this is not kept (cursor bound)
HOST_BUDGET = CallBudget(windows=(Window(calls=5, seconds=1), Window(calls=120, seconds=60)))
DEFAULT_PAUSE = timedelta(seconds=60)  # a 429 without Retry-After
REFUSED_STATUSES = frozenset({401, 403, 404, 410})


class HideFeedUrls(logging.Filter):
    """httpx logs every request's full URL (at INFO), and a feed's URL holds its token. The
    hub logs the standard library at WARNING and above, but a debugging session must not leak
    it either: while this thread downloads a feed, the URLs in httpx's records are hidden."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(_downloading, "active", False) and isinstance(record.args, tuple):
            record.args = tuple(
                "<feed URL>" if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


_downloading = threading.local()
if not any(isinstance(f, HideFeedUrls) for f in logging.getLogger("httpx").filters):
    logging.getLogger("httpx").addFilter(HideFeedUrls())


@dataclass(frozen=True, slots=True)
class Validators:
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Download:
    body: bytes | None  # None: not modified (304)
    validators: Validators


def host_key(host: str) -> str:
    return f"{NAME}:host:{host}"


def _validator(value: str | None) -> str | None:
    return value if value and len(value) <= MAX_VALIDATOR and value.isascii() else None


class FeedDownloader:
    def __init__(
        self,
        limiter: SharedLimiter,
        *,
        allow_private_hosts: bool,
        resolve: Resolver = socket.getaddrinfo,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._limiter, self._allow_private = limiter, allow_private_hosts
        self._resolve = resolve
        # Tests answer in-process (a MockTransport); otherwise connect only where checked.
        self._transport = transport or pinned_transport(
            resolve, allow_private_hosts=allow_private_hosts
        )

    def get(self, url: str, validators: Validators) -> Download:
        if url.startswith("file:"):
            return Download(read_file(Path(unquote(urlsplit(url).path))), Validators())
        headers = {
            "User-Agent": USER_AGENT,
            "Accept": "text/calendar, */*;q=0.5",
            "Accept-Encoding": ", ".join(DECODERS),  # only what `_read_capped` bounds
        }
        if validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        client = httpx.Client(
            timeout=TIMEOUT_SECONDS,
            follow_redirects=False,
            headers=headers,
            transport=self._transport,
            trust_env=False,  # no proxy from the environment: the transport is the only path
        )
        deadline = time.monotonic() + TOTAL_SECONDS
        with client, _hidden_urls():
            current, hosts_called = url, set()
            for _ in range(MAX_REDIRECTS + 1):
                host = self._checked_host(current)
                # One hit per host per download: a redirect to the same host (http to https,
                # a path moved) would otherwise wait for its own first hit's window forever.
                limit = (
                    contextlib.nullcontext()
                    if host in hosts_called
                    else self._limiter.call(host_key(host), OPERATION)
                )
                hosts_called.add(host)
                with limit:
                    answer = self._request(client, current, host, validators, deadline)
                if isinstance(answer, Download):
                    return answer
                current = answer
        raise refused(f"the feed redirected more than {MAX_REDIRECTS} times", "too_many_redirects")

    def _checked_host(self, url: str) -> str:
        try:
            check_feed_url(url, allow_private_hosts=self._allow_private)
        except FeedUrlRefused as error:
            raise refused(error.detail, error.reason) from None
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if self._allow_private:
            return host
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        try:
            private = resolves_to_private(host, port, self._resolve)
        except (OSError, ValueError):
            raise call_failed(
                NAME, OPERATION, status=None, message="the feed host did not resolve"
            ) from None
        if private:
            raise refused("the feed host resolves to a private address", "private_host")
        return host

    def _request(
        self,
        client: httpx.Client,
        url: str,
        host: str,
        validators: Validators,
        deadline: float,
    ) -> Download | str:
        """The download, or the next URL to follow."""
        try:
            with timed_call(NAME, OPERATION), client.stream("GET", url) as response:
                status = response.status_code
                if response.is_redirect and response.headers.get("location"):
                    return urljoin(url, response.headers["location"])
                if status == 304:
                    return Download(None, self._validators(response, validators))
                if status == 429:
                    retry_after = response.headers.get("retry-after")
                    pause = parse_retry_after(retry_after)
                    seconds = (DEFAULT_PAUSE if pause is None else pause).total_seconds()
                    self._limiter.pause(host_key(host), seconds)
                    raise call_failed(
                        NAME, OPERATION, status=429, message="feed rate limited",
                        retry_after=retry_after,
                    )  # fmt: skip
                if status in REFUSED_STATUSES:
                    raise call_failed(
                        NAME, OPERATION, status=status, message=f"feed refused ({status})",
                        retryable=False,
                    )  # fmt: skip
                if not response.is_success:
                    raise call_failed(
                        NAME, OPERATION, status=status, message=f"feed answered {status}",
                        retry_after=response.headers.get("retry-after"),
                    )  # fmt: skip
                body = read_capped(response, deadline)
                return Download(body, self._validators(response, Validators()))
        except PrivateAddress:  # resolved again at connect time, to another address
            raise refused("the feed host resolves to a private address", "private_host") from None
        except httpx.HTTPError as error:  # its text can hold the URL: only the type is kept
            raise call_failed(
                NAME, OPERATION, status=None, message=f"no answer ({type(error).__name__})"
            ) from None
        except httpx.InvalidURL:
            raise refused("the feed URL is not a valid URL", "invalid_url") from None

    @staticmethod
    def _validators(response: httpx.Response, previous: Validators) -> Validators:
        return Validators(
            etag=_validator(response.headers.get("etag")) or previous.etag,
            last_modified=_validator(response.headers.get("last-modified"))
            or previous.last_modified,
        )


@contextlib.contextmanager
def _hidden_urls() -> Iterator[None]:
    _downloading.active = True
    try:
        yield
    finally:
        _downloading.active = False
