"""Doctor's sign-in check: the active auth provider's passkey and MFA settings, read live from
local stand-ins for Clerk's Frontend API and Auth0's Management API, and the URL to try."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from integration_hub.cli import app
from integration_hub.connectors.partners import partner_named
from integration_hub.doctor import diagnose
from integration_hub.orchestration.devserver import free_port
from integration_hub.secrets import EnvSecretSource
from integration_hub.sign_in import check_sign_in
from tests.helpers import make_settings
from tests.partner_server import PartnerServer, RecordedRequest, Reply, partner_server

PUBLIC = "https://hub.example.com"
AUTH0_SECRETS = {
    "AUTH_CLIENT_ID": "hubM2MClientId0123456789abcdefAB",
    "AUTH_CLIENT_SECRET": "hub-m2m-client-secret-0123456789abcdefghijklmnopqrstuv",
}


def clerk_environment(request: RecordedRequest) -> Reply:
    if request.path != "/v1/environment":
        return Reply(404, {"errors": [{"code": "resource_not_found"}]})
    attributes = {
        "passkey": {"enabled": True, "used_for_first_factor": True},
        "totp": {"enabled": True, "used_for_second_factor": True},
        "backup_code": {"enabled": False, "used_for_second_factor": False},
    }
    return Reply(body={"user_settings": {"attributes": attributes}})


def auth0_tenant(request: RecordedRequest) -> Reply:
    if request.path == "/oauth/token":
        return Reply(body={"access_token": "mgmt-token", "expires_in": 86400})
    if request.path == "/api/v2/guardian/factors":
        return Reply(body=[{"name": "webauthn-roaming", "enabled": False},
                           {"name": "otp", "enabled": False}])  # fmt: skip
    if request.path == "/api/v2/connections":
        off = {"authentication_methods": {"passkey": {"enabled": False}}}
        return Reply(body=[{"name": "Username-Password-Authentication", "options": off}])
    return Reply(404, {"statusCode": 404})


@pytest.fixture
def clerk_frontend() -> Iterator[PartnerServer]:
    yield from partner_server(clerk_environment)


@pytest.fixture
def auth0_api() -> Iterator[PartnerServer]:
    yield from partner_server(auth0_tenant)


def test_hub_doctor_prints_passkeys_mfa_and_the_sign_in_url(
    tmp_path: Path, clerk_frontend: PartnerServer
) -> None:
    env = {
        "HUB_HOME": str(tmp_path / "var"),
        "HUB_AUTH_PROVIDER": "clerk",
        "HUB_AUTH_ISSUER": clerk_frontend.url,
        "HUB_PUBLIC_BASE_URL": PUBLIC,
    }

    result = CliRunner().invoke(app, ["doctor"], env=env)

    assert result.exit_code == 0, result.output
    clerk = result.output.split("clerk [P0]", 1)[1]
    assert "  passkeys: enabled\n  MFA: enabled (totp)\n" in clerk
    assert f"  sign-in to try: {PUBLIC}/status/login\n" in clerk
    assert "passkeys:" not in result.output.split("clerk [P0]", 1)[0]  # only the active one
    [read] = clerk_frontend.requests
    assert (read.method, read.path) == ("GET", "/v1/environment")


def _settings(tmp_path: Path, **overrides: Any) -> Any:
    return make_settings(tmp_path, "sqlite://", "127.0.0.1:1", **overrides)


def test_auth0_with_nothing_enabled_says_disabled(tmp_path: Path, auth0_api: PartnerServer) -> None:
    secrets = EnvSecretSource(environ={**AUTH0_SECRETS, "AUTH_ISSUER": auth0_api.url})
    settings = _settings(tmp_path, auth_provider="auth0", public_base_url=PUBLIC)

    reports = diagnose(secrets=secrets, engine=None, settings=settings)

    [auth0] = [r for r in reports if r.sign_in is not None]
    assert auth0.partner == "auth0"
    assert auth0.as_dict()["sign_in"] == {
        "provider": "auth0",
        "passkeys": "disabled",
        "mfa": "disabled",
        "sign_in_url": f"{PUBLIC}/status/login",
    }
    paths = [r.path for r in auth0_api.requests]
    assert paths == ["/oauth/token", "/api/v2/guardian/factors", "/api/v2/connections"]


def test_an_unreachable_provider_is_unknown_and_never_fails_doctor(tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    secrets = EnvSecretSource(environ={**AUTH0_SECRETS, "AUTH_ISSUER": nobody})
    settings = _settings(tmp_path, auth_provider="auth0")

    report = check_sign_in(settings, secrets, partner_named("auth0"), timeout=1.0)

    assert report is not None
    assert report.passkeys.startswith("unknown: ")
    assert "ConnectError" in report.passkeys
    assert report.mfa == report.passkeys
    assert report.url == "set HUB_PUBLIC_BASE_URL"
    assert AUTH0_SECRETS["AUTH_CLIENT_SECRET"] not in repr(report)


def test_clerk_without_an_issuer_is_unknown_and_no_live_check_without_settings(
    tmp_path: Path,
) -> None:
    report = check_sign_in(
        _settings(tmp_path, auth_provider="clerk"), EnvSecretSource(environ={}),
        partner_named("clerk"),
    )  # fmt: skip
    assert report is not None
    assert report.passkeys == "unknown: AUTH_ISSUER not set"

    reports = diagnose(secrets=EnvSecretSource(environ={}), engine=None)
    assert all(r.sign_in is None for r in reports)
