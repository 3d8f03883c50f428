"""One feed polled against a local server and a real database: conditional GET, one event per
changed calendar (A, B, A again: three), the feed's refusals, its size and redirect bounds, the
host limit, and the URL (the feed's token) never in an error, a log line or a stored event."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import pytest
import structlog
from sqlalchemy import Engine
from structlog.testing import capture_logs
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.call_limits import limit_backend
from integration_hub.connectors.ical.parse import MAX_FEED_BYTES
from integration_hub.connectors.ical.poll import Cursor, fetch_feed
from integration_hub.connectors.ical.settings import IcalSettings
from integration_hub.connectors.partner import PollPage
from tests.connectors.ical.conftest import (
    CONNECTION,
    NOW,
    TOKEN,
    Feed,
    Ticking,
    add_connection,
    downloader,
    feed_url,
    poll_context,
    settings,
    vrbo,
)
from tests.partner_server import PartnerServer, Reply


@pytest.fixture
def connected(engine: Engine) -> Engine:
    add_connection(engine)
    return engine


def poll(
    tmp_path: Path,
    database_url: str,
    engine: Engine,
    url: str | None,
    cursor: str | None,
    clock: Ticking,
    **overrides: object,
) -> PollPage:
    context = poll_context(settings(tmp_path, database_url), engine, url)
    ical = IcalSettings(**overrides) if overrides else None  # type: ignore[arg-type]
    return fetch_feed(context, cursor, downloader=downloader(clock), clock=clock, ical=ical)


def test_a_calendar_is_stored_once_per_change_and_a_304_stores_nothing(
    tmp_path: Path, database_url: str, connected: Engine, feed: Feed, server: PartnerServer
) -> None:
    url, clock = feed_url(server), Ticking()

    def run(cursor: str | None) -> PollPage:
        return poll(tmp_path, database_url, connected, url, cursor, clock)

    first = run(None)
    [event] = first.events
    assert event.event_type == "calendar.fetched"
    assert event.partner_event_id.startswith(f"{CONNECTION}:1:")
    body = json.loads(event.body)
    assert (body["listing"], body["channel"]) == (CONNECTION, "airbnb")
    assert [(e["start"], e["summary_kind"], e["channel_code"]) for e in body["entries"]] == [
        ("2026-12-04", "reserved", "HMABCD1234"),
        ("2026-12-10", "blocked", None),
        ("2026-12-18", "reserved", "HMZX98Y7W6"),
    ]
    assert first.cursor is not None and len(first.cursor) <= 1024
    assert Cursor.load(first.cursor).etag == '"v1"'
    # A lost cursor (n back at 1): the same calendar is a new event, not a duplicate of the
    # first one ever stored (the core may have seen others since).
    assert run(None).events[0].partner_event_id != event.partner_event_id

    not_modified = run(first.cursor)
    assert not_modified.events == []
    asked = server.requests[-1].headers
    assert asked["if-none-match"] == '"v1"'
    assert asked["if-modified-since"] == "Tue, 01 Dec 2026 09:30:12 GMT"
    assert "integration-hub" in asked["user-agent"]
    assert server.requests[-1].path == "/calendar/ical/48213377.ics"
    assert server.requests[-1].query == {"s": [TOKEN.removeprefix("s=")]}

    a_body = feed.body
    feed.publish(vrbo())  # B
    second = run(not_modified.cursor)
    feed.publish(a_body)  # A again
    third = run(second.cursor)
    feed.publish(a_body)  # a new ETag, the same calendar: nothing to store
    same = run(third.cursor)
    assert server.requests[-1].headers["accept-encoding"] == "gzip, deflate"

    # A retry after a crash before the commit fetches from the same cursor: the same id.
    feed.publish(a_body)
    assert run(second.cursor).events[0].partner_event_id == third.events[0].partner_event_id
    ids = [page.events[0].partner_event_id for page in (first, second, third)]
    assert len(set(ids)) == 3
    assert [i.split(":")[1] for i in ids] == ["1", "2", "3"]
    assert ids[0].split(":")[3] == ids[2].split(":")[3]  # the same calendar, counted apart
    assert same.events == [] and Cursor.load(same.cursor).etag == '"v4"'
    stored = b"".join(page.events[0].body for page in (first, second, third))
    assert TOKEN.encode() not in stored and b"127.0.0.1" not in stored
    assert b"Phone" not in stored and b"Gonz" not in stored


def test_a_feed_is_fetched_only_when_due_and_not_while_paused(
    tmp_path: Path, database_url: str, engine: Engine, server: PartnerServer
) -> None:
    add_connection(engine)
    add_connection(engine, "casa-paused", status="paused")
    recent = Cursor(hash="0" * 64, n=4, at=int(NOW) - 120).dump()
    clock = Ticking()

    early = poll(tmp_path, database_url, engine, feed_url(server), recent, clock,
                 poll_minutes=10)  # fmt: skip
    context = poll_context(
        settings(tmp_path, database_url), engine, feed_url(server), "casa-paused"
    )
    paused = fetch_feed(context, None, downloader=downloader(), clock=clock)

    assert early == PollPage([], None) and paused == PollPage([], None)
    assert server.requests == []
    clock.now += 10 * 60
    assert poll(tmp_path, database_url, engine, feed_url(server), recent, clock,
                poll_minutes=10).events  # fmt: skip


def refusal(
    tmp_path: Path, database_url: str, engine: Engine, url: str | None, clock: Ticking | None = None
) -> ApplicationError:
    with pytest.raises(ApplicationError) as raised:
        poll(tmp_path, database_url, engine, url, None, clock or Ticking())
    return raised.value


def test_refusals_and_failures_never_name_the_url(
    tmp_path: Path,
    database_url: str,
    connected: Engine,
    server: PartnerServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url, errors = feed_url(server), []
    with capture_logs() as logs:
        for status in (404, 410, 401, 403):
            server.reply(Reply(status, b"gone"))
            error = refusal(tmp_path, database_url, connected, url)
            assert error.non_retryable and f"feed refused ({status})" in error.message
            errors.append(error)
        server.reply(Reply(503, b"down", {"retry-after": "30"}))
        down = refusal(tmp_path, database_url, connected, url)
        assert not down.non_retryable and down.next_retry_delay is not None
        assert down.next_retry_delay.total_seconds() == 30
        server.reply(Reply(200, b"<html>maintenance</html>"))
        unreadable = refusal(tmp_path, database_url, connected, url)
        assert unreadable.non_retryable and "not an iCalendar" in unreadable.message
        server.reply(Reply(200, b"x" * (MAX_FEED_BYTES + 1)))
        large = refusal(tmp_path, database_url, connected, url)
        assert large.non_retryable and f"over {MAX_FEED_BYTES} bytes" in large.message
        # 20 KB on the wire that inflate to 3 MB: cut off while streaming, past 2 MB.
        bomb = gzip.compress(b"BEGIN:VEVENT\r\n" * (3 * 1024 * 1024 // 14))
        server.reply(Reply(200, bomb, {"content-encoding": "gzip"}))
        inflated = refusal(tmp_path, database_url, connected, url)
        assert inflated.non_retryable and f"over {MAX_FEED_BYTES} bytes" in inflated.message
        assert len(bomb) < MAX_FEED_BYTES // 10
        missing = refusal(tmp_path, database_url, connected, None)
        assert missing.non_retryable and "ICAL_FEED_URL__CASA-BRICKELL-AIRBNB" in missing.message
        errors += [down, unreadable, large, inflated, missing]
        structlog.get_logger("test").info("seen", errors=[e.message for e in errors])
    texts = [e.message for e in errors] + [repr(entry) for entry in logs]
    texts += [record.getMessage() for record in caplog.records]
    assert logs
    for text in texts:
        assert TOKEN not in text and "48213377" not in text and server.url not in text


def test_a_429_pauses_the_host_for_every_worker_with_its_retry_after(
    tmp_path: Path, database_url: str, connected: Engine, server: PartnerServer
) -> None:
    server.reply(Reply(429, b"slow down", {"retry-after": "7"}))
    clock = Ticking()
    hub_settings = settings(tmp_path, database_url)
    context = poll_context(hub_settings, connected, feed_url(server))
    # Two workers: each its own limiter, both on the hub's shared backend (the database).
    one, other = (downloader(clock, limit_backend(hub_settings, connected)) for _ in range(2))

    with pytest.raises(ApplicationError) as limited:
        fetch_feed(context, None, downloader=one, clock=clock)
    with pytest.raises(ApplicationError) as paused:
        fetch_feed(context, None, downloader=other, clock=clock)

    assert not limited.value.non_retryable
    assert limited.value.next_retry_delay is not None
    assert limited.value.next_retry_delay.total_seconds() == 7
    assert paused.value.type == "ical.rate_limited" and "429" in paused.value.message
    assert len(server.requests) == 1  # the pause kept the other worker's call home
    clock.now += 8
    assert fetch_feed(context, None, downloader=other, clock=clock).events


def test_five_calls_a_second_per_host_across_workers(
    tmp_path: Path, database_url: str, connected: Engine, server: PartnerServer
) -> None:
    """Airbnb serves every host's feeds from one name: a host takes 5 calls a second (and
    120 a minute) from all workers together, not one per 2 s."""
    hub_settings = settings(tmp_path, database_url)
    context = poll_context(hub_settings, connected, feed_url(server))
    frozen = Ticking()
    frozen.now = NOW
    workers = [downloader(lambda: NOW, limit_backend(hub_settings, connected)) for _ in range(2)]

    for n in range(5):
        assert fetch_feed(context, None, downloader=workers[n % 2], clock=frozen).events
    with pytest.raises(ApplicationError) as limited:
        fetch_feed(context, None, downloader=workers[1], clock=frozen)

    assert limited.value.type == "ical.rate_limited" and not limited.value.non_retryable
    assert len(server.requests) == 5


def test_redirects_are_followed_within_bounds_and_never_to_a_file(
    tmp_path: Path, database_url: str, connected: Engine, server: PartnerServer
) -> None:
    url = feed_url(server)
    # Moved on the same host: followed (and the host limit is taken once per download).
    server.reply(Reply(301, b"", {"location": "/calendar/ical/moved.ics?s=x"}))
    assert poll(tmp_path, database_url, connected, url, None, Ticking()).events
    assert server.requests[-1].path == "/calendar/ical/moved.ics"

    server.reply(Reply(302, b"", {"location": "file:///etc/passwd"}))
    to_file = refusal(tmp_path, database_url, connected, url)
    assert to_file.non_retryable and "file" in to_file.message

    hop = Reply(302, b"", {"location": "/again.ics"})
    server.reply(hop, hop, hop, hop)
    looping = refusal(tmp_path, database_url, connected, url)
    assert looping.non_retryable and "more than 3" in looping.message


def test_a_local_file_feed_is_read_when_files_were_allowed(
    tmp_path: Path, database_url: str, connected: Engine
) -> None:
    path = tmp_path / "casa brickell.ics"
    path.write_bytes(vrbo())

    page = poll(tmp_path, database_url, connected, str(path), None, Ticking())
    missing = refusal(tmp_path, database_url, connected, str(tmp_path / "gone.ics"))

    assert [e["summary_kind"] for e in json.loads(page.events[0].body)["entries"]] == [
        "reserved",
        "blocked",
        "reserved",
    ]
    assert missing.non_retryable and "does not exist" in missing.message
    assert "gone.ics" not in missing.message


def test_a_file_feed_that_is_not_a_regular_file_is_refused_without_blocking(
    tmp_path: Path, database_url: str, connected: Engine
) -> None:
    """A FIFO would block a plain open forever (no writer); a directory or a device is no
    calendar. Both are refused at once, naming neither path."""
    import os

    fifo = tmp_path / "feed.ics"
    os.mkfifo(fifo)
    for path in (fifo, tmp_path):
        error = refusal(tmp_path, database_url, connected, str(path))
        assert error.non_retryable and "not a regular file" in error.message
        assert str(tmp_path) not in error.message
    large = tmp_path / "large.ics"
    large.write_bytes(b"x" * (MAX_FEED_BYTES + 1))
    too_large = refusal(tmp_path, database_url, connected, str(large))
    assert too_large.non_retryable and f"over {MAX_FEED_BYTES} bytes" in too_large.message


def test_a_redirect_to_a_private_address_is_refused_before_it_is_called() -> None:
    """Without HUB_ICAL_ALLOW_PRIVATE_HOSTS: a public feed host that redirects into our own
    network (an address, or a name resolving to one) is not followed. The public host cannot be
    a local server, so this one is answered in-process; the resolver is a fixed table."""
    import socket
    from typing import Any

    import httpx

    from integration_hub.connectors.call_limits import MemoryBackend, SharedLimiter
    from integration_hub.connectors.ical.download import HOST_BUDGET, FeedDownloader, Validators

    addresses = {"calendar.example.com": "93.184.215.14", "rebind.example.com": "10.0.0.7"}

    def resolve(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (addresses[host], port))]

    for target, why in [
        ("https://10.0.0.5/latest/meta-data", "private"),
        ("https://rebind.example.com/feed.ics", "resolves to a private address"),
        ("http://calendar.example.com/feed.ics", "https"),
    ]:
        seen: list[httpx.Request] = []

        def answer(
            request: httpx.Request, target: str = target, seen: list[httpx.Request] = seen
        ) -> httpx.Response:
            seen.append(request)
            return httpx.Response(302, headers={"location": target})

        limiter = SharedLimiter("ical", HOST_BUDGET, MemoryBackend())
        fetcher = FeedDownloader(
            limiter,
            allow_private_hosts=False,
            resolve=resolve,
            transport=httpx.MockTransport(answer),
        )
        with pytest.raises(ApplicationError) as refused:
            fetcher.get(f"https://calendar.example.com/ical/1.ics?{TOKEN}", Validators())
        assert refused.value.non_retryable and why in refused.value.message
        assert TOKEN not in refused.value.message
        assert [str(r.url.host) for r in seen] == ["calendar.example.com"]
