"""The Stripe settings are the partner's own: HUB_STRIPE_* read from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from integration_hub.connectors.stripe.settings import StripeSettings


@pytest.fixture(autouse=True)
def _clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout
    for name in ("HUB_STRIPE_API_BASE_URL", "HUB_STRIPE_CONNECT_COUNTRY"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_stripes_api_and_us_accounts() -> None:
    settings = StripeSettings()
    assert (settings.api_base_url, settings.connect_country) == (None, "US")


def test_the_connect_country_is_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_STRIPE_CONNECT_COUNTRY", "ES")
    assert StripeSettings().connect_country == "ES"
    monkeypatch.setenv("HUB_STRIPE_CONNECT_COUNTRY", "spain")
    with pytest.raises(ValidationError):
        StripeSettings()
