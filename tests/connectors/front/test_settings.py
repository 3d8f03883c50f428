"""HUB_FRONT_* as the README documents them: names, defaults, and a malformed inbox id refused
when the settings are built (the worker starts with none rather than a wrong one)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from integration_hub.connectors.front.settings import FrontSettings

DEFAULTS = {
    "HUB_FRONT_API_BASE_URL": ("api_base_url", "https://api2.frontapp.com"),
    "HUB_FRONT_INBOX_ID": ("inbox_id", None),
    "HUB_FRONT_COMPANY_ID": ("company_id", None),
    "HUB_FRONT_RECIPIENT_HANDLE": ("recipient_handle", "integration-hub"),
    "HUB_FRONT_REQUESTS_PER_MINUTE": ("requests_per_minute", 50),
    "HUB_FRONT_LOOKUP_ATTEMPTS": ("lookup_attempts", 5),
    "HUB_FRONT_LOOKUP_DELAY_SECONDS": ("lookup_delay_seconds", 0.5),
}


def test_the_defaults_are_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in DEFAULTS:
        monkeypatch.delenv(variable, raising=False)
    settings = FrontSettings(_env_file=None)  # type: ignore[call-arg]
    assert {v: getattr(settings, f) for v, (f, _) in DEFAULTS.items()} == {
        v: default for v, (_, default) in DEFAULTS.items()
    }


def test_each_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_FRONT_INBOX_ID", "inb_3srbb")
    monkeypatch.setenv("HUB_FRONT_LOOKUP_ATTEMPTS", "3")
    settings = FrontSettings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.inbox_id, settings.lookup_attempts) == ("inb_3srbb", 3)


@pytest.mark.parametrize("inbox", ["3srbb", "inb_", "inb_abc/../teammates", "x/inb_abc", "INB_ABC"])
def test_an_inbox_id_that_is_not_one_is_refused(
    monkeypatch: pytest.MonkeyPatch, inbox: str
) -> None:
    monkeypatch.setenv("HUB_FRONT_INBOX_ID", inbox)
    with pytest.raises(ValidationError):
        FrontSettings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("attempts", "delay"), [("20", "0.5"), ("5", "1"), ("3", "5"), ("6", "0.5")]
)
def test_lookups_that_would_wait_past_the_activitys_timeout_are_refused(
    monkeypatch: pytest.MonkeyPatch, attempts: str, delay: str
) -> None:
    """The waits add up to delay * (2**(attempts-1) - 1): at least half of the 30 s activity
    timeout is refused, so the activity ends with its own retryable error, not a timeout."""
    monkeypatch.setenv("HUB_FRONT_LOOKUP_ATTEMPTS", attempts)
    monkeypatch.setenv("HUB_FRONT_LOOKUP_DELAY_SECONDS", delay)
    with pytest.raises(ValidationError, match="half the activity's timeout"):
        FrontSettings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("attempts", "delay"), [("5", "0.5"), ("1", "10"), ("2", "10"), ("3", "4.9"), ("20", "0")]
)
def test_lookups_that_fit_in_the_activity_are_kept(
    monkeypatch: pytest.MonkeyPatch, attempts: str, delay: str
) -> None:
    monkeypatch.setenv("HUB_FRONT_LOOKUP_ATTEMPTS", attempts)
    monkeypatch.setenv("HUB_FRONT_LOOKUP_DELAY_SECONDS", delay)
    settings = FrontSettings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.lookup_attempts, settings.lookup_delay_seconds) == (
        int(attempts),
        float(delay),
    )


@pytest.mark.parametrize("company", ["3f8a2", "cmp_", "CMP_3F8A2", "cmp_3f8a2 "])
def test_a_company_id_that_is_not_one_is_refused(
    monkeypatch: pytest.MonkeyPatch, company: str
) -> None:
    monkeypatch.setenv("HUB_FRONT_COMPANY_ID", company)
    with pytest.raises(ValidationError):
        FrontSettings(_env_file=None)  # type: ignore[call-arg]
