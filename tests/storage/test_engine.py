"""A SQLite database kept outside HUB_HOME (HUB_DATABASE_URL=sqlite:///...) follows HUB_HOME's
rule: the database, its WAL and shared-memory files are 0600 whatever the umask; an existing
one open to others, or a directory others may write, is refused with the chmod that fixes it."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from integration_hub.home import UnsafeFileMode
from integration_hub.storage.engine import begin_write, make_engine

PHONE = "+13055550142"


@contextlib.contextmanager
def shell_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _write_a_row(url: str) -> None:
    engine = make_engine(url)
    try:
        with begin_write(engine) as connection:
            connection.execute(text("CREATE TABLE IF NOT EXISTS raw (body TEXT)"))
            connection.execute(text("INSERT INTO raw VALUES (:body)"), {"body": PHONE})
        with engine.connect() as connection:
            assert connection.execute(text("SELECT body FROM raw")).scalar_one() == PHONE
    finally:
        engine.dispose()


def _modes(directory: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir()}


def test_a_new_database_its_wal_and_its_directory_are_private_whatever_the_umask(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "data" / "hub"
    with shell_umask():
        engine = make_engine(f"sqlite:///{directory / 'hub.db'}")
        try:
            with begin_write(engine) as connection:
                connection.execute(text("CREATE TABLE raw (body TEXT)"))
                connection.execute(text("INSERT INTO raw VALUES (:body)"), {"body": PHONE})
            modes = _modes(directory)  # while a connection is open: the WAL is still there
        finally:
            engine.dispose()
    assert modes == {"hub.db": 0o600, "hub.db-wal": 0o600, "hub.db-shm": 0o600}
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(directory.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize("name", ["hub.db", "hub.db-wal", "hub.db-shm", "hub.db-journal"])
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o602])
def test_an_existing_database_file_open_to_others_is_refused(
    tmp_path: Path, name: str, mode: int
) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    _write_a_row(url)
    exposed = tmp_path / name
    exposed.touch(mode=0o600)  # a leftover journal or WAL, as a crash can leave one
    exposed.chmod(mode)
    with pytest.raises(UnsafeFileMode) as refused:
        make_engine(url)
    assert f"{exposed} is " in refused.value.detail
    assert f"`chmod 600 {exposed}`" in refused.value.detail
    assert stat.S_IMODE(exposed.stat().st_mode) == mode  # refused, not silently changed


def test_a_directory_others_may_write_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    directory.mkdir(mode=0o700)
    directory.chmod(0o777)  # anyone could swap the database or pre-create its WAL
    with pytest.raises(UnsafeFileMode, match=r"is writable by others \(mode drwxrwxrwx\)"):
        make_engine(f"sqlite:///{directory / 'hub.db'}")
    assert not (directory / "hub.db").exists()


def test_a_directory_others_may_only_list_is_accepted_outside_hub_home(tmp_path: Path) -> None:
    directory = tmp_path / "srv"
    directory.mkdir(mode=0o700)
    directory.chmod(0o755)  # e.g. /var/lib/hub: the names show, the files stay private
    _write_a_row(f"sqlite:///{directory / 'hub.db'}")
    assert set(_modes(directory).values()) == {0o600}
