"""kill -9 during a rotation: the store is the state before or after a rotation, never torn,
and every version it returns was written by a completed rotation."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.secrets.helpers import file_store

# Rotates one secret in a loop, printing each value only after `rotate` returned.
ROTATOR = """
import sys
from pathlib import Path
from integration_hub.secrets import EnvSecretSource
from integration_hub.secrets.file import FileSecretStore

store = FileSecretStore(Path(sys.argv[1]), fallback=EnvSecretSource(environ={}), refresh_seconds=0)
n = 0
while True:
    n += 1
    store.rotate("STRIPE_WEBHOOK_SECRET", f"whsec_rotation_{n:06d}")
    print(n, flush=True)
"""


def test_kill_9_mid_rotation_leaves_a_whole_store(tmp_path: Path) -> None:
    home = tmp_path / "var"
    file_store(home).set("STRIPE_WEBHOOK_SECRET", "whsec_rotation_000000")
    for delay in (0.01, 0.04, 0.09, 0.13, 0.2):  # spread over the write/fsync/rename cycle
        with subprocess.Popen(
            [sys.executable, "-c", ROTATOR, str(home)], stdout=subprocess.PIPE, text=True
        ) as rotator:
            assert rotator.stdout is not None
            first = int(rotator.stdout.readline())  # it is rotating
            time.sleep(delay)
            rotator.send_signal(signal.SIGKILL)
            completed = [first, *(int(n) for n in rotator.stdout.read().split())]

        versions = file_store(home).versions("STRIPE_WEBHOOK_SECRET")

        assert versions, "the store must still decrypt and hold the secret"
        newest = int(versions[0].rsplit("_", 1)[1])
        # The newest version is the last acknowledged rotation or the one in flight.
        assert newest in (completed[-1], completed[-1] + 1)
