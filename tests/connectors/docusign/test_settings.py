"""DocuSign's own settings (templates inline or from a file, bounded) and the declaration's
private key normalization (how a PEM key survives a one-line `.env`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from integration_hub.connectors.docusign import PARTNER, PEM, PRIVATE_KEY, normalize_private_key
from integration_hub.connectors.docusign.calls import DocuSignCalls
from integration_hub.connectors.docusign.settings import DocuSignSettings
from integration_hub.errors import UnsafeConfiguration
from integration_hub.secrets import EnvSecretSource
from tests.connectors.docusign.support import PRIVATE_KEY_PEM, TEMPLATE_EN, TEMPLATE_ES, TEMPLATES


def _settings(**values: object) -> DocuSignSettings:
    return DocuSignSettings(_env_file=None, **values)  # type: ignore[arg-type]


def test_defaults_are_the_demo_environment() -> None:
    settings = _settings()
    assert (settings.oauth_host, settings.oauth_url) == (
        "account-d.docusign.com", "https://account-d.docusign.com",
    )  # fmt: skip
    production = _settings(environment="production")
    assert production.oauth_url == "https://account.docusign.com"


def test_templates_from_the_environment_pick_the_language(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_DOCUSIGN_TEMPLATES", json.dumps(TEMPLATES))

    template = DocuSignSettings(_env_file=None).templates["cleaner_agreement"]  # type: ignore[call-arg]

    assert (template.template_id("es"), template.template_id("en")) == (TEMPLATE_ES, TEMPLATE_EN)
    assert (template.role_name, template.valid_days) == ("Cleaner", 365)


def test_templates_from_a_file_and_inline_ones_win(tmp_path: Path) -> None:
    path = tmp_path / "templates.json"
    other = {**TEMPLATES["cleaner_agreement"], "valid_days": 30}
    path.write_text(json.dumps({"cleaner_agreement": other, "owner_msa": other}))

    settings = _settings(templates_file=path, templates=TEMPLATES)

    assert settings.templates["cleaner_agreement"].valid_days == 365
    assert settings.templates["owner_msa"].valid_days == 30


@pytest.mark.parametrize(
    "templates",
    [
        {"Bad Key": TEMPLATES["cleaner_agreement"]},
        {"x": {**TEMPLATES["cleaner_agreement"], "es": "not-a-guid"}},
        {"x": {**TEMPLATES["cleaner_agreement"], "valid_days": 0}},
        {f"t{n}": TEMPLATES["cleaner_agreement"] for n in range(101)},
    ],
)
def test_bad_templates_are_refused(templates: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        _settings(templates=templates)


def test_a_missing_templates_file_is_a_setting_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="templates file unreadable"):
        _settings(templates_file=tmp_path / "absent.json")


def test_an_oversized_templates_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "templates.json"
    path.write_text(" " * (64 * 1024 + 1))
    with pytest.raises(ValidationError, match="over 65536 bytes"):
        _settings(templates_file=path)


@pytest.mark.parametrize(
    ("pasted", "form"),
    [
        (PRIVATE_KEY_PEM, None),
        (PRIVATE_KEY_PEM.strip().replace("\n", "\\n"), "with \\n escapes"),
        (PRIVATE_KEY_PEM.replace("\n", "\r\n"), "with CRLF"),
        (
            "".join(PRIVATE_KEY_PEM.strip().splitlines()[1:-1]),
            "as the base64 body without PEM lines",
        ),
    ],
)
def test_a_pasted_private_key_becomes_pem(pasted: str, form: str | None) -> None:
    canonical, described = normalize_private_key(pasted)

    assert described == form
    assert re.fullmatch(PEM, canonical)
    assert canonical.splitlines()[1:-1] == PRIVATE_KEY_PEM.strip().splitlines()[1:-1]
    assert PARTNER.secret(PRIVATE_KEY).canonical(pasted) == canonical


def test_the_production_environment_needs_a_production_hub() -> None:
    production = _settings(environment="production")
    secrets = EnvSecretSource(environ={})

    with pytest.raises(UnsafeConfiguration, match="needs HUB_ENV=production"):
        DocuSignCalls(secrets, production, env="development").preflight()
    DocuSignCalls(secrets, production, env="production").preflight()
    DocuSignCalls(secrets, _settings(), env="development").preflight()
