"""Shared call limits on real storage (a SQLite file, PostgreSQL, Redis), hammered by several
OS processes at once: a budget is spent exactly, never over, and the delay a refusal carries
says when the window frees."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.call_limits import (
    CallBudget,
    DatabaseBackend,
    LimitBackend,
    MemoryBackend,
    RedisBackend,
    SharedLimiter,
    Window,
    limit_backend,
)
from integration_hub.storage import migrate
from integration_hub.storage.engine import make_engine
from integration_hub.storage.tables import call_limit_hits, calls_in_flight

if TYPE_CHECKING:
    from tests.migrated import SqliteTemplate

# Not imported from tests.conftest: spawned workers import this module, and conftest imports
# the whole hub (seconds per process on a busy machine).
POSTGRES_URL = os.environ.get("HUB_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL")
STORAGE = ["sqlite", *(["postgresql"] if POSTGRES_URL else []), *(["redis"] if REDIS_URL else [])]
T0 = 1_749_996_000.0  # a whole hour (unix time): every window below starts there
PROCESSES = 4
ACCOUNT_BUDGET = CallBudget(windows=(Window(calls=20, seconds=10),))


@dataclass(frozen=True)
class Shared:
    """Where the limits live, picklable so every process opens its own backend on it."""

    kind: str  # sqlite | postgresql | redis
    url: str
    prefix: str = ""

    def backend(self) -> LimitBackend:
        return _open(self)


_opened: dict[Shared, LimitBackend] = {}


def _open(shared: Shared) -> LimitBackend:
    """One backend per process for the test's storage (the previous test's is closed)."""
    if shared not in _opened:
        _close_opened()
        if shared.kind == "redis":
            _opened[shared] = RedisBackend(shared.url, prefix=shared.prefix)
        else:
            _opened[shared] = DatabaseBackend(make_engine(shared.url))
    return _opened[shared]


def _close_opened() -> None:
    for backend in _opened.values():
        if isinstance(backend, RedisBackend):
            backend.close()
        elif isinstance(backend, DatabaseBackend):
            backend.engine.dispose()
    _opened.clear()


@pytest.fixture(params=STORAGE)
def shared(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: SqliteTemplate
) -> Iterator[Shared]:
    from integration_hub.testing import scratch_database

    if request.param == "redis":
        assert REDIS_URL is not None
        yield Shared("redis", REDIS_URL, prefix=f"test:{uuid.uuid4().hex}:")
        _close_opened()
        return
    with scratch_database(request.param, tmp_path, POSTGRES_URL) as url:
        if request.param == "sqlite":
            sqlite_template.copy_to(url)
        else:
            template = request.getfixturevalue("postgres_template")
            if template is None or not template.copy_to(url):
                engine = make_engine(url)
                migrate.upgrade(engine)
                engine.dispose()
        yield Shared(request.param, url)
        _close_opened()  # before the scratch database goes


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    """Warm worker processes (spawned: nothing inherited), reused by every test here."""
    with ProcessPoolExecutor(PROCESSES, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert len(set(pool.map(_warm, [0.5] * PROCESSES))) == PROCESSES
        yield pool


def _warm(seconds: float) -> int:
    time.sleep(seconds)  # each process holds one task, so all of them start
    return os.getpid()


def _limiter(shared: Shared, budget: CallBudget, now: float) -> SharedLimiter:
    return SharedLimiter("acme", budget, shared.backend(), clock=lambda: now)


def _attempt(limiter: SharedLimiter, key: str, hold: float = 0.0) -> tuple[float, float] | float:
    """(entered, left) wall times of a call that was let through, or the retry delay."""
    try:
        with limiter.call(key, "list_reservations"):
            entered = time.time()
            time.sleep(hold)
            return entered, time.time()
    except ApplicationError as error:
        assert error.type == "acme.rate_limited"
        assert error.next_retry_delay is not None
        return error.next_retry_delay.total_seconds()


def _hammer(
    shared: Shared, key: str, budget: CallBudget, now: float, start_at: float, n: int
) -> list[tuple[float, float] | float]:
    limiter = _limiter(shared, budget, now)
    time.sleep(max(0.0, start_at - time.time()))
    return [_attempt(limiter, key) for _ in range(n)]


def _crowd(
    shared: Shared, key: str, budget: CallBudget, start_at: float, until: float
) -> list[tuple[float, float] | float]:
    limiter = _limiter(shared, budget, T0)
    time.sleep(max(0.0, start_at - time.time()))
    outcomes = []
    while time.time() < until:
        outcomes.append(outcome := _attempt(limiter, key, hold=0.05))
        if isinstance(outcome, float):
            time.sleep(0.005)
    return outcomes


def _hold_a_slot_and_wait(shared: Shared, key: str, budget: CallBudget, ready: object) -> None:
    with _limiter(shared, budget, T0).call(key, "list_reservations"):
        ready.set()  # type: ignore[attr-defined]
        time.sleep(600)  # until killed


def test_processes_take_exactly_the_budget_of_a_window(
    shared: Shared, pool: ProcessPoolExecutor
) -> None:
    now = T0 + 3.25  # 6.75 s before the 10 s window ends
    start_at = time.time() + 0.3
    runs = [
        pool.submit(_hammer, shared, "acme:account:1", ACCOUNT_BUDGET, now, start_at, 10)
        for _ in range(PROCESSES)
    ]
    outcomes = [outcome for run in runs for outcome in run.result(timeout=60)]

    taken = [o for o in outcomes if isinstance(o, tuple)]
    delays = [o for o in outcomes if isinstance(o, float)]
    assert len(taken) == 20 and len(delays) == 20
    assert delays == pytest.approx([6.75] * 20)  # when the window ends, not a guess
    # The next window has the whole budget again; a window refused calls did not count in.
    later = _limiter(shared, ACCOUNT_BUDGET, T0 + 10)
    assert sum(isinstance(_attempt(later, "acme:account:1"), tuple) for _ in range(21)) == 20


def test_every_window_applies_and_a_refused_call_counts_in_none(shared: Shared) -> None:
    budget = CallBudget(
        windows=(Window(3, 1), Window(5, 60), Window(7, 3600))
    )  # per second, minute and hour

    def taken(at: float, attempts: int = 10) -> tuple[int, float]:
        outcomes = [
            _attempt(_limiter(shared, budget, at), "acme:connection:c1") for _ in range(attempts)
        ]
        delays = [o for o in outcomes if isinstance(o, float)]
        return len(outcomes) - len(delays), delays[0]

    assert taken(T0 + 0.25) == (3, pytest.approx(0.75))  # the second is full
    # Seven calls were refused above: had they counted in the minute, none would pass now.
    assert taken(T0 + 1.5) == (2, pytest.approx(58.5))  # the minute is full
    assert taken(T0 + 30) == (0, pytest.approx(30))
    assert taken(T0 + 60) == (2, pytest.approx(3540))  # the hour is full
    assert taken(T0 + 3600) == (3, pytest.approx(1))

    if shared.kind != "redis":  # ended windows go; the current ones stay
        backend = shared.backend()
        assert isinstance(backend, DatabaseBackend)
        backend.prune(T0 + 3601)
        engine = make_engine(shared.url)
        with engine.connect() as connection:
            left = connection.execute(select(call_limit_hits.c.window_seconds)).scalars().all()
        engine.dispose()
        assert sorted(left) == [1, 60, 3600]


def test_calls_in_flight_stay_under_the_cap_across_processes(
    shared: Shared, pool: ProcessPoolExecutor
) -> None:
    budget = CallBudget(windows=(Window(10_000, 1),), max_in_flight=2)
    start_at = time.time() + 0.3
    runs = [
        pool.submit(_crowd, shared, "acme:connection:c2", budget, start_at, start_at + 1.5)
        for _ in range(PROCESSES)
    ]
    outcomes = [outcome for run in runs for outcome in run.result(timeout=60)]

    calls = [o for o in outcomes if isinstance(o, tuple)]
    edges = sorted([(entered, 1) for entered, _ in calls] + [(left, -1) for _, left in calls])
    in_flight = most = 0
    for _, step in edges:
        in_flight += step
        most = max(most, in_flight)
    assert most == 2
    assert len(calls) > 2 * 5  # slots were given back and taken again
    assert any(o == pytest.approx(1.0) for o in outcomes if isinstance(o, float))


def test_a_killed_process_slot_frees_when_its_lease_ends(shared: Shared) -> None:
    budget = CallBudget(windows=(Window(100, 1),), max_in_flight=1, lease_seconds=30)
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Event()
    holder = spawn.Process(
        target=_hold_a_slot_and_wait, args=(shared, "acme:connection:c3", budget, ready)
    )
    holder.start()
    try:
        assert ready.wait(60), "the holder never took its slot"
    finally:
        assert holder.pid is not None
        os.kill(holder.pid, signal.SIGKILL)
        holder.join()

    assert _attempt(_limiter(shared, budget, T0 + 29), "acme:connection:c3") == pytest.approx(1.0)
    assert isinstance(_attempt(_limiter(shared, budget, T0 + 30.5), "acme:connection:c3"), tuple)
    if shared.kind != "redis":  # every call left: only the killed one's row was there
        engine = make_engine(shared.url)
        with engine.connect() as connection:
            assert (
                connection.execute(select(func.count()).select_from(calls_in_flight)).scalar_one()
                == 0
            )
        engine.dispose()


def _attempt_at(shared: Shared, key: str, now: float) -> tuple[float, float] | float:
    return _attempt(_limiter(shared, ACCOUNT_BUDGET, now), key)


def test_a_pause_holds_for_every_process(shared: Shared, pool: ProcessPoolExecutor) -> None:
    here = _limiter(shared, ACCOUNT_BUDGET, T0)
    here.pause("acme:account:2", 30)  # a 429 with Retry-After: 30
    here.pause("acme:account:2", 5)  # a shorter one later does not shorten it

    elsewhere = pool.submit(_attempt_at, shared, "acme:account:2", T0 + 10).result(timeout=60)
    assert elsewhere == pytest.approx(20)
    other_key = pool.submit(_attempt_at, shared, "acme:account:3", T0 + 10).result(timeout=60)
    assert isinstance(other_key, tuple)
    after = pool.submit(_attempt_at, shared, "acme:account:2", T0 + 30.5).result(timeout=60)
    assert isinstance(after, tuple)


def test_limit_backend_is_redis_then_the_database_then_memory(tmp_path: Path) -> None:
    from tests.helpers import make_settings

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(url)
    with_redis = make_settings(
        tmp_path, url, "127.0.0.1:7233", redis_url="redis://127.0.0.1:6379/0"
    )
    without = make_settings(tmp_path, url, "127.0.0.1:7233")
    assert isinstance(limit_backend(with_redis, engine), RedisBackend)
    assert isinstance(limit_backend(without, engine), DatabaseBackend)
    assert isinstance(limit_backend(without, None), MemoryBackend)
    engine.dispose()
