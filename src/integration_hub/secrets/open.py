"""`open_secret_source(settings)`: the backend `HUB_SECRETS_BACKEND` names, over env/.env."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from integration_hub.secrets.env import EnvSecretSource, SecretSource
from integration_hub.secrets.store import RecordStore, SecretPolicy
from integration_hub.settings import Settings


def secret_policy(settings: Settings) -> SecretPolicy:
    return SecretPolicy(
        overlap=timedelta(hours=settings.secret_overlap_hours),
        max_age=timedelta(days=settings.secret_max_age_days),
        overlap_by_name={
            n: timedelta(hours=h) for n, h in settings.secret_overlap_hours_by_name.items()
        },
        max_age_by_name={
            n: timedelta(days=d) for n, d in settings.secret_max_age_days_by_name.items()
        },
    )


def open_secret_store(
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    env_file: Path | None = Path(".env"),
) -> RecordStore | None:
    """The writable store (file or aws), or None for the read-only `env` backend."""
    fallback = EnvSecretSource(environ=environ, env_file=env_file)
    policy = secret_policy(settings)
    if settings.secrets_backend == "file":
        from integration_hub.secrets.file import FileSecretStore

        # HUB_MASTER_KEY is read here from the same place as the rest (environment, .env).
        master = settings.master_key.get_secret_value() if settings.master_key else None
        return FileSecretStore(settings.home, master_key=master, fallback=fallback, policy=policy)
    if settings.secrets_backend == "aws":
        from integration_hub.secrets.aws import AwsSecretStore

        return AwsSecretStore(
            prefix=settings.aws_secrets_prefix,
            region=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url,
            fallback=fallback,
            policy=policy,
        )
    return None


def open_secret_source(
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    env_file: Path | None = Path(".env"),
) -> SecretSource:
    """What connectors read: the configured store (falling back to env/.env), or env/.env."""
    store = open_secret_store(settings, environ=environ, env_file=env_file)
    if store is not None:
        return store
    return EnvSecretSource(environ=os.environ if environ is None else environ, env_file=env_file)
