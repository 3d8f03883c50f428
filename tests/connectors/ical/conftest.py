"""A feed connection in a real database, the secret holding its URL, and a local server that
serves a calendar the way Airbnb does (ETag, 304 on If-None-Match)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from integration_hub.connectors.call_limits import LimitBackend, MemoryBackend, SharedLimiter
from integration_hub.connectors.ical import FEED_URL
from integration_hub.connectors.ical.download import HOST_BUDGET, FeedDownloader
from integration_hub.connectors.partner import CallsContext, PollContext
from integration_hub.secrets import EnvSecretSource
from integration_hub.settings import Settings
from integration_hub.storage.engine import begin_write
from integration_hub.storage.rows import utcnow
from integration_hub.storage.tables import managers, pms_connections
from tests.helpers import make_settings
from tests.partner_server import PartnerServer, RecordedRequest, Reply

HERE = Path(__file__).parent
CONNECTION = "casa-brickell-airbnb"
TOKEN = "s=9e107d9d372bb6826bd81d3542a419d6"  # what makes a feed URL a secret
NOW = 1_796_119_200.0  # 2026-12-01T10:00:00Z: the fixtures' stays are ahead of it


def airbnb() -> bytes:
    return (HERE / "airbnb.ics").read_bytes()


def vrbo() -> bytes:
    return (HERE / "vrbo.ics").read_bytes()


@dataclass
class Feed:
    """Serves `body` with an ETag of its version; 304 when asked with the current one."""

    body: bytes = field(default_factory=airbnb)
    version: int = 1
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, body: bytes) -> None:
        with self.lock:
            self.body, self.version = body, self.version + 1

    def __call__(self, request: RecordedRequest) -> Reply:
        with self.lock:
            etag = f'"v{self.version}"'
            if request.headers.get("if-none-match") == etag:
                return Reply(304, b"", {"etag": etag})
            headers = {"etag": etag, "content-type": "text/calendar; charset=utf-8"}
            headers["last-modified"] = "Tue, 01 Dec 2026 09:30:12 GMT"
            return Reply(200, self.body, headers)


@pytest.fixture
def feed() -> Feed:
    return Feed()


@pytest.fixture
def server(feed: Feed) -> Iterator[PartnerServer]:
    with PartnerServer(feed) as running:
        yield running


def feed_url(server: PartnerServer) -> str:
    return f"{server.url}/calendar/ical/48213377.ics?{TOKEN}"


def add_connection(
    engine: Engine, connection: str = CONNECTION, *, channel: str = "airbnb", status: str = "active"
) -> None:
    now = utcnow()
    with begin_write(engine) as db:
        if db.execute(managers.select().where(managers.c.id == "brisa")).first() is None:
            db.execute(
                insert(managers).values(
                    id="brisa", name="Brisa Rentals Miami", billing_mode="per_job",
                    created_at=now, updated_at=now,
                )
            )  # fmt: skip
        db.execute(
            insert(pms_connections).values(
                id=connection, partner="ical", manager_id="brisa", label="Casa Brickell",
                status=status, options={"channel": channel, "listing_name": "Casa Brickell"},
                created_at=now, updated_at=now,
            )
        )  # fmt: skip


@pytest.fixture(autouse=True)
def _local_feeds(monkeypatch: pytest.MonkeyPatch) -> None:
    """HUB_ICAL_* as a poll reads them here: the stand-in is on loopback, every tick fetches."""
    monkeypatch.setenv("HUB_ICAL_ALLOW_PRIVATE_HOSTS", "true")
    monkeypatch.setenv("HUB_ICAL_POLL_MINUTES", "0")


def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url, "127.0.0.1:7233")


def poll_context(
    hub_settings: Settings, engine: Engine, url: str | None, connection: str = CONNECTION
) -> PollContext:
    environ = {FEED_URL.for_instance(connection): url} if url else {}
    calls = CallsContext(hub_settings, EnvSecretSource(environ=environ), engine)
    return PollContext(calls, instance=connection, max_events=100)


class Ticking:
    """A clock that moves 2 s (the host's window) on each reading."""

    def __init__(self, start: float = NOW) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 2.0
        return self.now


def downloader(
    clock: Callable[[], float] | None = None, backend: LimitBackend | None = None
) -> FeedDownloader:
    """A worker's downloader; give two the same `backend` (the database's) for two workers."""
    limiter = SharedLimiter(
        "ical", HOST_BUDGET, backend or MemoryBackend(), clock=clock or Ticking()
    )
    return FeedDownloader(limiter, allow_private_hosts=True)
