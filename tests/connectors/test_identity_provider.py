"""Every auth provider that declares `Partner.identity` registers the invitation activities
under the names the core's invitation workflow runs, and names only secrets it declares."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from temporalio import activity

from integration_hub.connectors.identity_provider import invitation_activity
from integration_hub.connectors.partner import CallsContext, Partner
from integration_hub.connectors.partners import PARTNERS, providers_of
from integration_hub.secrets import EnvSecretSource
from tests.helpers import make_settings

IDENTITY_PROVIDERS = [p for p in PARTNERS if p.identity is not None]


def test_every_auth_provider_declares_its_part() -> None:
    assert {p.name for p in IDENTITY_PROVIDERS} == {p.name for p in providers_of("auth")}


@pytest.mark.parametrize("partner", IDENTITY_PROVIDERS, ids=lambda p: p.name)
def test_the_agreed_activity_names_are_registered(
    partner: Partner, engine: Engine, tmp_path: Path
) -> None:
    assert partner.identity is not None and partner.calls is not None
    settings = make_settings(tmp_path, "sqlite://", "127.0.0.1:1")
    calls = partner.calls(CallsContext(settings, EnvSecretSource(environ={}), engine))
    names = set()
    for method in calls.activities():
        definition = activity._Definition.from_callable(method)
        assert definition is not None
        names.add(definition.name)

    assert invitation_activity(partner.name, "create") in names
    assert invitation_activity(partner.name, "revoke") in names
    assert set(partner.identity.invitation_secrets) <= set(partner.secret_names)
    getattr(calls, "close", lambda: None)()
