"""A clock tests move by hand, and a file store under a test's directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from integration_hub.secrets import EnvSecretSource
from integration_hub.secrets.file import FileSecretStore

T0 = 1_750_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def file_store(
    home: Path, *, environ: dict[str, str] | None = None, **options: Any
) -> FileSecretStore:
    return FileSecretStore(
        home, fallback=EnvSecretSource(environ=environ or {}), refresh_seconds=0, **options
    )
