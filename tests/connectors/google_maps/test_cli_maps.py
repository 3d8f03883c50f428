"""`hub maps`: the same cached geocode as the activity, called directly (no Temporal)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from integration_hub.cli import app
from integration_hub.connectors.google_maps import cache
from integration_hub.storage.engine import begin_write, make_engine
from tests.connectors.google_maps.conftest import PLACE_ID
from tests.helpers import GOOGLE_MAPS_API_KEY
from tests.partner_server import PartnerServer, Reply

ADDRESS = "1000 Brickell Ave, Miami, FL 33131"


@pytest.fixture
def run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str, maps_server: PartnerServer
) -> Any:
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout
    env = {
        "HUB_DATABASE_URL": database_url,
        "HUB_MAPS_API_BASE_URL": maps_server.url,
        "GOOGLE_MAPS_API_KEY": GOOGLE_MAPS_API_KEY,
    }

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(app, ["maps", *args], env=env)

    return invoke


def test_geocode_prints_the_result_then_serves_it_from_the_cache(
    run: Any, maps_server: PartnerServer
) -> None:
    first, second = run("geocode", ADDRESS), run("geocode", ADDRESS)
    assert (first.exit_code, second.exit_code) == (0, 0)
    outputs = [json.loads(first.stdout), json.loads(second.stdout)]
    assert [(o["from_cache"], o["place_id"]) for o in outputs] == [
        (False, PLACE_ID),
        (True, PLACE_ID),
    ]
    assert len(maps_server.requests) == 1


def test_geocode_failure_exits_1_with_the_error(run: Any, maps_server: PartnerServer) -> None:
    maps_server.reply(Reply(body={"status": "REQUEST_DENIED", "results": []}))
    result = run("geocode", ADDRESS)
    assert result.exit_code == 1
    assert "REQUEST_DENIED" in result.stderr


def test_purge_deletes_expired_rows_and_prints_how_many(run: Any, database_url: str) -> None:
    run("geocode", ADDRESS)  # live for 30 days: kept
    engine = make_engine(database_url)
    with begin_write(engine) as connection:
        cache.put(
            connection,
            key="0" * 64,
            api="geocode",
            result=[{"place_id": PLACE_ID}],
            place_id=PLACE_ID,
            now=datetime.now(UTC) - timedelta(days=31),
            days=30,
        )
    engine.dispose()
    result = run("purge")
    assert (result.exit_code, json.loads(result.stdout)) == (0, {"deleted": 1})


def test_a_database_out_of_reach_is_one_line_unless_debugging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sub-app uses the database directly; `hub` still says what it tried."""
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout
    env = {"HUB_HOME": str(tmp_path), "HUB_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x"}

    result = CliRunner().invoke(app, ["maps", "purge"], env=env)
    debug = CliRunner().invoke(app, ["--debug", "maps", "purge"], env=env)

    assert result.exit_code == 2
    assert result.stderr == (
        "cannot reach the database at postgresql+psycopg://nobody@127.0.0.1:1/x: "
        "is the database server running, and the URL right? set HUB_DATABASE_URL\n"
    )
    assert isinstance(debug.exception, OperationalError)  # raised on, for the traceback
