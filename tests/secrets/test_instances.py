"""Secrets per instance: the naming rule, the id's bounds, and listing a family's instances from
the environment, a real .env file and the encrypted file store (AWS: test_aws.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from integration_hub.secrets import (
    EnvSecretSource,
    InvalidInstance,
    SecretPolicy,
    SecretStoreError,
    TooManyInstances,
    instance_secret_name,
)
from integration_hub.secrets.instances import MAX_INSTANCES, instance_of
from tests.secrets.helpers import Clock, file_store

FAMILY = "PMS_API_KEY"
HOUR = 3600.0


def test_an_instance_secret_is_the_family_and_the_upper_cased_id() -> None:
    assert instance_secret_name(FAMILY, "acme-homes") == "PMS_API_KEY__ACME-HOMES"
    assert instance_secret_name(FAMILY, "realm_42") == "PMS_API_KEY__REALM_42"
    assert instance_of(FAMILY, "PMS_API_KEY__ACME-HOMES") == "acme-homes"


@pytest.mark.parametrize(
    "instance",
    ["", "-acme", "_acme", "Acme", "acme homes", "acme/../x", "a" * 64, "acme\x00", "ac\u00e9me",
     "acme_previous"],
)  # fmt: skip
def test_an_id_outside_the_rule_is_refused_without_echoing_it(instance: str) -> None:
    with pytest.raises(InvalidInstance) as refused:
        instance_secret_name(FAMILY, instance)
    assert instance not in refused.value.detail or instance == ""


def test_the_longest_id_is_63_characters() -> None:
    assert instance_of(FAMILY, instance_secret_name(FAMILY, "a" * 63)) == "a" * 63


def test_the_environment_lists_each_instance_once_sorted() -> None:
    source = EnvSecretSource(
        environ={
            "PMS_API_KEY__ZETA": "z-key",
            "PMS_API_KEY__ACME-HOMES": "a-key",
            "PMS_API_KEY__ACME-HOMES_PREVIOUS": "a-old",  # acme's previous version
            "PMS_API_KEY__EMPTY": "",  # not set
            "PMS_API_KEY__lower": "not the naming rule",
            "PMS_API_KEY__BAD!ID": "not an id",
            "PMS_API_KEY": "the family name alone is no instance",
            "PMS_API_KEY_OTHER__X": "another family",
        }
    )
    assert source.instances(FAMILY) == ("acme-homes", "zeta")
    name = instance_secret_name(FAMILY, "acme-homes")
    assert source.versions(name) == ("a-key", "a-old")


def test_a_dotenv_file_holds_instances_too(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PMS_API_KEY__ACME-HOMES=from-dotenv\nPMS_API_KEY__B2=second\n")
    source = EnvSecretSource(environ={"PMS_API_KEY__B2": "environment wins"}, env_file=env_file)
    assert source.instances(FAMILY) == ("acme-homes", "b2")
    assert source.versions(instance_secret_name(FAMILY, "b2")) == ("environment wins",)


def test_an_unbounded_family_is_refused() -> None:
    environ = {f"PMS_API_KEY__I{n}": "v" for n in range(MAX_INSTANCES + 1)}
    with pytest.raises(TooManyInstances):
        EnvSecretSource(environ=environ).instances(FAMILY)


def test_the_file_store_lists_its_instances_and_the_environments(tmp_path: Path) -> None:
    store = file_store(tmp_path, environ={"PMS_API_KEY__FROM-ENV": "env-value"})
    store.set(instance_secret_name(FAMILY, "acme-homes"), "stored-value")
    store.set("PMS_API_KEY_OTHER__X", "another family")
    reopened = file_store(tmp_path, environ={"PMS_API_KEY__FROM-ENV": "env-value"})
    assert reopened.instances(FAMILY) == ("acme-homes", "from-env")
    assert reopened.versions("PMS_API_KEY__ACME-HOMES") == ("stored-value",)
    assert reopened.versions("PMS_API_KEY__FROM-ENV") == ("env-value",)
    assert b"ACME-HOMES" not in (tmp_path / "secrets.enc").read_bytes()  # names encrypted


def test_an_instance_rotates_like_any_secret_with_its_familys_overlap(tmp_path: Path) -> None:
    clock = Clock()
    policy = SecretPolicy(overlap_by_name={FAMILY: timedelta(hours=1)})
    store = file_store(tmp_path, clock=clock, policy=policy)
    name = instance_secret_name(FAMILY, "acme-homes")
    store.set(name, "old")
    store.rotate(name, "new")
    assert store.versions(name) == ("new", "old")
    clock.advance(HOUR + 1)
    assert store.versions(name) == ("new",)
    assert store.versions(instance_secret_name(FAMILY, "other")) == ()  # instances stay apart


@pytest.mark.parametrize("name", ["PMS_API_KEY__ac-me", "PMS_API_KEY__AC/ME", "A-B", "X" * 129])
def test_the_store_refuses_a_name_outside_the_rules(tmp_path: Path, name: str) -> None:
    with pytest.raises(SecretStoreError, match="secret names"):
        file_store(tmp_path).set(name, "value")
