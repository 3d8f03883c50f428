"""Where partner secrets come from. Connectors name variables; a `SecretSource` resolves them.

Backends, chosen by `HUB_SECRETS_BACKEND`: `env` (the process environment and `.env`, read
only), `file` (the default: an AES-256-GCM encrypted file under `HUB_HOME`) and `aws` (AWS
Secrets Manager). The writable stores answer for the names they hold and fall back to the
environment/.env for the others, so an existing `.env` keeps working: store first, then env.
A family declared per instance holds one secret per instance, `NAME__<INSTANCE>` (instances.py).
"""

from integration_hub.secrets.env import PREVIOUS_SUFFIX, EnvSecretSource, SecretSource
from integration_hub.secrets.instances import (
    InvalidInstance,
    TooManyInstances,
    check_instance,
    instance_secret_name,
)
from integration_hub.secrets.open import open_secret_source, open_secret_store
from integration_hub.secrets.store import SecretInfo, SecretPolicy, SecretStore, SecretStoreError

__all__ = [
    "PREVIOUS_SUFFIX",
    "EnvSecretSource",
    "InvalidInstance",
    "SecretInfo",
    "SecretPolicy",
    "SecretSource",
    "SecretStore",
    "SecretStoreError",
    "TooManyInstances",
    "check_instance",
    "instance_secret_name",
    "open_secret_source",
    "open_secret_store",
]
