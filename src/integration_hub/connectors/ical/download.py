"""One conditional GET of a feed: redirects followed by hand (each target checked as the URL
was), the body streamed and cut off past 2 MB, one call per 2 s per host across workers.

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
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.call_limits import CallBudget, SharedLimiter, Window
from integration_hub.connectors.ical import NAME
from integration_hub.connectors.ical.feeds import (
    FeedUrlRefused,
    Resolver,
    check_feed_url,
    resolves_to_private,
)
from integration_hub.connectors.ical.parse import MAX_FEED_BYTES
from integration_hub.connectors.outbound import call_failed, parse_retry_after, timed_call

OPERATION = "fetch_feed"
TIMEOUT_SECONDS = 20.0  # each connect, read or write
# The whole download, redirects included: within the activity's 30 s (outbound.CALL_TIMEOUT),
# so a feed that trickles bytes fails as itself rather than as a timed-out activity.
TOTAL_SECONDS = 25.0
MAX_REDIRECTS = 3
USER_AGENT = "integration-hub-ical/1.0 (calendar sync)"
MAX_VALIDATOR = 256  # an ETag or Last-Modified longer than this is not kept (cursor bound)
HOST_BUDGET = CallBudget(windows=(Window(calls=1, seconds=2),))
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


def refused(message: str, code: str) -> ApplicationError:
    return call_failed(NAME, OPERATION, status=None, message=message, code=code, retryable=False)


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
        self._resolve, self._transport = resolve, transport

    def get(self, url: str, validators: Validators) -> Download:
        if url.startswith("file:"):
            return Download(_read_file(Path(unquote(urlsplit(url).path))), Validators())
        headers = {"User-Agent": USER_AGENT, "Accept": "text/calendar, */*;q=0.5"}
        if validators.etag:
            headers["If-None-Match"] = validators.etag
        if validators.last_modified:
            headers["If-Modified-Since"] = validators.last_modified
        client = httpx.Client(
            timeout=TIMEOUT_SECONDS,
            follow_redirects=False,
            headers=headers,
            transport=self._transport,
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
                body = _read_capped(response, deadline)
                return Download(body, self._validators(response, Validators()))
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


def too_large(size: int) -> ApplicationError:
    return refused(f"the feed is over {MAX_FEED_BYTES} bytes ({size} bytes read)", "feed_too_large")


def _read_capped(response: httpx.Response, deadline: float) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FEED_BYTES:
        raise too_large(int(declared))
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_FEED_BYTES:
            raise too_large(size)  # stops reading: the rest is never downloaded
        if time.monotonic() > deadline:
            raise call_failed(
                NAME, OPERATION, status=None, message=f"the feed took over {TOTAL_SECONDS:.0f} s"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _read_file(path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            body = file.read(MAX_FEED_BYTES + 1)
    except FileNotFoundError:
        raise refused("the feed file does not exist", "feed_file_missing") from None
    except OSError as error:
        raise refused(
            f"the feed file cannot be read ({type(error).__name__})", "feed_file"
        ) from None
    if len(body) > MAX_FEED_BYTES:
        raise too_large(len(body))
    return body
