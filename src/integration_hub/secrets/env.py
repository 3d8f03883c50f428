"""The contract every connector uses (`SecretSource`) and the read-only environment source.

Every lookup returns all currently valid versions, newest first, so verifiers accept the
previous version during a rotation overlap. The env source reads `NAME` and `NAME_PREVIOUS`.
A family of secrets per instance is listed with `instances(family)` (see `instances.py`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from dotenv import dotenv_values

from integration_hub.secrets.instances import instances_among

PREVIOUS_SUFFIX = "_PREVIOUS"


class SecretSource(Protocol):
    def versions(self, name: str) -> tuple[str, ...]:
        """Valid versions of the secret, newest first; empty when it is not configured."""
        ...

    def instances(self, family: str) -> tuple[str, ...]:
        """The instance ids of a family declared per instance (`NAME__<INSTANCE>` set), sorted."""
        ...


class EnvSecretSource:
    """Reads secrets once from the process environment, falling back to a `.env` file."""

    def __init__(self, environ: Mapping[str, str] | None = None, env_file: Path | None = None):
        values: dict[str, str] = {}
        if env_file is not None and env_file.is_file():
            values.update({k: v for k, v in dotenv_values(env_file).items() if v})
        values.update(os.environ if environ is None else environ)
        self._values = values
        self._cache: dict[str, tuple[str, ...]] = {}

    def versions(self, name: str) -> tuple[str, ...]:
        cached = self._cache.get(name)
        if cached is None:
            found = (self._values.get(name), self._values.get(name + PREVIOUS_SUFFIX))
            cached = tuple(v for v in found if v)
            self._cache[name] = cached
        return cached

    def instances(self, family: str) -> tuple[str, ...]:
        return instances_among(family, (name for name, value in self._values.items() if value))
