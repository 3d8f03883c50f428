"""The token store across OS processes: a file secret store (with its production read cache),
the hub's database for the lock (SQLite and PostgreSQL), and a local token endpoint that
invalidates the previous token on every issue, or spends a refresh token on its first use.
However many processes ask at once, the partner issues one token."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.tokens import IssuedToken, ReadOnlySecrets, TokenStore
from integration_hub.secrets import EnvSecretSource
from integration_hub.secrets.file import FileSecretStore
from integration_hub.storage.engine import make_engine
from tests.partner_server import PartnerServer, RecordedRequest, Reply

PROCESSES = 6
NAME = "ACME_ACCESS_TOKEN__C1"
CLIENT = {"client_id": "acme-client", "client_secret": "acme-client-secret"}
ISSUE_SECONDS = 0.3  # the partner takes its time: every process arrives while one is issuing


class TokenEndpoint:
    """The partner's OAuth endpoint and one API resource. Every issue invalidates the token
    before it; with `refresh`, a refresh token works once (as an OAuth server that rotates
    them), and a second use is counted as `reuses`."""

    def __init__(self, *, refresh: bool = False) -> None:
        self.refresh = refresh
        self.issues = 0
        self.reuses = 0
        self.access: str | None = None
        self.refresh_token = "rt-0"
        self._lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> Reply:
        if request.method == "GET" and request.path == "/v1/listings":
            expected = f"Bearer {self.access}"
            ok = self.access is not None and request.headers.get("authorization") == expected
            return Reply(200, {"result": []}) if ok else Reply(401, {"error": "invalid_token"})
        if request.method != "POST" or request.path != "/oauth/token":
            return Reply(404, {})
        form = {k: v[0] for k, v in request.form().items()}
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        assert {k: form.get(k) for k in CLIENT} == CLIENT
        time.sleep(ISSUE_SECONDS)
        with self._lock:
            if self.refresh:
                assert form["grant_type"] == "refresh_token"
                if form.get("refresh_token") != self.refresh_token:
                    self.reuses += 1
                    return Reply(400, {"error": "invalid_grant"})
            else:
                assert form["grant_type"] == "client_credentials"
            self.issues += 1
            self.access = f"at-{self.issues}"
            self.refresh_token = f"rt-{self.issues}"
            return Reply(
                200,
                {
                    "access_token": self.access,
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    **({"refresh_token": self.refresh_token} if self.refresh else {}),
                },
            )

    def revoke(self) -> None:
        with self._lock:
            self.access = "revoked"


@dataclass(frozen=True)
class Spec:
    """What a process needs to open the same token store, picklable."""

    home: str
    database_url: str
    server_url: str
    lease_seconds: float = 60.0
    wait_seconds: float = 45.0


_stores: dict[Spec, tuple[TokenStore, Engine]] = {}


def _close_stores() -> None:
    for _, engine in _stores.values():
        engine.dispose()
    _stores.clear()


def _tokens(spec: Spec) -> TokenStore:
    """One token store per process for the test's home and database (the previous closed)."""
    if spec not in _stores:
        _close_stores()
        engine = make_engine(spec.database_url)
        # The file store's production read cache (a second) is on: the store must see past it.
        secrets = FileSecretStore(Path(spec.home), fallback=EnvSecretSource(environ={}))
        store = TokenStore(
            engine, secrets, lease_seconds=spec.lease_seconds, wait_seconds=spec.wait_seconds
        )
        _stores[spec] = (store, engine)
    return _stores[spec][0]


def _issue(server_url: str, stored: IssuedToken | None) -> IssuedToken:
    if stored is not None and stored.refresh is not None:
        form = {"grant_type": "refresh_token", "refresh_token": stored.refresh, **CLIENT}
    else:
        form = {"grant_type": "client_credentials", **CLIENT}
    answer = httpx.post(f"{server_url}/oauth/token", data=form, timeout=10)
    answer.raise_for_status()
    body = answer.json()
    now = time.time()
    return IssuedToken(
        access=body["access_token"],
        expires_at=now + body["expires_in"],
        refresh=body.get("refresh_token"),
        issued_at=now,
    )


def _list_listings(server_url: str, access: str) -> int:
    headers = {"authorization": f"Bearer {access}"}
    return httpx.get(f"{server_url}/v1/listings", headers=headers, timeout=10).status_code


def _get_token(spec: Spec, start_at: float) -> tuple[str, float, int]:
    """At `start_at`: the token, how long `token()` took, and what the API said to it; after
    a 401, `refused` and a second `token()`, as a connector does."""
    tokens = _tokens(spec)
    tokens.current(NAME)  # the process has read the store before (its cache is warm)
    time.sleep(max(0.0, start_at - time.time()))
    began = time.monotonic()
    issued = tokens.token(NAME, partial(_issue, spec.server_url))
    waited = time.monotonic() - began
    status = _list_listings(spec.server_url, issued.access)
    if status == 401:
        tokens.refused(NAME, issued.access)
        issued = tokens.token(NAME, partial(_issue, spec.server_url))
        status = _list_listings(spec.server_url, issued.access)
    return issued.access, waited, status


def _hold_the_lock(spec: Spec, ready: Any) -> None:
    with _tokens(spec).locked(NAME):
        ready.set()
        time.sleep(600)  # until killed


def _warm(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(PROCESSES, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert len(set(pool.map(_warm, [0.5] * PROCESSES))) == PROCESSES
        yield pool


def _spec(tmp_path: Path, engine: Engine, server: PartnerServer, **options: Any) -> Spec:
    home = tmp_path / "home"
    home.mkdir(mode=0o700, exist_ok=True)
    url = engine.url.render_as_string(hide_password=False)
    return Spec(str(home), url, server.url, **options)


def _race(pool: ProcessPoolExecutor, spec: Spec) -> list[tuple[str, float, int]]:
    start_at = time.time() + 0.5
    runs = [pool.submit(_get_token, spec, start_at) for _ in range(PROCESSES)]
    return [run.result(timeout=120) for run in runs]


@pytest.mark.parametrize("refresh", [False, True], ids=["client_credentials", "refresh_token"])
def test_processes_racing_for_a_token_get_one_issue(
    engine: Engine, tmp_path: Path, pool: ProcessPoolExecutor, refresh: bool
) -> None:
    endpoint = TokenEndpoint(refresh=refresh)
    with PartnerServer(endpoint) as server:
        spec = _spec(tmp_path, engine, server)
        if refresh:  # connected earlier: a refresh token and an expired access token
            seed = IssuedToken(access="at-0", expires_at=time.time() - 1, refresh="rt-0")
            FileSecretStore(Path(spec.home), fallback=EnvSecretSource()).set(NAME, seed.dumps())

        first = _race(pool, spec)

        assert endpoint.issues == 1 and endpoint.reuses == 0
        assert {access for access, _, _ in first} == {"at-1"}
        assert {status for _, _, status in first} == {200}
        waits = sorted(waited for _, waited, _ in first)
        # One process issued; the others waited for it and no longer than it took, give or
        # take the lock's polling and a loaded machine.
        assert waits[-1] >= ISSUE_SECONDS
        assert waits[-1] < ISSUE_SECONDS + 3

        endpoint.revoke()  # the partner drops the token: every process meets a 401
        second = _race(pool, spec)

        assert endpoint.issues == 2 and endpoint.reuses == 0
        assert {(access, status) for access, _, status in second} == {("at-2", 200)}
        stored = IssuedToken.loads(
            FileSecretStore(Path(spec.home), fallback=EnvSecretSource()).versions(NAME)[0]
        )
        assert stored is not None and stored.access == "at-2"
        assert stored.refresh == ("rt-2" if refresh else None)


def test_a_killed_holder_frees_the_lock(engine: Engine, tmp_path: Path) -> None:
    endpoint = TokenEndpoint()
    with PartnerServer(endpoint) as server:
        spec = _spec(tmp_path, engine, server, lease_seconds=2.0)
        spawn = multiprocessing.get_context("spawn")
        ready = spawn.Event()
        holder = spawn.Process(target=_hold_the_lock, args=(spec, ready))
        holder.start()
        try:
            assert ready.wait(60), "the holder never took the lock"
            held_at = time.monotonic()
            impatient = TokenStore(
                engine,
                FileSecretStore(Path(spec.home), fallback=EnvSecretSource()),
                wait_seconds=0.2,
            )
            with pytest.raises(ApplicationError) as busy:
                impatient.token(NAME, partial(_issue, server.url))
            assert busy.value.type == "token_lock_busy" and busy.value.non_retryable is False
        finally:
            assert holder.pid is not None
            os.kill(holder.pid, signal.SIGKILL)
            holder.join()

        killed_at = time.monotonic()
        issued = _tokens(spec).token(NAME, partial(_issue, server.url))
        done = time.monotonic()
        _close_stores()

    assert issued.access == "at-1" and endpoint.issues == 1
    if engine.dialect.name == "sqlite":  # the lease row outlives its holder until it ends
        assert done - held_at >= 2.0 - 0.5  # (taken a moment before the holder said so)
    else:  # the holder's session ended with it, and the advisory lock with the session
        assert done - killed_at < 2.0


def test_read_only_secrets_refuse_and_the_lock_is_reentrant(engine: Engine, tmp_path: Path) -> None:
    read_only = TokenStore(engine, EnvSecretSource(environ={}))
    with pytest.raises(ReadOnlySecrets):
        read_only.token(NAME, lambda _: IssuedToken(access="at-x", expires_at=None))
    with pytest.raises(ReadOnlySecrets):
        read_only.refused(NAME, "at-x")

    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    tokens = TokenStore(engine, FileSecretStore(home, fallback=EnvSecretSource(environ={})))
    with tokens.locked(NAME):  # e.g. a disconnect that revokes, then asks again
        first = tokens.token(NAME, lambda _: IssuedToken(access="at-1", expires_at=None))
        tokens.refused(NAME, first.access)
        second = tokens.token(NAME, lambda _: IssuedToken(access="at-2", expires_at=None))
    assert (first.access, second.access) == ("at-1", "at-2")
    assert tokens.current(NAME) == IssuedToken(access="at-2", expires_at=None)
