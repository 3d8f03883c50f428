"""AWS Secrets Manager: one AWS secret per hub secret, named `{prefix}{NAME}`.

The SecretString is the hub's record as JSON (`{"versions": [...]}`: values, creation and
expiry times), so rotation overlaps work the same as in the file store. A plain string (a value
put there by hand, say from 1Password) is read as one version created when AWS stored it.
Lookups are cached for `cache_seconds` (ingest reads a secret per delivery); writes refresh it.
Credentials and region come from boto3's usual chain (environment, profile, instance role).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from integration_hub.secrets.instances import MAX_INSTANCES, TooManyInstances
from integration_hub.secrets.store import Record, RecordStore, SecretStoreError, Version

DEFAULT_PREFIX = "integration-hub/"


class AwsSecretStore(RecordStore):
    def __init__(
        self,
        *,
        prefix: str = DEFAULT_PREFIX,
        region: str | None = None,
        endpoint_url: str | None = None,
        cache_seconds: float = 30.0,
        client: Any = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if client is None:
            import boto3  # type: ignore[import-untyped]  # no py.typed, no stubs: typed Any here

            client = boto3.session.Session().client(
                "secretsmanager", region_name=region, endpoint_url=endpoint_url
            )
        self._client = client
        self._prefix = prefix
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Record | None]] = {}
        self._mutex = threading.Lock()

    def _fetch(self, name: str) -> Record | None:
        errors = self._client.exceptions
        try:
            answer = self._client.get_secret_value(SecretId=self._prefix + name)
        except errors.ResourceNotFoundException:
            return None
        except Exception as error:  # never echo the answer: it may carry the value
            raise SecretStoreError(
                f"AWS Secrets Manager: reading {name} failed ({type(error).__name__})"
            ) from None
        text = answer.get("SecretString") or ""
        try:
            data = json.loads(text)
            return tuple(Version.from_dict(v) for v in data["versions"])
        except (ValueError, TypeError, KeyError):
            created = answer.get("CreatedDate")
            return (Version(value=text, created_at=created.timestamp() if created else 0.0),)

    def _record(self, name: str) -> Record | None:
        now = time.monotonic()
        with self._mutex:
            cached = self._cache.get(name)
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1]
        record = self._fetch(name)
        with self._mutex:
            self._cache[name] = (now, record)
        return record

    def _listed(self, start: str) -> Iterator[str]:
        """Names (without the prefix) of the AWS secrets under `{prefix}{start}`; AWS's name
        filter is a case-insensitive prefix match, so the exact prefix is checked here."""
        whole = self._prefix + start
        paginator = self._client.get_paginator("list_secrets")
        for page in paginator.paginate(Filters=[{"Key": "name", "Values": [whole]}]):
            for secret in page["SecretList"]:
                if secret["Name"].startswith(whole):
                    yield secret["Name"][len(self._prefix) :]

    def _records(self) -> dict[str, Record]:
        records = {name: self._fetch(name) for name in self._listed("")}
        return {name: record for name, record in records.items() if record is not None}

    def _names(self, prefix: str) -> list[str]:
        """Names only: listing a family's instances reads no value. Stops past the bound, so a
        prefix holding thousands of secrets is not paged through."""
        names: list[str] = []
        for name in self._listed(prefix):
            names.append(name)
            if len(names) > MAX_INSTANCES:
                raise TooManyInstances(f"{prefix}: more than {MAX_INSTANCES} instances")
        return names

    def _modify(self, name: str, change: Callable[[Record | None], Record | None]) -> None:
        current = self._fetch(name)
        updated = change(current)
        if updated is None:
            return
        body = json.dumps({"versions": [v.as_dict() for v in updated]})
        try:
            if current is None:
                self._client.create_secret(Name=self._prefix + name, SecretString=body)
            else:
                self._client.put_secret_value(SecretId=self._prefix + name, SecretString=body)
        except Exception as error:
            raise SecretStoreError(
                f"AWS Secrets Manager: writing {name} failed ({type(error).__name__})"
            ) from None
        with self._mutex:
            self._cache[name] = (time.monotonic(), updated)
