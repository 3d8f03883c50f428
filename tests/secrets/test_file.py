"""The encrypted file store: round trip, encryption at rest, the key, atomic writes."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from integration_hub.secrets import SecretStoreError
from integration_hub.secrets.file import STORE_NAME
from tests.secrets.helpers import file_store

VALUE = "whsec_file-store-round-trip-9d81c7"


def test_a_value_set_is_read_back_by_a_new_store_on_the_same_home(tmp_path: Path) -> None:
    file_store(tmp_path).set("STRIPE_WEBHOOK_SECRET", VALUE)
    assert file_store(tmp_path).versions("STRIPE_WEBHOOK_SECRET") == (VALUE,)


def test_the_value_is_not_in_the_file_at_rest(tmp_path: Path) -> None:
    file_store(tmp_path).set("STRIPE_WEBHOOK_SECRET", VALUE)
    stored = (tmp_path / STORE_NAME).read_bytes()
    assert VALUE.encode() not in stored
    assert b"STRIPE_WEBHOOK_SECRET" not in stored  # names are encrypted too


def test_the_key_file_is_created_with_mode_0600(tmp_path: Path) -> None:
    store = file_store(tmp_path)
    store.set("STRIPE_WEBHOOK_SECRET", VALUE)
    assert store.key_path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("mode", [0o640, 0o604])
def test_a_key_file_readable_by_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    store = file_store(tmp_path)
    store.set("STRIPE_WEBHOOK_SECRET", VALUE)
    store.key_path.chmod(mode)
    with pytest.raises(SecretStoreError, match="readable by others") as refused:
        file_store(tmp_path)
    assert VALUE not in str(refused.value)


@pytest.mark.parametrize("mode", [0o620, 0o602])
def test_a_key_file_writable_by_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    """Whoever may write the key may swap it for one they know, so later writes are theirs."""
    store = file_store(tmp_path)
    store.set("STRIPE_WEBHOOK_SECRET", VALUE)
    store.key_path.chmod(mode)
    with pytest.raises(SecretStoreError, match="writable by others") as refused:
        file_store(tmp_path)
    assert f"`chmod 600 {store.key_path}` or set HUB_MASTER_KEY" in refused.value.detail


def test_a_store_in_a_missing_home_creates_it_0700_and_its_files_0600(tmp_path: Path) -> None:
    home = tmp_path / "fresh" / "var"
    previous = os.umask(0o022)  # a shell's: `hub secrets set` runs without a hub's umask
    try:
        file_store(home).set("STRIPE_WEBHOOK_SECRET", VALUE)
    finally:
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in home.iterdir()}
    assert modes == {STORE_NAME: 0o600, "secrets.key": 0o600, "secrets.lock": 0o600}
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE(home.parent.stat().st_mode) == 0o700


def test_hub_master_key_is_used_instead_of_a_key_file(tmp_path: Path) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    file_store(tmp_path, master_key=key).set("STRIPE_WEBHOOK_SECRET", VALUE)
    assert not (tmp_path / "secrets.key").exists()
    assert file_store(tmp_path, master_key=key).versions("STRIPE_WEBHOOK_SECRET") == (VALUE,)


def test_a_different_master_key_cannot_read_the_store(tmp_path: Path) -> None:
    file_store(tmp_path, master_key=base64.b64encode(os.urandom(32)).decode()).set("A", VALUE)
    with pytest.raises(SecretStoreError, match="does not decrypt"):
        file_store(tmp_path, master_key=base64.b64encode(os.urandom(32)).decode())


def test_a_master_key_of_the_wrong_length_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SecretStoreError, match="32 random bytes"):
        file_store(tmp_path, master_key=base64.b64encode(b"short").decode())


def test_a_leftover_temporary_file_from_a_killed_write_is_ignored(tmp_path: Path) -> None:
    store = file_store(tmp_path)
    store.set("STRIPE_WEBHOOK_SECRET", VALUE)
    # What a kill -9 between writing the temporary file and the rename leaves behind.
    (tmp_path / f".{STORE_NAME}.999.dead.tmp").write_bytes(b"torn half-written garbage")
    assert file_store(tmp_path).versions("STRIPE_WEBHOOK_SECRET") == (VALUE,)


def test_a_write_replaces_the_file_rather_than_rewriting_it_in_place(tmp_path: Path) -> None:
    store = file_store(tmp_path)
    store.set("STRIPE_WEBHOOK_SECRET", VALUE)
    before = (tmp_path / STORE_NAME).stat().st_ino
    store.set("CLERK_WEBHOOK_SECRET", VALUE + "2")
    assert (tmp_path / STORE_NAME).stat().st_ino != before
    assert not list(tmp_path.glob("*.tmp"))


def test_names_the_store_does_not_hold_come_from_the_environment(tmp_path: Path) -> None:
    store = file_store(
        tmp_path, environ={"CLERK_WEBHOOK_SECRET": "from-env", "STRIPE_WEBHOOK_SECRET": "env"}
    )
    store.set("STRIPE_WEBHOOK_SECRET", VALUE)
    assert store.versions("CLERK_WEBHOOK_SECRET") == ("from-env",)
    assert store.versions("STRIPE_WEBHOOK_SECRET") == (VALUE,)  # the store comes first


def test_another_process_write_is_seen_by_a_running_reader(tmp_path: Path) -> None:
    reader = file_store(tmp_path)
    file_store(tmp_path).set("STRIPE_WEBHOOK_SECRET", VALUE)
    assert reader.versions("STRIPE_WEBHOOK_SECRET") == (VALUE,)
