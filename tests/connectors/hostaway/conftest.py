"""What the Hostaway call tests share: the stand-in over real HTTP, a file secret store holding
two connections' credentials (two accounts), and a client built the way a worker builds it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from integration_hub.connectors.hostaway.api import HostawayApi
from integration_hub.connectors.hostaway.settings import HostawaySettings
from integration_hub.secrets.file import FileSecretStore
from integration_hub.settings import Settings
from integration_hub.storage.rows import utcnow
from integration_hub.storage.tables import listings, properties
from tests.connectors.hostaway.fake import (
    OTHER_ACCOUNT_ID,
    OTHER_API_KEY,
    FakeHostaway,
    credentials,
    reservations,
)
from tests.partner_server import PartnerServer
from tests.pms_rows import make_connection
from tests.secrets.helpers import Clock, file_store

CONNECTION = "miami-homes"
OTHER_CONNECTION = "brickell-stays"  # another manager, another Hostaway account
TOKEN_SECRET = "HOSTAWAY_ACCESS_TOKEN__MIAMI-HOMES"


@pytest.fixture
def hostaway() -> FakeHostaway:
    return FakeHostaway(reservations=reservations(30500001, 30500002))


@pytest.fixture
def server(hostaway: FakeHostaway) -> Iterator[PartnerServer]:
    with PartnerServer(hostaway) as running:
        yield running


@pytest.fixture
def store(tmp_path: Path) -> FileSecretStore:
    other = credentials(OTHER_CONNECTION, account=OTHER_ACCOUNT_ID, key=OTHER_API_KEY)
    return file_store(tmp_path / "secrets", environ={**credentials(CONNECTION), **other})


def hostaway_settings(server: PartnerServer, **overrides: object) -> HostawaySettings:
    values: dict[str, object] = {"api_base_url": server.url, "token_settle_seconds": 0.0,
                                 **overrides}  # fmt: skip
    return HostawaySettings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


def settings_for(server: PartnerServer, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A worker's core settings, its HUB_HOSTAWAY_* (read from the environment when a poll
    builds its client) pointing at the stand-in, with no wait for a new token."""
    monkeypatch.setenv("HUB_HOSTAWAY_API_BASE_URL", server.url)
    monkeypatch.setenv("HUB_HOSTAWAY_TOKEN_SETTLE_SECONDS", "0")
    return Settings(_env_file=None)  # type: ignore[call-arg]


def api(
    server: PartnerServer,
    store: FileSecretStore,
    engine: Engine,
    *,
    clock: Clock | None = None,
    **overrides: object,
) -> HostawayApi:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    hostaway = hostaway_settings(server, **overrides)
    if clock is None:
        return HostawayApi(settings, store, engine, hostaway)
    return HostawayApi(settings, store, engine, hostaway, clock=clock, sleep=clock.advance)


def keep_listings(
    engine: Engine, connection: str, *ids: int, removed: tuple[int, ...] = ()
) -> None:
    """The listings the hub keeps for `connection` (as the core stores them), `removed` ones
    already marked removed."""
    now = utcnow()
    stamps = {"created_at": now, "updated_at": now}
    make_connection(engine, connection, partner="hostaway", manager="mgr-miami")
    with engine.begin() as db:
        for number in (*ids, *removed):
            property_id = f"prop_{number:024d}"
            db.execute(insert(properties).values(id=property_id, manager_id="mgr-miami",
                                                 name=f"Listing {number}", **stamps))  # fmt: skip
            db.execute(insert(listings).values(
                connection_id=connection, source_listing_id=str(number), source="hostaway",
                property_id=property_id, linked_by="auto",
                removed_at=now if number in removed else None, **stamps,
            ))  # fmt: skip
