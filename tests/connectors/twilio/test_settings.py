"""The Twilio settings are the partner's own: HUB_TWILIO_API_BASE_URL read as the core settings
are read (environment, then `.env`); the upkeep factory uses it (the calls factory is covered
through a running hub in tests/web/test_messages.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from integration_hub.connectors.partner import UpkeepContext
from integration_hub.connectors.twilio import rotation
from integration_hub.connectors.twilio.account import TokenRotationStep
from integration_hub.connectors.twilio.settings import TwilioSettings
from integration_hub.secrets.file import FileSecretStore
from integration_hub.settings import Settings
from tests.helpers import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN
from tests.partner_server import PartnerServer, Reply, partner_server
from tests.secrets.helpers import file_store

NAME = "HUB_TWILIO_API_BASE_URL"


@pytest.fixture(autouse=True)
def _clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout
    monkeypatch.delenv(NAME, raising=False)


@pytest.fixture
def twilio_accounts() -> Iterator[PartnerServer]:
    """The Accounts API's answer to a new secondary token (twilio.com/docs/iam/api/authtoken)."""
    created = {"account_sid": TWILIO_ACCOUNT_SID, "secondary_auth_token": "5ec0" + "e" * 28}
    yield from partner_server(Reply(201, created))


@pytest.fixture
def store(tmp_path: Path) -> FileSecretStore:
    store = file_store(tmp_path, environ={"TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT_SID})
    store.set("TWILIO_AUTH_TOKEN", TWILIO_AUTH_TOKEN)
    return store


def test_unset_by_default() -> None:
    assert TwilioSettings().api_base_url is None
    assert "twilio_api_base_url" not in Settings.model_fields


def test_the_variable_keeps_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NAME, "http://127.0.0.1:9")
    assert TwilioSettings().api_base_url == "http://127.0.0.1:9"


def test_dot_env_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"{NAME}=http://127.0.0.1:10\nHUB_HOME=elsewhere\n")
    assert TwilioSettings().api_base_url == "http://127.0.0.1:10"


def test_the_upkeep_factory_points_the_rotation_at_it(
    monkeypatch: pytest.MonkeyPatch, store: FileSecretStore, twilio_accounts: PartnerServer
) -> None:
    monkeypatch.setenv(NAME, twilio_accounts.url)
    context = UpkeepContext(Settings(_env_file=None), store)  # type: ignore[call-arg]
    create_secondary = rotation.upkeep(context)[0]
    assert create_secondary(TokenRotationStep(rotation_id="rotation-1")) is True
    [request] = twilio_accounts.requests
    assert request.path == "/v1/AuthTokens/Secondary"
