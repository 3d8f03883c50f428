"""Partner access tokens: kept in the secret store, fetched or refreshed by one process at a time.

Guesty allows 5 tokens per API key per 24 h and a new Hostaway token invalidates nothing but is
only valid about a second after issue; QuickBooks spends its refresh token on every refresh.
A race between workers (two fetch at once) can therefore lock an account out. So a token is
read from the store, and only when it is missing or about to expire does a process take the
connection's cross-process lock, **read again** (another process may have just stored one),
and only then call the partner (`issue`) and store the result before releasing the lock.

The lock: a PostgreSQL session advisory lock on the key, on a connection of its own (held
across the partner call; it blocks no other writer; a waiter blocks in PostgreSQL, at most
`WAIT_SECONDS`, and gets it the moment it is released), or on SQLite a lease row in
`token_locks` taken under the database's write lock (BEGIN IMMEDIATE) and released after the
store: the database is never write-locked during the partner call, a lease a killed process
left behind expires after `LEASE_SECONDS`, and waiters poll every `POLL_SECONDS` (at most
`WAIT_SECONDS`). A waiter that runs out of time gets a retryable error.

The read under the lock goes past the secret store's read cache (the file store keeps reads a
second, AWS 30 s): a cached read would miss the token another process just stored. A token
this process saw refused is never handed out again from a cached read either.

Tokens are stored as JSON in the secret named by the partner (a per-instance family, e.g.
`GUESTY_ACCESS_TOKEN__<CONNECTION>`), so they sit with the other secrets (encrypted in the file
store, in AWS in production) and never in the database, logs or workflow history.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Engine, delete, select, text
from sqlalchemy.exc import OperationalError
from temporalio.exceptions import ApplicationError

from integration_hub.errors import HubError
from integration_hub.secrets import SecretSource
from integration_hub.secrets.aws import AwsSecretStore
from integration_hub.secrets.file import FileSecretStore
from integration_hub.secrets.store import SecretStore, valid
from integration_hub.storage import dialect
from integration_hub.storage.engine import begin_write
from integration_hub.storage.rows import as_utc, utcnow
from integration_hub.storage.tables import token_locks

log = structlog.get_logger(__name__)

LEASE_SECONDS = 60.0  # longer than a token call (outbound CALL_TIMEOUT is 30 s)
WAIT_SECONDS = 45.0
POLL_SECONDS = 0.05
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: lock_timeout ran out


class ReadOnlySecrets(HubError):
    """Tokens must be stored, and the configured secret backend cannot be written."""

    reason = "read_only_secrets"
    retryable = False


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access: str
    expires_at: float | None  # unix seconds; None: valid until the partner refuses it
    refresh: str | None = None  # OAuth refresh token (QuickBooks), stored with its pair
    issued_at: float = 0.0

    def usable(self, now: float, ahead: float) -> bool:
        return bool(self.access) and (self.expires_at is None or self.expires_at - ahead > now)

    def dumps(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def loads(cls, value: str) -> IssuedToken | None:
        try:
            data = json.loads(value)
            return cls(
                access=str(data["access"]),
                expires_at=None if data.get("expires_at") is None else float(data["expires_at"]),
                refresh=None if data.get("refresh") is None else str(data["refresh"]),
                issued_at=float(data.get("issued_at") or 0.0),
            )
        except (ValueError, KeyError, TypeError):
            return None  # not one of ours (a hand-set value): treated as absent


class TokenStore:
    """Built once per worker with the engine (for the lock) and the secret store."""

    def __init__(
        self,
        engine: Engine,
        secrets: SecretSource,
        *,
        clock: Callable[[], float] = time.time,
        lease_seconds: float = LEASE_SECONDS,
        wait_seconds: float = WAIT_SECONDS,
    ) -> None:
        self._engine = engine
        self._secrets = secrets
        self._clock = clock
        self._lease_seconds = lease_seconds
        self._wait_seconds = wait_seconds
        self._held = threading.local()  # names whose lock this thread holds (re-entry)
        self._refused: dict[str, str] = {}  # name -> an access token refused in this process

    def current(self, name: str) -> IssuedToken | None:
        versions = self._secrets.versions(name)
        return IssuedToken.loads(versions[0]) if versions else None

    def token(
        self,
        name: str,
        issue: Callable[[IssuedToken | None], IssuedToken],
        *,
        ahead: float = 60.0,
    ) -> IssuedToken:
        """The stored token when it has more than `ahead` seconds left; else, under the lock,
        the one another process stored meanwhile, or `issue(current)`'s, stored before the
        lock is released. `issue` gets the stored token (a refresh token to spend) or None."""
        if (good := self._good(name, self.current(name), ahead)) is not None:
            return good
        store = self._writable()
        with self.locked(name):
            stored = self._reread(store, name)
            if (good := self._good(name, stored, ahead)) is not None:
                return good
            issued = issue(stored)
            store.set(name, issued.dumps())
            log.info("partner_token_stored", secret=name, expires_at=issued.expires_at)
            return issued

    def refused(self, name: str, access: str) -> None:
        """The partner refused `access` (401/403): forget it, unless another process already
        replaced it, so the next `token` issues a new one."""
        store = self._writable()
        self._refused[name] = access
        with self.locked(name):
            stored = self._reread(store, name)
            if stored is not None and stored.access == access:
                store.set(
                    name, IssuedToken(access="", expires_at=0.0, refresh=stored.refresh).dumps()
                )

    def _good(self, name: str, stored: IssuedToken | None, ahead: float) -> IssuedToken | None:
        """`stored` if it may be used. A token this process saw refused may not, whatever a
        cached read still says."""
        if stored is None or not stored.usable(self._clock(), ahead):
            return None
        return None if stored.access == self._refused.get(name) else stored

    def _writable(self) -> SecretStore:
        if not isinstance(self._secrets, SecretStore):
            raise ReadOnlySecrets(
                "partner tokens are kept in the secret store, and the configured one is read-only "
                "(use HUB_SECRETS_BACKEND=file or aws)"
            )
        return self._secrets

    def _reread(self, store: SecretStore, name: str) -> IssuedToken | None:
        """The stored token as the backend holds it now. The stores cache reads (the file
        store for a second, AWS for 30 s), and under the lock a cached read would miss the
        token another process stored a moment ago, and issue (spend) another."""
        if isinstance(store, FileSecretStore):
            record = store._load(force=True).get(name)
        elif isinstance(store, AwsSecretStore):
            record = store._fetch(name)
        else:
            return self.current(name)
        if record is None:
            return self.current(name)  # not stored: what the environment holds, if anything
        versions = valid(record, store.clock())
        return IssuedToken.loads(versions[0].value) if versions else None

    @contextlib.contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """The cross-process lock of one token (also for callers that must hold it across
        more than `token` does: QuickBooks' disconnect). A thread that holds it may call
        `token` or `refused` inside: the lock is re-entrant per thread."""
        held: set[str] = self._held.__dict__.setdefault("names", set())
        if name in held:
            yield
            return
        key = f"token:{name}"
        lock = self._advisory if self._engine.dialect.name == "postgresql" else self._lease
        with lock(key):
            held.add(name)
            try:
                yield
            finally:
                held.discard(name)

    @contextlib.contextmanager
    def _advisory(self, key: str) -> Iterator[None]:
        """A session advisory lock on a connection of its own: a waiter blocks in PostgreSQL
        and gets the lock the moment it is released; a killed holder's session ends and frees
        it."""
        lock_id = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        with self._engine.connect() as connection:
            try:
                # SET LOCAL ends with the transaction; the session lock outlives it.
                connection.execute(
                    text(f"SET LOCAL lock_timeout = {max(1, int(self._wait_seconds * 1000))}")
                )
                connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": lock_id})
                connection.commit()
            except OperationalError as error:
                if getattr(error.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                    raise _busy(key) from None
                raise
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})
                connection.commit()

    @contextlib.contextmanager
    def _lease(self, key: str) -> Iterator[None]:
        deadline = time.monotonic() + self._wait_seconds
        while (taken := self._take_lease(key)) is None:
            if time.monotonic() > deadline:
                raise _busy(key)
            time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            # Only our own lease: past its end another process may hold the key.
            with begin_write(self._engine) as connection:
                connection.execute(
                    delete(token_locks).where(
                        token_locks.c.key == key, token_locks.c.locked_at == taken
                    )
                )

    def _take_lease(self, key: str) -> datetime | None:
        """The lease's start when this process took it, else None (another holds it)."""
        now = utcnow()
        with begin_write(self._engine) as connection:
            # On SQLite this transaction began IMMEDIATE (storage/engine.py): the read below and
            # the write cannot interleave with another process's.
            held = connection.execute(
                select(token_locks.c.locked_at).where(token_locks.c.key == key)
            ).scalar_one_or_none()
            if held is not None and now - as_utc(held) < timedelta(seconds=self._lease_seconds):
                return None
            connection.execute(
                dialect.upsert(
                    connection,
                    token_locks,
                    key=["key"],
                    changes=lambda new: {"locked_at": new.locked_at},
                ),
                {"key": key, "locked_at": now},
            )
            return now


def _busy(key: str) -> ApplicationError:
    # The key names the secret (`token:<NAME>`), never its value.
    return ApplicationError(
        f"another process is fetching {key.split(':', 1)[1]}; try again",
        type="token_lock_busy",
        next_retry_delay=timedelta(seconds=5),
    )
