"""What the writable stores share: versions with expiry, rotation with an overlap, ages.

A secret is a tuple of versions, newest first. The newest never expires; `set` replaces every
version at once, `rotate` adds a new one and keeps the valid older ones until `now + overlap`
(or their own earlier expiry). `versions()` returns only the valid ones, so once the overlap
ends the previous version verifies nothing. A store answers for the names it holds and asks
its fallback (the environment/.env) for the others.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

from integration_hub.errors import HubError
from integration_hub.secrets.env import SecretSource
from integration_hub.secrets.instances import (
    MAX_INSTANCES,
    SEPARATOR,
    TooManyInstances,
    instances_among,
)

Record = tuple["Version", ...]
DEFAULT_OVERLAP = timedelta(hours=24)
DEFAULT_MAX_AGE = timedelta(days=90)
# A name, or an instance's name in a family (`FAMILY__INSTANCE`, the id upper-cased: instances.py).
NAME = re.compile(r"[A-Za-z0-9_]{1,128}(?:__[A-Z0-9][A-Z0-9_-]{0,62})?")


class SecretStoreError(HubError):
    """The store cannot be used as configured (bad key, unsafe key file, unreachable)."""

    reason = "secret_store_error"


@dataclass(frozen=True)
class Version:
    value: str
    created_at: float  # unix seconds
    expires_at: float | None = None  # None: valid until a rotation sets it
    rotation_id: str | None = None  # makes a retried rotation step a no-op

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "rotation_id": self.rotation_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Version:
        return cls(
            value=str(data["value"]),
            created_at=float(data["created_at"]),
            expires_at=None if data.get("expires_at") is None else float(data["expires_at"]),
            rotation_id=data.get("rotation_id"),
        )


@dataclass(frozen=True)
class SecretPolicy:
    """Overlap after a rotation and maximum age, with per-secret overrides (by name)."""

    overlap: timedelta = DEFAULT_OVERLAP
    max_age: timedelta = DEFAULT_MAX_AGE
    overlap_by_name: Mapping[str, timedelta] = field(default_factory=dict)
    max_age_by_name: Mapping[str, timedelta] = field(default_factory=dict)

    # An instance's secret (`FAMILY__INSTANCE`) takes its own override, else its family's.
    def overlap_for(self, name: str) -> timedelta:
        family = name.split(SEPARATOR, 1)[0]
        return self.overlap_by_name.get(name, self.overlap_by_name.get(family, self.overlap))

    def max_age_for(self, name: str) -> timedelta:
        family = name.split(SEPARATOR, 1)[0]
        return self.max_age_by_name.get(name, self.max_age_by_name.get(family, self.max_age))


@dataclass(frozen=True)
class SecretInfo:
    """What may be shown about a secret: never a value."""

    name: str
    versions: int
    age_seconds: float  # of the newest version
    previous_expires_at: float | None  # when the last older version stops verifying
    max_age_seconds: float

    @property
    def past_max_age(self) -> bool:
        return self.age_seconds > self.max_age_seconds


def valid(record: Record, now: float) -> Record:
    return tuple(v for v in record if v.expires_at is None or v.expires_at > now)


def rotated(
    record: Record, value: str, *, now: float, overlap: timedelta, rotation_id: str | None
) -> Record:
    until = now + overlap.total_seconds()
    older = tuple(
        replace(v, expires_at=until if v.expires_at is None else min(v.expires_at, until))
        for v in valid(record, now)
    )
    newest = Version(value=value, created_at=now, rotation_id=rotation_id)
    return (newest, *(v for v in older if v.expires_at is not None and v.expires_at > now))


@runtime_checkable
class SecretStore(Protocol):
    """A `SecretSource` that can also be written and listed."""

    def versions(self, name: str) -> tuple[str, ...]: ...

    def holds(self, name: str) -> bool: ...

    def instances(self, family: str) -> tuple[str, ...]: ...

    def set(self, name: str, value: str) -> None: ...

    def rotate(
        self,
        name: str,
        value: str,
        *,
        overlap: timedelta | None = None,
        rotation_id: str | None = None,
    ) -> bool: ...

    def adopt(self, name: str, values: tuple[str, ...]) -> None: ...

    def describe(self) -> list[SecretInfo]: ...


class RecordStore:
    """The logic of a writable store over `_record`, `_records` and `_modify` (per backend)."""

    def __init__(
        self,
        *,
        fallback: SecretSource,
        policy: SecretPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.fallback = fallback
        self.policy = policy or SecretPolicy()
        self.clock = clock

    # Backend hooks.
    def _record(self, name: str) -> Record | None:
        raise NotImplementedError

    def _records(self) -> dict[str, Record]:
        raise NotImplementedError

    def _modify(self, name: str, change: Callable[[Record | None], Record | None]) -> None:
        raise NotImplementedError

    def _names(self, prefix: str) -> Iterable[str]:
        """Stored names starting with `prefix` (a backend may list names without values)."""
        return [name for name in self._records() if name.startswith(prefix)]

    # SecretSource: store first, then the fallback.
    def versions(self, name: str) -> tuple[str, ...]:
        record = self._record(name)
        if record is None:
            return self.fallback.versions(name)
        return tuple(v.value for v in valid(record, self.clock()))

    def holds(self, name: str) -> bool:
        return self._record(name) is not None

    def instances(self, family: str) -> tuple[str, ...]:
        """The family's instance ids held here or in the fallback, sorted."""
        found = {*instances_among(family, self._names(family + SEPARATOR))}
        found.update(self.fallback.instances(family))
        if len(found) > MAX_INSTANCES:
            raise TooManyInstances(f"{family}: more than {MAX_INSTANCES} instances")
        return tuple(sorted(found))

    def has_rotation(self, name: str, rotation_id: str) -> bool:
        """Whether a rotation step with this id was stored (so a retried step can skip a call
        to the partner that would mint yet another value)."""
        return any(v.rotation_id == rotation_id for v in self._record(name) or ())

    def set(self, name: str, value: str) -> None:
        """Replace every version: the old ones stop verifying at once (use `rotate` to overlap)."""
        _check(name, value)
        now = self.clock()
        self._modify(name, lambda _: (Version(value=value, created_at=now),))

    def rotate(
        self,
        name: str,
        value: str,
        *,
        overlap: timedelta | None = None,
        rotation_id: str | None = None,
    ) -> bool:
        """Make `value` the newest version; the older ones stay valid for the overlap. With a
        `rotation_id` already applied, changes nothing and returns False (a retried step)."""
        _check(name, value)
        window = self.policy.overlap_for(name) if overlap is None else overlap
        applied = [True]

        def change(record: Record | None) -> Record:
            now = self.clock()
            if record is None:  # first version: carry over what the environment had
                record = tuple(Version(v, created_at=now) for v in self.fallback.versions(name))
            if rotation_id is not None and any(v.rotation_id == rotation_id for v in record):
                applied[0] = False
                return record
            return rotated(record, value, now=now, overlap=window, rotation_id=rotation_id)

        self._modify(name, change)
        return applied[0]

    def adopt(self, name: str, values: tuple[str, ...]) -> None:
        """Take over versions held elsewhere (newest first, e.g. `NAME` and `NAME_PREVIOUS`):
        the newest becomes current, the others stay valid for the overlap."""
        for value in values:
            _check(name, value)
        now = self.clock()
        until = now + self.policy.overlap_for(name).total_seconds()
        record = (
            Version(values[0], created_at=now),
            *(Version(v, created_at=now, expires_at=until) for v in values[1:]),
        )
        self._modify(name, lambda _: record)

    def describe(self) -> list[SecretInfo]:
        now = self.clock()
        infos = []
        for name, record in sorted(self._records().items()):
            current = valid(record, now)
            if not current:
                continue
            expiries = [v.expires_at for v in current[1:] if v.expires_at is not None]
            infos.append(
                SecretInfo(
                    name=name,
                    versions=len(current),
                    age_seconds=max(0.0, now - current[0].created_at),
                    previous_expires_at=max(expiries) if expiries else None,
                    max_age_seconds=self.policy.max_age_for(name).total_seconds(),
                )
            )
        return infos


def _check(name: str, value: str) -> None:
    if NAME.fullmatch(name) is None:
        raise SecretStoreError(
            "secret names are letters, digits and underscores (128 at most), or an instance's "
            f"FAMILY__INSTANCE: {name[:200]!r}"
        )
    if not value:
        raise SecretStoreError(f"{name}: an empty value is not a secret")
