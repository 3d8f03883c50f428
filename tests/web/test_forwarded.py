"""The URL Twilio signed, as the edge rebuilds it: X-Forwarded-* only from a trusted proxy, only
the right-most value (the one that proxy wrote), and only http/https as a scheme. The attack
over real HTTP is in test_ingest.py; these pin the rule for every shape of header."""

from __future__ import annotations

import pytest
from starlette.types import Scope

from integration_hub.web.forwarded import nearest_forwarded, request_url

PROXY = "10.0.0.5"


def _scope(peer: str, query: bytes = b"") -> Scope:
    return {
        "scheme": "http",
        "path": "/webhooks/twilio",
        "query_string": query,
        "client": (peer, 40000),
    }


def _url(peer: str, headers: dict[str, str], public_base: str | None = None) -> str:
    return request_url(
        _scope(peer), headers, public_base=public_base, trusted_proxies=frozenset({PROXY})
    )


@pytest.mark.parametrize(
    ("header", "nearest"),
    [
        (None, None),
        ("", None),
        ("hooks.example.com", "hooks.example.com"),
        ("evil.example, hooks.example.com", "hooks.example.com"),
        ("evil.example,hooks.example.com ", "hooks.example.com"),
        ("hooks.example.com, ", None),  # the proxy wrote nothing: no value, not the client's
    ],
)
def test_nearest_forwarded_is_the_right_most_value(header: str | None, nearest: str | None) -> None:
    assert nearest_forwarded(header) == nearest


def test_an_untrusted_peer_cannot_choose_host_or_scheme() -> None:
    headers = {
        "host": "hub.internal:8000",
        "x-forwarded-host": "evil.example",
        "x-forwarded-proto": "https",
    }
    assert _url("198.51.100.9", headers) == "http://hub.internal:8000/webhooks/twilio"


def test_a_trusted_proxy_decides_with_its_own_right_most_values() -> None:
    headers = {
        "host": "hub.internal:8000",
        "x-forwarded-host": "evil.example, hooks.example.com",
        "x-forwarded-proto": "http, https",
    }
    assert _url(PROXY, headers) == "https://hooks.example.com/webhooks/twilio"


@pytest.mark.parametrize("proto", ["javascript", "ftp", "https:", "", "data, javascript"])
def test_a_forwarded_scheme_other_than_http_or_https_is_ignored(proto: str) -> None:
    headers = {"host": "hub", "x-forwarded-host": "hooks.example.com", "x-forwarded-proto": proto}
    assert _url(PROXY, headers) == "http://hooks.example.com/webhooks/twilio"


def test_the_public_base_url_wins_over_every_header() -> None:
    headers = {"host": "evil.example", "x-forwarded-host": "evil.example"}
    url = request_url(
        _scope(PROXY, b"a=1"),
        headers,
        public_base="https://hooks.example.com",
        trusted_proxies=frozenset({PROXY}),
    )
    assert url == "https://hooks.example.com/webhooks/twilio?a=1"
