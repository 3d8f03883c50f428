"""Which feed URLs the hub stores and fetches: https to public hosts; local files only where
allowed; no credentials; private hosts only with HUB_ICAL_ALLOW_PRIVATE_HOSTS. Errors never
repeat the URL (its query is the feed's token)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from integration_hub.connectors.ical.feeds import (
    FeedUrlRefused,
    check_feed_url,
    resolves_to_private,
)

TOKEN = "s=5f4dcc3b5aa765d61d8327deb882cf99"
AIRBNB = f"https://www.airbnb.com/calendar/ical/48213377.ics?{TOKEN}"


def test_an_airbnb_url_is_taken_as_it_is() -> None:
    assert check_feed_url(f"  {AIRBNB}\n") == AIRBNB


@pytest.mark.parametrize(
    "url",
    [
        f"http://www.airbnb.com/calendar/ical/1.ics?{TOKEN}",  # plain http
        f"ftp://www.airbnb.com/1.ics?{TOKEN}",
        f"https://host:{TOKEN}@www.airbnb.com/1.ics",  # credentials in the URL
        f"https://127.0.0.1/1.ics?{TOKEN}",
        f"https://10.1.2.3/1.ics?{TOKEN}",
        f"https://[::1]/1.ics?{TOKEN}",
        f"https://169.254.169.254/latest/meta-data?{TOKEN}",
        f"https://localhost/1.ics?{TOKEN}",
        f"https://intranet/1.ics?{TOKEN}",
        f"https://nas.local/1.ics?{TOKEN}",
        f"https://www.airbnb.com:99999/1.ics?{TOKEN}",
        f"https://www.airbnb.com/1 .ics?{TOKEN}",
        f"file:///srv/feeds/1.ics?{TOKEN}",
        "/srv/feeds/1.ics",  # files are not allowed here
    ],
)
def test_refused_urls_are_not_repeated_in_the_error(url: str) -> None:
    with pytest.raises(FeedUrlRefused) as refused:
        check_feed_url(url)
    assert TOKEN not in str(refused.value) and "airbnb" not in str(refused.value)
    assert "srv" not in str(refused.value)


def test_files_only_where_allowed_and_absolute() -> None:
    assert check_feed_url("/srv/feeds/casa playa.ics", allow_files=True) == (
        "file:///srv/feeds/casa%20playa.ics"
    )
    assert check_feed_url("file:///srv/feeds/1.ics", allow_files=True) == "file:///srv/feeds/1.ics"
    for url in ("file://server/share/1.ics", "file:///srv/../etc/passwd", "file:relative.ics"):
        with pytest.raises(FeedUrlRefused):
            check_feed_url(url, allow_files=True)


def test_private_hosts_and_their_plain_http_only_with_the_setting() -> None:
    local = "http://127.0.0.1:8081/feed.ics"
    assert check_feed_url(local, allow_private_hosts=True) == local
    with pytest.raises(FeedUrlRefused):
        check_feed_url("http://www.airbnb.com/1.ics", allow_private_hosts=True)


def test_a_public_name_that_resolves_to_a_private_address_is_caught() -> None:
    def resolve(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        address = {"calendar.example.com": "93.184.215.14", "rebind.example.com": "10.0.0.7"}
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address[host], port))]

    assert not resolves_to_private("calendar.example.com", 443, resolve)
    assert resolves_to_private("rebind.example.com", 443, resolve)
