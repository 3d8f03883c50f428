"""What a feed URL may be, checked before it is stored (`hub ical add`, the admin API) and
again before every request (each redirect target too).

An https URL to a public host, without credentials in it; a local file (`file:///abs/path.ics`
or an absolute path) only where the caller allows files (the CLI, run by an operator on the
host; never the admin API). A private, loopback or link-local host is refused, so a feed URL
cannot make the hub call into its own network, unless `HUB_ICAL_ALLOW_PRIVATE_HOSTS` is set
(tests and local setups, which may then use plain http to such a host).

No error here says the URL: its query holds the feed's token.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from integration_hub.errors import HubError

MAX_URL_LENGTH = 2048
# Names that only ever mean a host on our own network.
PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")
Resolver = Callable[..., Sequence[tuple[Any, ...]]]


class FeedUrlRefused(HubError):
    """A feed URL the hub will not fetch (the detail never holds the URL)."""

    reason = "feed_url_refused"


def check_feed_url(
    url: str, *, allow_files: bool = False, allow_private_hosts: bool = False
) -> str:
    """The URL as it should be stored (file paths as `file:///...` URLs), or FeedUrlRefused."""
    url = url.strip()
    if not url or len(url) > MAX_URL_LENGTH:
        raise FeedUrlRefused(f"a feed URL is 1 to {MAX_URL_LENGTH} characters")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        raise FeedUrlRefused("a feed URL holds no control characters")
    if url.startswith("/"):  # a path (spaces allowed: the file URL quotes them)
        return _file_url(url, allow_files=allow_files)
    if " " in url:
        raise FeedUrlRefused("a feed URL holds no spaces")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise FeedUrlRefused("a file feed URL is file:///<absolute path>")
        return _file_url(unquote(parts.path), allow_files=allow_files)
    if scheme not in ("https", "http"):
        raise FeedUrlRefused("a feed URL is https (or a local file where files are allowed)")
    if "@" in parts.netloc:
        raise FeedUrlRefused("a feed URL carries no user name or password")
    host = (parts.hostname or "").lower()
    if not host:
        raise FeedUrlRefused("a feed URL names a host")
    try:
        parts.port  # noqa: B018 - a malformed port raises here
    except ValueError:
        raise FeedUrlRefused("a feed URL's port is a number") from None
    private = is_private_name(host)
    if private and not allow_private_hosts:
        raise FeedUrlRefused("a feed URL's host is private, loopback or local")
    if scheme == "http" and not (allow_private_hosts and private):
        raise FeedUrlRefused("a feed URL is https")
    return url


def _file_url(path: str, *, allow_files: bool) -> str:
    if not allow_files:
        raise FeedUrlRefused("a local file feed is only taken from the CLI")
    pure = PurePosixPath(path)
    if not pure.is_absolute() or ".." in pure.parts:
        raise FeedUrlRefused("a file feed is an absolute path without '..'")
    return pure.as_uri()


def is_private_name(host: str) -> bool:
    """Whether a host, as written, is one on our own network (an IP literal that is not a
    global address, localhost, a single-label or a local-only name)."""
    host = host.strip("[]").rstrip(".").lower()
    try:
        return not ipaddress.ip_address(host).is_global
    except ValueError:
        pass
    return host == "localhost" or "." not in host or host.endswith(PRIVATE_SUFFIXES)


def resolves_to_private(host: str, port: int, resolve: Resolver = socket.getaddrinfo) -> bool:
    """Whether any address `host` resolves to is not global (socket.gaierror when it does not
    resolve). Checked before each request, as a name can point anywhere."""
    for *_, address in resolve(host, port, type=socket.SOCK_STREAM):
        ip = ipaddress.ip_address(str(address[0]).split("%")[0])
        if not ip.is_global:
            return True
    return False
