"""Issue 10 item 11: HUB_HOME is private. Raw bodies (phone numbers, e-mail addresses) sit in
hub.db and its WAL, workflow inputs in temporal.db, secrets in secrets.enc: after a real hub
ran, every directory there is 0700 and every file 0600, whatever the umask it was started
with; a hub (serve, worker, init) refuses to start while anything there is open to group or
others, naming the path and the chmod that fixes it."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from integration_hub.home import UnsafeFileMode, prepare_home
from integration_hub.runtime import Hub
from integration_hub.testing import HubProcess, hub_env
from tests.helpers import RunningHub, make_settings, partner_secrets, stripe_delivery, wait_until

SHELL_UMASK = 0o022  # what a login shell usually has: the hub must not rely on a stricter one


@contextlib.contextmanager
def shell_umask() -> Iterator[None]:
    previous = os.umask(SHELL_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def started_from_a_shell() -> Iterator[None]:
    """This process's umask is a shell's until the test ends (requested before the hub)."""
    with shell_umask():
        yield


def not_private(home: Path) -> dict[str, str]:
    """Every path under `home` (and `home`) that is not exactly 0700 (dirs) or 0600 (files)."""
    found = {}
    for path in [home, *home.rglob("*")]:
        with contextlib.suppress(FileNotFoundError):  # SQLite's -shm may go at any moment
            mode = path.stat().st_mode
            wanted = 0o700 if stat.S_ISDIR(mode) else 0o600
            if stat.S_IMODE(mode) != wanted:
                found[str(path.relative_to(home.parent))] = stat.filemode(mode)
    return found


def _hub(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HubProcess.hub_command(), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60, umask=SHELL_UMASK,
    )  # fmt: skip


def test_init_then_serve_with_embedded_temporal_leave_only_private_files(tmp_path: Path) -> None:
    """`make run` on a fresh machine: `hub init`, then `hub serve` with the embedded SQLite
    and Temporal dev server (temporal.db is written by that child process), both started
    with a shell's umask; a delivery goes through to its handler workflow."""
    home = tmp_path / "var"
    env = hub_env(home)

    init = _hub(tmp_path, env, "init")
    assert init.returncode == 0, init.stderr
    assert not_private(home) == {}
    assert {p.name for p in home.iterdir()} >= {"secrets.enc", "secrets.key"}
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600  # HUB_ADMIN_TOKEN

    hub = HubProcess(tmp_path, env, umask=SHELL_UMASK)
    env["HUB_URL"] = hub.url
    hub.start()
    try:
        sent = _hub(tmp_path, env, "send", "stripe", "payment_intent.succeeded")
        assert sent.returncode == 0, sent.stderr
        event_id = json.loads(sent.stdout)["partner_event_id"]
        shown: dict[str, object] = {}
        for _ in range(300):
            shown = json.loads(_hub(tmp_path, env, "events", "show", "stripe", event_id).stdout)
            if shown["status"] == "processed":
                break
            time.sleep(0.1)
        assert shown["status"] == "processed"  # stored, normalized, handled through Temporal
        names = {p.name for p in home.iterdir()}
        assert names >= {"hub.db", "hub.db-wal", "temporal.db", "secrets.enc", "secrets.key"}
        assert not_private(home) == {}  # while running: the WAL holds the raw body
    finally:
        hub.stop()
    assert not_private(home) == {}


async def test_a_running_hub_creates_only_private_files(
    started_from_a_shell: None, running_hub: RunningHub, tmp_path: Path
) -> None:
    """In process (SQLite, and PostgreSQL when configured): the hub set the umask itself."""
    body, headers = stripe_delivery()
    response = await running_hub.http.post("/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == 200
    event_id = orjson.loads(body)["id"]
    await wait_until(
        lambda: running_hub.admin.get(f"/api/events/stripe/{event_id}"),
        lambda r: r.json()["status"] == "processed",
    )
    assert os.umask(SHELL_UMASK) == 0o077  # the hub's; the fixture restores the caller's
    assert not_private(tmp_path) == {}


# Each: a path under HUB_HOME (a trailing / makes a directory) and a mode open to others.
EXPOSED = [
    ("hub.db", 0o644),
    ("hub.db-wal", 0o640),  # raw bodies
    ("hub.db-shm", 0o604),
    ("temporal.db", 0o644),
    ("secrets.enc", 0o602),  # writable only: others could replace it
    ("secrets.key", 0o620),
    ("lake/2025/06/part-0.parquet", 0o644),  # anything else, at any depth
    ("lake/", 0o755),
    ("lake/2025/", 0o750),
    ("", 0o755),  # HUB_HOME itself
    ("", 0o701),
]


def _expose(home: Path, relative: str, mode: int) -> Path:
    """A private home with one path in it opened to others."""
    home.mkdir(mode=0o700, exist_ok=True)
    target = home / relative
    if relative.endswith("/") or not relative:
        target.mkdir(mode=0o700, parents=True, exist_ok=True)
    else:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        target.write_bytes(b"+13055550142 ana@example.com")
        target.chmod(0o600)
    target.chmod(mode)
    return target


@pytest.mark.parametrize(("relative", "mode"), EXPOSED)
def test_anything_under_hub_home_open_to_others_is_refused_with_its_chmod(
    tmp_path: Path, relative: str, mode: int
) -> None:
    home = tmp_path / "var"
    target = _expose(home, relative, mode)
    with pytest.raises(UnsafeFileMode) as refused:
        prepare_home(home)
    wanted = "700" if target.is_dir() else "600"
    assert f"`chmod {wanted} {target}`" in refused.value.detail
    assert stat.filemode(target.stat().st_mode) in refused.value.detail
    assert refused.value.reason == "unsafe_file_mode"
    assert "ana@example.com" not in refused.value.detail
    assert stat.S_IMODE(target.stat().st_mode) == mode  # refused, not silently "fixed"


def test_several_exposed_paths_are_all_named_with_one_command_for_all(tmp_path: Path) -> None:
    home = tmp_path / "var"
    _expose(home, "hub.db", 0o644)
    _expose(home, "temporal.db", 0o644)
    home.chmod(0o755)
    with pytest.raises(UnsafeFileMode) as refused:
        prepare_home(home)
    for name in ("var ", "hub.db", "temporal.db"):
        assert name in refused.value.detail
    assert f"`chmod -R go= {home}`" in refused.value.detail


def test_a_link_to_a_file_others_can_read_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "var"
    home.mkdir(mode=0o700)
    outside = tmp_path / "elsewhere.db"
    outside.write_bytes(b"raw bodies")
    outside.chmod(0o644)
    (home / "hub.db").symlink_to(outside)
    (home / "dangling").symlink_to(tmp_path / "gone")  # nothing to read: no objection
    with pytest.raises(UnsafeFileMode, match=r"hub\.db is readable by others"):
        prepare_home(home)
    outside.chmod(0o600)
    prepare_home(home)


def test_a_missing_home_is_created_0700_with_the_private_umask(tmp_path: Path) -> None:
    home = tmp_path / "deep" / "var"
    with shell_umask():
        assert prepare_home(home) == home.resolve()
        assert os.umask(SHELL_UMASK) == 0o077
    assert not_private(tmp_path / "deep") == {}


@pytest.mark.usefixtures("started_from_a_shell")
def test_a_hub_refuses_to_start_on_a_database_file_others_can_read(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    """The Hub object every process builds refuses, on SQLite and PostgreSQL (hub.db under
    HUB_HOME is refused whether or not it is the configured database)."""
    settings = make_settings(tmp_path, database_url, temporal_address)
    _expose(tmp_path, "hub.db", 0o644)
    with pytest.raises(UnsafeFileMode) as refused:
        Hub(settings, secrets=partner_secrets())
    assert f"`chmod 600 {tmp_path / 'hub.db'}`" in refused.value.detail


def test_hub_serve_refuses_a_hub_home_others_can_read(tmp_path: Path) -> None:
    home = tmp_path / "var"
    env = hub_env(home)
    home.mkdir(mode=0o755)
    home.chmod(0o755)  # as `mkdir var` in a shell leaves it

    result = _hub(tmp_path, env, "serve", "--port", "1")

    assert result.returncode == 2
    assert f"refusing to start: HUB_HOME must be private to its owner: {home} is " in result.stderr
    assert f"`chmod 700 {home}`" in result.stderr
    assert "Traceback" not in result.stderr


def test_hub_serve_and_worker_refuse_a_database_others_can_read(
    tmp_path: Path, temporal_address: str
) -> None:
    """A hub.db from before this rule (0644 in a private home): both entry points refuse."""
    home = tmp_path / "var"
    env = hub_env(home)
    migrated = _hub(tmp_path, env, "migrate")  # creates hub.db, private despite the umask
    assert migrated.returncode == 0, migrated.stderr
    assert not_private(home) == {}
    (home / "hub.db").chmod(0o644)

    serve = _hub(tmp_path, env, "serve", "--port", "1")
    worker = _hub(tmp_path, {**env, "HUB_TEMPORAL_ADDRESS": temporal_address}, "worker")
    init = _hub(tmp_path, env, "init")

    for result in (serve, worker):
        assert result.returncode == 2, result.stderr
        assert "refusing to start" in result.stderr
        assert f"{home / 'hub.db'} is readable by others (mode -rw-r--r--)" in result.stderr
        assert f"`chmod 600 {home / 'hub.db'}`" in result.stderr
        assert "Traceback" not in result.stderr
    assert init.returncode == 2
    assert f"`chmod 600 {home / 'hub.db'}`" in init.stderr
    assert not (tmp_path / ".env").exists()  # refused before writing anything


def test_init_tightens_an_env_file_others_can_read(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("HUB_LOG_LEVEL=INFO\n")
    env_file.chmod(0o644)

    result = _hub(tmp_path, hub_env(tmp_path / "var"), "init")

    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "HUB_ADMIN_TOKEN=" in env_file.read_text()
    assert not_private(tmp_path / "var") == {}
