"""The maximum-age reminder: which secrets are overdue, the gauge and the log line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from integration_hub.secrets import SecretPolicy
from integration_hub.secrets.ages import report_ages, secrets_past_max_age
from tests.secrets.helpers import Clock, file_store

DAY = 86400.0


def test_a_secret_older_than_its_maximum_age_is_listed(tmp_path: Path) -> None:
    clock = Clock()
    store = file_store(tmp_path, clock=clock)
    store.set("STRIPE_WEBHOOK_SECRET", "old-value")
    clock.advance(80 * DAY)
    store.set("CLERK_WEBHOOK_SECRET", "young-value")
    clock.advance(11 * DAY)
    assert [i.name for i in secrets_past_max_age(store)] == ["STRIPE_WEBHOOK_SECRET"]


def test_the_maximum_age_is_configurable_per_secret(tmp_path: Path) -> None:
    clock = Clock()
    policy = SecretPolicy(max_age_by_name={"CLERK_WEBHOOK_SECRET": timedelta(days=7)})
    store = file_store(tmp_path, clock=clock, policy=policy)
    store.set("CLERK_WEBHOOK_SECRET", "value")
    clock.advance(8 * DAY)
    assert [i.name for i in secrets_past_max_age(store)] == ["CLERK_WEBHOOK_SECRET"]


def test_report_sets_the_age_gauge_and_logs_overdue_names_without_values(tmp_path: Path) -> None:
    clock = Clock()
    store = file_store(tmp_path, clock=clock)
    store.set("AGED_TEST_SECRET", "aged-secret-value-41ac")
    clock.advance(91 * DAY)
    with capture_logs() as logs:
        overdue = report_ages(store)
    assert [i.name for i in overdue] == ["AGED_TEST_SECRET"]
    gauge = REGISTRY.get_sample_value("hub_secret_age_seconds", {"name": "AGED_TEST_SECRET"})
    assert gauge == 91 * DAY
    assert [(e["event"], e["name"]) for e in logs] == [("secret_past_max_age", "AGED_TEST_SECRET")]
    assert "aged-secret-value-41ac" not in repr(logs)
