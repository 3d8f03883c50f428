"""What a partner allows (`Window`s of calls, calls in flight) and what every backend keeps.

Windows are fixed: window `n` of a `seconds`-long window covers [n * seconds, (n + 1) * seconds)
in unix time, so every process and every backend counts the same window for the same instant.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Window:
    calls: int
    seconds: int

    def __post_init__(self) -> None:
        if self.calls < 1 or self.seconds < 1:
            raise ValueError(f"a window allows at least one call in at least a second: {self}")

    def start(self, now: float) -> int:
        """The number of the window `now` falls in."""
        return int(now // self.seconds)

    def frees_in(self, now: float) -> float:
        """Seconds until the window `now` falls in ends (and the next one opens)."""
        return (self.start(now) + 1) * self.seconds - now


@dataclass(frozen=True, slots=True)
class CallBudget:
    windows: tuple[Window, ...]
    max_in_flight: int | None = None
    lease_seconds: int = 60


class LimitBackend(Protocol):
    def hit(self, key: str, windows: Sequence[Window], now: float) -> float | None:
        """Count one call in every window (all or none): None when taken, else the seconds
        until the fullest window has room."""
        ...

    def enter(self, key: str, slot: str, cap: int, lease: float, now: float) -> bool:
        """Take a slot among `cap` (expired leases do not count)."""
        ...

    def leave(self, key: str, slot: str) -> None: ...

    def pause(self, key: str, until: float, now: float) -> None:
        """No call on `key` before `until` (unix seconds); the later of two pauses holds."""
        ...

    def paused_until(self, key: str, now: float) -> float | None: ...


def wait_for(full: Sequence[Window], now: float) -> float | None:
    """None when no window is full, else the seconds until the last full one ends."""
    return max((window.frees_in(now) for window in full), default=None)


class MemoryBackend:
    """One process's limits (tests, the CLI): fixed windows, as the shared backends keep."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: dict[tuple[str, int, int], int] = {}
        self._slots: dict[str, dict[str, float]] = {}
        self._paused: dict[str, float] = {}

    def hit(self, key: str, windows: Sequence[Window], now: float) -> float | None:
        with self._lock:
            full = [
                w for w in windows if self._hits.get((key, w.seconds, w.start(now)), 0) >= w.calls
            ]
            if full:
                return wait_for(full, now)
            for window in windows:
                counter = (key, window.seconds, window.start(now))
                self._hits[counter] = self._hits.get(counter, 0) + 1
            return None

    def enter(self, key: str, slot: str, cap: int, lease: float, now: float) -> bool:
        with self._lock:
            slots = {s: t for s, t in self._slots.get(key, {}).items() if t > now}
            if len(slots) >= cap:
                self._slots[key] = slots
                return False
            slots[slot] = now + lease
            self._slots[key] = slots
            return True

    def leave(self, key: str, slot: str) -> None:
        with self._lock:
            self._slots.get(key, {}).pop(slot, None)

    def pause(self, key: str, until: float, now: float | None = None) -> None:
        with self._lock:
            self._paused[key] = max(self._paused.get(key, 0.0), until)

    def paused_until(self, key: str, now: float) -> float | None:
        with self._lock:
            until = self._paused.get(key)
            return until if until is not None and until > now else None
