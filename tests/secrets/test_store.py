"""Rotation overlap, replacement and ages, with an injected clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from integration_hub.secrets import SecretPolicy
from tests.secrets.helpers import Clock, file_store

HOUR = 3600.0


def test_rotation_keeps_the_previous_version_valid_inside_the_overlap(tmp_path: Path) -> None:
    clock = Clock()
    store = file_store(tmp_path, clock=clock)
    store.set("STRIPE_WEBHOOK_SECRET", "old")
    store.rotate("STRIPE_WEBHOOK_SECRET", "new")
    clock.advance(23 * HOUR)
    assert store.versions("STRIPE_WEBHOOK_SECRET") == ("new", "old")


def test_the_previous_version_stops_verifying_after_the_overlap(tmp_path: Path) -> None:
    clock = Clock()
    store = file_store(tmp_path, clock=clock)
    store.set("STRIPE_WEBHOOK_SECRET", "old")
    store.rotate("STRIPE_WEBHOOK_SECRET", "new")
    clock.advance(24 * HOUR + 1)
    assert store.versions("STRIPE_WEBHOOK_SECRET") == ("new",)


def test_the_overlap_is_configurable_per_secret(tmp_path: Path) -> None:
    clock = Clock()
    policy = SecretPolicy(overlap_by_name={"CLERK_WEBHOOK_SECRET": timedelta(hours=1)})
    store = file_store(tmp_path, clock=clock, policy=policy)
    for name in ("CLERK_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET"):
        store.set(name, "old")
        store.rotate(name, "new")
    clock.advance(2 * HOUR)
    assert store.versions("CLERK_WEBHOOK_SECRET") == ("new",)
    assert store.versions("STRIPE_WEBHOOK_SECRET") == ("new", "old")


def test_a_second_rotation_does_not_extend_the_first_previous_version(tmp_path: Path) -> None:
    clock = Clock()
    store = file_store(tmp_path, clock=clock)
    store.set("STRIPE_WEBHOOK_SECRET", "v1")
    store.rotate("STRIPE_WEBHOOK_SECRET", "v2")
    clock.advance(20 * HOUR)
    store.rotate("STRIPE_WEBHOOK_SECRET", "v3")
    clock.advance(5 * HOUR)
    assert store.versions("STRIPE_WEBHOOK_SECRET") == ("v3", "v2")


def test_set_replaces_every_version_at_once(tmp_path: Path) -> None:
    store = file_store(tmp_path)
    store.set("STRIPE_WEBHOOK_SECRET", "old")
    store.rotate("STRIPE_WEBHOOK_SECRET", "mid")
    store.set("STRIPE_WEBHOOK_SECRET", "new")
    assert store.versions("STRIPE_WEBHOOK_SECRET") == ("new",)


def test_a_rotation_retried_with_the_same_id_changes_nothing(tmp_path: Path) -> None:
    store = file_store(tmp_path)
    store.set("AUTH0_LOG_STREAM_TOKEN", "old")
    assert store.rotate("AUTH0_LOG_STREAM_TOKEN", "first", rotation_id="run-1")
    assert not store.rotate("AUTH0_LOG_STREAM_TOKEN", "second", rotation_id="run-1")
    assert store.versions("AUTH0_LOG_STREAM_TOKEN") == ("first", "old")


def test_rotating_a_secret_held_in_the_environment_keeps_the_env_value_for_the_overlap(
    tmp_path: Path,
) -> None:
    store = file_store(tmp_path, environ={"STRIPE_WEBHOOK_SECRET": "from-env"})
    store.rotate("STRIPE_WEBHOOK_SECRET", "new")
    assert store.versions("STRIPE_WEBHOOK_SECRET") == ("new", "from-env")


def test_adopting_env_versions_keeps_the_previous_one_for_the_overlap_only(tmp_path: Path) -> None:
    clock = Clock()
    store = file_store(tmp_path, clock=clock)
    store.adopt("STRIPE_WEBHOOK_SECRET", ("current", "previous"))
    assert store.versions("STRIPE_WEBHOOK_SECRET") == ("current", "previous")
    clock.advance(25 * HOUR)
    assert store.versions("STRIPE_WEBHOOK_SECRET") == ("current",)


def test_describe_shows_versions_age_and_expiry_but_no_value(tmp_path: Path) -> None:
    clock = Clock()
    store = file_store(tmp_path, clock=clock)
    store.set("STRIPE_WEBHOOK_SECRET", "value-never-listed")
    store.rotate("STRIPE_WEBHOOK_SECRET", "value-never-listed-2")
    clock.advance(HOUR)
    (info,) = store.describe()
    assert (info.name, info.versions, info.age_seconds) == ("STRIPE_WEBHOOK_SECRET", 2, HOUR)
    assert info.previous_expires_at == clock.now - HOUR + 24 * HOUR
    assert "value-never-listed" not in repr(info)
