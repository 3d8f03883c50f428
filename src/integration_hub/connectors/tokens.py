"""Partner access tokens: kept in the secret store, fetched or refreshed by one process at a time.

Guesty allows 5 tokens per API key per 24 h and a new Hostaway token invalidates nothing but is
only valid about a second after issue; QuickBooks spends its refresh token on every refresh.
A race between workers (two fetch at once) can therefore lock an account out. So a token is
read from the store, and only when it is missing or about to expire does a process take the
connection's cross-process lock, **read again** (another process may have just stored one),
and only then call the partner (`issue`) and store the result before releasing the lock.

The lock: a PostgreSQL session advisory lock on the key (held across the partner call; it
blocks no other writer), or on SQLite a lease row in `token_locks` taken under the database's
write lock (BEGIN IMMEDIATE) and released after the store: the database is never write-locked
during the partner call, and a lease a killed process left behind expires after
`LEASE_SECONDS`. Waiters poll until the lock is theirs (at most `WAIT_SECONDS`, then a
retryable error).

Tokens are stored as JSON in the secret named by the partner (a per-instance family, e.g.
`GUESTY_ACCESS_TOKEN__<CONNECTION>`), so they sit with the other secrets (encrypted in the file
store, in AWS in production) and never in the database, logs or workflow history.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import timedelta

import structlog
from sqlalchemy import Engine, delete, select, text
from temporalio.exceptions import ApplicationError

from integration_hub.errors import HubError
from integration_hub.secrets import SecretSource
from integration_hub.secrets.store import SecretStore
from integration_hub.storage import dialect
from integration_hub.storage.engine import begin_write
from integration_hub.storage.rows import as_utc, utcnow
from integration_hub.storage.tables import token_locks

log = structlog.get_logger(__name__)

LEASE_SECONDS = 60.0  # longer than a token call (outbound CALL_TIMEOUT is 30 s)
WAIT_SECONDS = 45.0
POLL_SECONDS = 0.05


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
        self, engine: Engine, secrets: SecretSource, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._engine = engine
        self._secrets = secrets
        self._clock = clock

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
        stored = self.current(name)
        if stored is not None and stored.usable(self._clock(), ahead):
            return stored
        store = self._writable()
        with self.locked(name):
            stored = self.current(name)
            if stored is not None and stored.usable(self._clock(), ahead):
                return stored
            issued = issue(stored)
            store.set(name, issued.dumps())
            log.info("partner_token_stored", secret=name, expires_at=issued.expires_at)
            return issued

    def refused(self, name: str, access: str) -> None:
        """The partner refused `access` (401/403): forget it, unless another process already
        replaced it, so the next `token` issues a new one."""
        store = self._writable()
        with self.locked(name):
            stored = self.current(name)
            if stored is not None and stored.access == access:
                store.set(
                    name, IssuedToken(access="", expires_at=0.0, refresh=stored.refresh).dumps()
                )

    def _writable(self) -> SecretStore:
        if not isinstance(self._secrets, SecretStore):
            raise ReadOnlySecrets(
                "partner tokens are kept in the secret store, and the configured one is read-only "
                "(use HUB_SECRETS_BACKEND=file or aws)"
            )
        return self._secrets

    @contextlib.contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """The cross-process lock of one token (also for callers that must hold it across
        more than `token` does: QuickBooks' disconnect)."""
        key = f"token:{name}"
        if self._engine.dialect.name == "postgresql":
            with self._advisory(key):
                yield
            return
        with self._lease(key):
            yield

    @contextlib.contextmanager
    def _advisory(self, key: str) -> Iterator[None]:
        lock_id = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        deadline = self._clock() + WAIT_SECONDS
        with self._engine.connect() as connection:
            while not connection.execute(
                text("SELECT pg_try_advisory_lock(:id)"), {"id": lock_id}
            ).scalar_one():
                connection.commit()
                if self._clock() > deadline:
                    raise _busy(key)
                time.sleep(POLL_SECONDS)
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})
                connection.commit()

    @contextlib.contextmanager
    def _lease(self, key: str) -> Iterator[None]:
        deadline = self._clock() + WAIT_SECONDS
        while not self._take_lease(key):
            if self._clock() > deadline:
                raise _busy(key)
            time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            with begin_write(self._engine) as connection:
                connection.execute(delete(token_locks).where(token_locks.c.key == key))

    def _take_lease(self, key: str) -> bool:
        now = utcnow()
        with begin_write(self._engine) as connection:
            # On SQLite this transaction began IMMEDIATE (storage/engine.py): the read below and
            # the write cannot interleave with another process's.
            held = connection.execute(
                select(token_locks.c.locked_at).where(token_locks.c.key == key)
            ).scalar_one_or_none()
            if held is not None and now - as_utc(held) < timedelta(seconds=LEASE_SECONDS):
                return False
            connection.execute(
                dialect.upsert(
                    connection,
                    token_locks,
                    key=["key"],
                    changes=lambda new: {"locked_at": new.locked_at},
                ),
                {"key": key, "locked_at": now},
            )
            return True


def _busy(key: str) -> ApplicationError:
    return ApplicationError(
        f"another process is fetching the token ({key.split(':', 1)[0]}); try again",
        type="token_lock_busy",
        next_retry_delay=timedelta(seconds=5),
    )
