"""The Maps settings are the partner's own: HUB_MAPS_* read as the core settings are read
(environment, then `.env`), with the names, defaults and validation they always had."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.google_maps import PARTNER
from integration_hub.connectors.google_maps.calls import GeocodeInput, GoogleMapsCalls
from integration_hub.connectors.google_maps.settings import MapsSettings
from integration_hub.connectors.partner import CallsContext
from integration_hub.secrets import EnvSecretSource
from integration_hub.settings import Settings
from tests.helpers import GOOGLE_MAPS_API_KEY
from tests.partner_server import PartnerServer

# Every variable, exactly as the README documents it, with its default.
DEFAULTS = {
    "HUB_MAPS_CACHE_DAYS": ("cache_days", 30),
    "HUB_MAPS_GEOCODE_PER_MINUTE": ("geocode_per_minute", 2_400),
    "HUB_MAPS_DIRECTIONS_PER_MINUTE": ("directions_per_minute", 600),
    "HUB_MAPS_DISTANCE_MATRIX_ELEMENTS_PER_MINUTE": ("distance_matrix_elements_per_minute", 30_000),
    "HUB_MAPS_GEOCODE_DAILY_WARNING": ("geocode_daily_warning", 1_000),
    "HUB_MAPS_DIRECTIONS_DAILY_WARNING": ("directions_daily_warning", 1_000),
    "HUB_MAPS_DISTANCE_MATRIX_DAILY_WARNING": ("distance_matrix_daily_warning", 10_000),
    "HUB_MAPS_API_BASE_URL": ("api_base_url", None),
}


@pytest.fixture(autouse=True)
def _clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout
    for name in DEFAULTS:
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_unchanged() -> None:
    settings = MapsSettings()
    assert {field: getattr(settings, field) for field, _ in DEFAULTS.values()} == {
        field: default for field, default in DEFAULTS.values()
    }
    assert set(MapsSettings.model_fields) == {field for field, _ in DEFAULTS.values()}


def test_every_variable_keeps_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    for n, name in enumerate(DEFAULTS):
        monkeypatch.setenv(name, "http://127.0.0.1:9" if name.endswith("URL") else str(n + 1))
    settings = MapsSettings()
    for n, (name, (field, _)) in enumerate(DEFAULTS.items()):
        expected = "http://127.0.0.1:9" if name.endswith("URL") else n + 1
        assert getattr(settings, field) == expected, name


def test_dot_env_is_read_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        "HUB_MAPS_CACHE_DAYS=7\nHUB_MAPS_GEOCODE_PER_MINUTE=5\nHUB_HOME=elsewhere\n"
    )
    monkeypatch.setenv("HUB_MAPS_GEOCODE_PER_MINUTE", "9")
    settings = MapsSettings()
    assert (settings.cache_days, settings.geocode_per_minute) == (7, 9)


@pytest.mark.parametrize("name", [n for n in DEFAULTS if not n.endswith("URL")])
@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_limits_must_be_positive_integers(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as error:
        MapsSettings()
    assert DEFAULTS[name][0] in str(error.value)


def test_the_core_settings_no_longer_carry_them() -> None:
    assert not [field for field in Settings.model_fields if field.startswith("maps_")]


def test_the_calls_factory_reads_them_from_the_environment(
    engine: Engine, maps_server: PartnerServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_MAPS_API_BASE_URL", maps_server.url)
    monkeypatch.setenv("HUB_MAPS_GEOCODE_PER_MINUTE", "1")
    monkeypatch.setenv("HUB_MAPS_DIRECTIONS_DAILY_WARNING", "17")
    secrets = EnvSecretSource(environ={"GOOGLE_MAPS_API_KEY": GOOGLE_MAPS_API_KEY})
    assert PARTNER.calls is not None
    calls = PARTNER.calls(CallsContext(Settings(_env_file=None), secrets, engine))  # type: ignore[call-arg]
    assert isinstance(calls, GoogleMapsCalls)
    try:
        threshold = REGISTRY.get_sample_value(
            "hub_maps_daily_warning_threshold", {"api": "directions"}
        )
        assert threshold == 17
        calls.geocode(GeocodeInput(address="1 Main St"))  # the local server, not Google
        with pytest.raises(ApplicationError) as error:
            calls.geocode(GeocodeInput(address="2 Main St"))
        assert error.value.type == "google_maps.rate_limited"
        assert len(maps_server.requests) == 1
    finally:
        calls.close()
