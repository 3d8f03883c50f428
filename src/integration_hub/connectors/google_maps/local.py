"""The Maps calls outside Temporal, for `hub maps`: the activities' own methods, called directly.

No worker, no retries: a failed call prints its error once. The cache, its 30-day cap, the
client-side limit and the daily count are the same as in the worker (per process).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from integration_hub.connectors.google_maps.calls import GoogleMapsCalls
from integration_hub.connectors.google_maps.settings import MapsSettings
from integration_hub.secrets import EnvSecretSource
from integration_hub.settings import Settings
from integration_hub.storage import migrate
from integration_hub.storage.engine import make_engine


@contextlib.contextmanager
def local_calls(
    settings: Settings, maps: MapsSettings, env_file: Path = Path(".env")
) -> Iterator[GoogleMapsCalls]:
    """GoogleMapsCalls on the configured database (migrated first, as `hub serve` does)."""
    engine = make_engine(settings.resolved_database_url())
    try:
        migrate.upgrade(engine)
        calls = GoogleMapsCalls(maps, EnvSecretSource(env_file=env_file), engine)
        try:
            yield calls
        finally:
            calls.close()
    finally:
        engine.dispose()
