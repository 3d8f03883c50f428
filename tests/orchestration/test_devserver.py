"""The embedded Temporal dev server's files (workflow inputs and results) are private even when
the process that starts it has a shell's umask: the child sets its own before it runs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from integration_hub.orchestration.devserver import EmbeddedTemporal


async def test_the_dev_server_creates_its_database_0600_in_a_0700_directory(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "state"
    temporal = EmbeddedTemporal(db_file=directory / "temporal.db")
    previous = os.umask(0o022)
    try:
        await temporal.start()
        os.umask(previous)
        created = {p.name: stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir()}
    finally:
        os.umask(previous)
        temporal.stop()
    assert "temporal.db" in created
    assert set(created.values()) == {0o600}, created
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
