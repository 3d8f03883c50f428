"""Secret ages: which stored secrets are past their maximum age, as a log line and a gauge."""

from __future__ import annotations

import structlog

from integration_hub import metrics
from integration_hub.secrets.store import RecordStore, SecretInfo

log = structlog.get_logger(__name__)


def secrets_past_max_age(store: RecordStore) -> list[SecretInfo]:
    """Stored secrets whose newest version is older than their maximum age."""
    return [info for info in store.describe() if info.past_max_age]


def report_ages(store: RecordStore) -> list[SecretInfo]:
    """Set `hub_secret_age_seconds{name}` for every stored secret; log each one past its
    maximum age (names and ages only); return those."""
    overdue = []
    for info in store.describe():
        metrics.SECRET_AGE.labels(info.name).set(info.age_seconds)
        if info.past_max_age:
            overdue.append(info)
            log.warning(
                "secret_past_max_age",
                name=info.name,
                age_days=round(info.age_seconds / 86400, 1),
                max_age_days=round(info.max_age_seconds / 86400, 1),
                action="rotate it: hub secrets rotate NAME < new-value",
            )
    return overdue
