"""The embedded store: one AES-256-GCM encrypted file under `HUB_HOME`.

The key is `HUB_MASTER_KEY` (32 bytes, base64) or a key file next to the store, created with
mode 0600 on the first write (in a 0700 directory if it creates one); a key file that group
or others may read or write is refused, the rule for every file under HUB_HOME (home.py).
Each write encrypts the whole store with a fresh nonce into a temporary file, fsyncs it,
renames it over the store and fsyncs the directory, so a kill -9 at any moment leaves the old
file or the new one, never a torn one; a leftover temporary file is never read. Writers take
an exclusive lock; readers (every ingest) keep the decrypted store in memory and reload it
when the file changes, checking at most once per `refresh_seconds`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import os
import secrets as token_generator
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from integration_hub.home import ensure_private_directory, exposure
from integration_hub.secrets.store import Record, RecordStore, SecretStoreError, Version

MAGIC = b"HUBSEC1\n"  # format marker, also authenticated as associated data
NONCE_BYTES = 12
STORE_NAME, KEY_NAME, LOCK_NAME = "secrets.enc", "secrets.key", "secrets.lock"


def decode_master_key(text: str) -> bytes:
    try:
        standard = text.strip().replace("-", "+").replace("_", "/")  # url-safe form too
        key = base64.b64decode(standard, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise SecretStoreError("the master key must be 32 random bytes, base64-encoded")
    return key


def new_master_key() -> str:
    return base64.b64encode(token_generator.token_bytes(32)).decode()


class FileSecretStore(RecordStore):
    def __init__(
        self,
        home: Path,
        *,
        master_key: str | None = None,
        refresh_seconds: float = 1.0,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.path = home / STORE_NAME
        self.key_path = home / KEY_NAME
        self._lock_path = home / LOCK_NAME
        self._key = decode_master_key(master_key) if master_key else self._read_key_file()
        self._refresh_seconds = refresh_seconds
        self._mutex = threading.Lock()
        self._cache: dict[str, Record] = {}
        self._signature: tuple[int, int, int] | None = None
        self._checked_at = float("-inf")
        self._load(force=True)

    # Key handling.
    def _read_key_file(self) -> bytes | None:
        # The rule every file under HUB_HOME follows (home.py), checked here too because the
        # store is also opened without a hub (`hub secrets ...`).
        problem = exposure(self.key_path, hint=" or set HUB_MASTER_KEY")
        if problem is not None:
            raise SecretStoreError(problem)
        try:
            return decode_master_key(self.key_path.read_text())
        except FileNotFoundError:
            return None

    def _key_for_writing(self) -> bytes:
        if self._key is None:
            ensure_private_directory(self.key_path.parent)
            try:
                fd = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process created it first
                self._key = self._read_key_file()
            else:
                with os.fdopen(fd, "w") as f:
                    f.write(new_master_key() + "\n")
                    f.flush()
                    os.fsync(f.fileno())
                self._key = self._read_key_file()
        assert self._key is not None
        return self._key

    # Reading.
    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _decrypt(self, blob: bytes) -> dict[str, Record]:
        if not blob.startswith(MAGIC):
            raise SecretStoreError(f"{self.path} is not a secrets file")
        if self._key is None:  # another process may have created the key since we started
            self._key = self._read_key_file()
        if self._key is None:
            raise SecretStoreError(f"{self.path} exists but there is no key: set HUB_MASTER_KEY")
        body = blob[len(MAGIC) :]
        try:
            plain = AESGCM(self._key).decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], MAGIC)
        except InvalidTag:
            raise SecretStoreError(f"{self.path} does not decrypt with this key") from None
        data = json.loads(plain)
        return {
            name: tuple(Version.from_dict(v) for v in versions)
            for name, versions in data["secrets"].items()
        }

    def _load(self, *, force: bool = False) -> dict[str, Record]:
        with self._mutex:
            now = time.monotonic()
            if not force and now - self._checked_at < self._refresh_seconds:
                return self._cache
            self._checked_at = now
            signature = self._stat()
            if force or signature != self._signature:
                self._cache = {} if signature is None else self._decrypt(self.path.read_bytes())
                self._signature = signature
            return self._cache

    def _record(self, name: str) -> Record | None:
        return self._load().get(name)

    def _records(self) -> dict[str, Record]:
        return dict(self._load(force=True))

    # Writing.
    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        ensure_private_directory(self._lock_path.parent)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _modify(self, name: str, change: Callable[[Record | None], Record | None]) -> None:
        key = self._key_for_writing()
        with self._exclusive():
            records = dict(self._load(force=True))
            updated = change(records.get(name))
            if updated is None:
                records.pop(name, None)
            else:
                records[name] = updated
            self._write(key, records)
            self._load(force=True)

    def _write(self, key: bytes, records: dict[str, Record]) -> None:
        plain = json.dumps(
            {"secrets": {n: [v.as_dict() for v in r] for n, r in records.items()}}
        ).encode()
        nonce = token_generator.token_bytes(NONCE_BYTES)
        blob = MAGIC + nonce + AESGCM(key).encrypt(nonce, plain, MAGIC)
        temporary = self.path.with_name(
            f".{STORE_NAME}.{os.getpid()}.{token_generator.token_hex(4)}.tmp"
        )
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            raise
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
