"""The poll of one feed (one connection): fetch when due, store the calendar when it changed.

The cursor is compact JSON: `etag` and `last_modified` (the validators of the conditional
GET), `hash` (of the parsed calendar, `parse.calendar_hash`), `n` (how many calendars were
stored) and `at` (the last fetch, unix seconds, for HUB_ICAL_POLL_MINUTES). A 304 or an
unchanged hash stores nothing (only the cursor's validators and time move); a changed calendar
is ONE event with id `<connection>:<n>:<since>:<hash[:24]>`, where `since` is the previous
fetch's `at` (this fetch's time when the cursor is new): the counter makes A then B then A
again three events, a retry after a crash before the commit (same cursor) the same id, and an
identical calendar after a lost cursor (n back at 1) a new id, as `since` moved on.
Malformed events the parse skipped are logged (count only) and stored as `skipped`.
"""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import structlog
from sqlalchemy import Engine

from integration_hub.connectors import pms
from integration_hub.connectors.base import PartnerEvent
from integration_hub.connectors.call_limits import SharedLimiter, limit_backend
from integration_hub.connectors.ical import FEED_URL, FETCHED, NAME
from integration_hub.connectors.ical.bodies import refused
from integration_hub.connectors.ical.download import HOST_BUDGET, FeedDownloader, Validators
from integration_hub.connectors.ical.feeds import FeedUrlRefused, check_feed_url
from integration_hub.connectors.ical.parse import FeedUnreadable, calendar_hash, parse_calendar
from integration_hub.connectors.ical.settings import IcalSettings
from integration_hub.connectors.partner import PollContext, PollPage
from integration_hub.secrets.instances import is_instance_id
from integration_hub.storage import reservation_queries

# A schedule tick comes a little early or late: a feed due in under this is fetched now.
DUE_SLACK_SECONDS = 60
FEED_CHANNELS = frozenset({"airbnb", "vrbo", "booking", "other"})
log = structlog.get_logger(__name__)
_limiters: weakref.WeakKeyDictionary[Engine, SharedLimiter] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class Feed:
    status: str  # active | paused | held (held feeds are still fetched: the core decides)
    channel: pms.Channel


@dataclass(frozen=True, slots=True)
class Cursor:
    etag: str | None = None
    last_modified: str | None = None
    hash: str | None = None
    n: int = 0
    at: int | None = None

    @classmethod
    def load(cls, text: str | None) -> Cursor:
        try:
            data = json.loads(text) if text else {}
            return cls(
                etag=data.get("etag"),
                last_modified=data.get("last_modified"),
                hash=data.get("hash"),
                n=int(data.get("n", 0)),
                at=int(data["at"]) if data.get("at") is not None else None,
            )
        except (ValueError, TypeError, AttributeError):  # not ours: start over (a refetch)
            return cls()

    def dump(self) -> str:
        fields = {
            "etag": self.etag,
            "last_modified": self.last_modified,
            "hash": self.hash,
            "n": self.n,
            "at": self.at,
        }
        return json.dumps({k: v for k, v in fields.items() if v is not None}, separators=(",", ":"))

    @property
    def validators(self) -> Validators:
        return Validators(self.etag, self.last_modified)

    def due(self, now: float, minutes: int) -> bool:
        if self.at is None or self.at > now + DUE_SLACK_SECONDS:  # a clock that went back
            return True
        return now - self.at >= minutes * 60 - DUE_SLACK_SECONDS


def read_feed(engine: Engine, connection_id: str) -> Feed | None:
    with engine.connect().execution_options(read_only=True) as connection:
        row = reservation_queries.connection_row(
            connection, connection_id=connection_id, partner=NAME
        )
    if row is None:
        return None
    status, options = row
    channel = options.get("channel")
    return Feed(status=status, channel=channel if channel in FEED_CHANNELS else "other")


def _limiter(context: PollContext) -> SharedLimiter:
    engine = context.calls.engine
    limiter = _limiters.get(engine)
    if limiter is None:
        backend = limit_backend(context.calls.settings, engine)
        limiter = _limiters[engine] = SharedLimiter(NAME, HOST_BUDGET, backend)
    return limiter


def feed_url(context: PollContext, connection_id: str, *, allow_private_hosts: bool) -> str:
    secret = FEED_URL.for_instance(connection_id)
    versions = context.calls.secrets.versions(secret)
    if not versions:
        raise refused(f"{secret} is not set", "no_feed_url")
    try:  # files: a stored file URL was allowed when it was stored (only the CLI stores one)
        return check_feed_url(
            versions[0],
            allow_files=True,
            allow_private_hosts=allow_private_hosts,
        )
    except FeedUrlRefused as error:
        raise refused(f"{secret}: {error.detail}", error.reason) from None


def fetch_feed(
    context: PollContext,
    cursor: str | None,
    *,
    downloader: FeedDownloader | None = None,
    clock: Callable[[], float] = time.time,
    ical: IcalSettings | None = None,
) -> PollPage:
    connection_id = context.instance
    if not is_instance_id(connection_id):
        raise refused("an iCal feed is polled per connection", "no_connection")
    feed = read_feed(context.calls.engine, connection_id)
    if feed is None:
        raise refused(f"no iCal connection {connection_id}", "unknown_connection")
    # HUB_ICAL_* are the partner's own settings, read by each run (a tick, every 5 minutes).
    ical = ical or IcalSettings()
    state = Cursor.load(cursor)
    now = clock()
    if feed.status == "paused" or not state.due(now, ical.poll_minutes):
        return PollPage([], None)
    url = feed_url(context, connection_id, allow_private_hosts=ical.allow_private_hosts)
    downloader = downloader or FeedDownloader(
        _limiter(context), allow_private_hosts=ical.allow_private_hosts
    )
    download = downloader.get(url, state.validators)
    fetched = replace(
        state,
        at=int(now),
        etag=download.validators.etag,
        last_modified=download.validators.last_modified,
    )
    if download.body is None:
        return PollPage([], fetched.dump())
    fetched_at = datetime.fromtimestamp(now, UTC)
    try:
        parsed = parse_calendar(download.body, today=fetched_at.date(), channel=feed.channel)
    except FeedUnreadable as error:
        raise refused(str(error), "feed_unreadable") from None
    if parsed.skipped:
        log.warning("ical_events_skipped", connection=connection_id, skipped=parsed.skipped)
    entries = parsed.entries
    digest = calendar_hash(feed.channel, entries)
    if digest == state.hash:
        return PollPage([], fetched.dump())
    stored = replace(fetched, hash=digest, n=state.n + 1)
    body = {
        "listing": connection_id,
        "channel": feed.channel,
        "fetched_at": fetched_at.isoformat().replace("+00:00", "Z"),
        "entries": [entry.as_json() for entry in entries],
        "skipped": parsed.skipped,
    }
    since = state.at if state.at is not None else int(now)
    event = PartnerEvent(
        pms.connection_event_id(connection_id, f"{stored.n}:{since}:{digest[:24]}"),
        FETCHED,
        json.dumps(body, separators=(",", ":")).encode(),
    )
    return PollPage([event], stored.dump())
