"""AWS Secrets Manager backend against a moto server on 127.0.0.1, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from moto.server import ThreadedMotoServer

from integration_hub.orchestration.devserver import free_port
from integration_hub.secrets import EnvSecretSource, TooManyInstances, instance_secret_name
from integration_hub.secrets import aws as aws_module
from integration_hub.secrets.aws import AwsSecretStore
from tests.secrets.helpers import Clock

HOUR = 3600.0


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)


def aws_store(endpoint: str, prefix: str, **options: Any) -> AwsSecretStore:
    return AwsSecretStore(
        prefix=prefix,
        endpoint_url=endpoint,
        region="us-east-1",
        cache_seconds=0,
        fallback=options.pop("fallback", EnvSecretSource(environ={})),
        **options,
    )


def test_a_value_set_is_read_back_through_secrets_manager(endpoint: str, aws_env: None) -> None:
    aws_store(endpoint, "t1/").set("STRIPE_WEBHOOK_SECRET", "whsec_aws_round_trip")
    assert aws_store(endpoint, "t1/").versions("STRIPE_WEBHOOK_SECRET") == ("whsec_aws_round_trip",)


def test_each_secret_is_one_aws_secret_under_the_prefix(endpoint: str, aws_env: None) -> None:
    aws_store(endpoint, "t2/").set("CLERK_WEBHOOK_SECRET", "value")
    client = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1")
    names = [s["Name"] for s in client.list_secrets()["SecretList"]]
    assert "t2/CLERK_WEBHOOK_SECRET" in names


def test_rotation_overlap_works_the_same_as_in_the_file_store(endpoint: str, aws_env: None) -> None:
    clock = Clock()
    store = aws_store(endpoint, "t3/", clock=clock)
    store.set("AUTH0_LOG_STREAM_TOKEN", "old")
    store.rotate("AUTH0_LOG_STREAM_TOKEN", "new")
    assert store.versions("AUTH0_LOG_STREAM_TOKEN") == ("new", "old")
    clock.advance(24 * HOUR + 1)
    assert store.versions("AUTH0_LOG_STREAM_TOKEN") == ("new",)


def test_a_plain_string_put_by_hand_is_one_version(endpoint: str, aws_env: None) -> None:
    client = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1")
    client.create_secret(Name="t4/STRIPE_SECRET_KEY", SecretString="sk_test_by_hand")
    assert aws_store(endpoint, "t4/").versions("STRIPE_SECRET_KEY") == ("sk_test_by_hand",)


def test_names_not_in_secrets_manager_come_from_the_environment(
    endpoint: str, aws_env: None
) -> None:
    store = aws_store(endpoint, "t5/", fallback=EnvSecretSource(environ={"AUTH_ISSUER": "env"}))
    assert store.versions("AUTH_ISSUER") == ("env",)


def test_list_describes_the_stored_secrets(endpoint: str, aws_env: None) -> None:
    store = aws_store(endpoint, "t6/")
    store.set("A_SECRET", "one")
    store.set("B_SECRET", "two")
    assert [i.name for i in store.describe()] == ["A_SECRET", "B_SECRET"]


def test_a_familys_instances_are_listed_by_name_from_secrets_manager(
    endpoint: str, aws_env: None
) -> None:
    fallback = EnvSecretSource(environ={"PMS_API_KEY__FROM-ENV": "env-value"})
    store = aws_store(endpoint, "t7/", fallback=fallback)
    store.set(instance_secret_name("PMS_API_KEY", "acme-homes"), "stored-value")
    store.set(instance_secret_name("PMS_API_KEY", "zeta"), "other-value")
    store.set("PMS_API_KEY_OTHER__X", "another family")
    client = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1")
    client.create_secret(Name="t7/PMS_API_KEY__lower", SecretString="not the naming rule")
    client.create_secret(Name="t8/PMS_API_KEY__ELSEWHERE", SecretString="another prefix")

    reopened = aws_store(endpoint, "t7/", fallback=fallback)
    assert reopened.instances("PMS_API_KEY") == ("acme-homes", "from-env", "zeta")
    assert reopened.versions("PMS_API_KEY__ACME-HOMES") == ("stored-value",)
    assert reopened.versions("PMS_API_KEY__FROM-ENV") == ("env-value",)


def test_listing_instances_stops_past_the_bound(
    endpoint: str, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aws_module, "MAX_INSTANCES", 2)
    store = aws_store(endpoint, "t9/")
    for instance in ("a", "b", "c"):
        store.set(instance_secret_name("PMS_API_KEY", instance), "value")
    with pytest.raises(TooManyInstances):
        store.instances("PMS_API_KEY")
