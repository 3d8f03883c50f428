"""TWILIO_WHATSAPP_NUMBER as users paste it: `+13055550100` or, as Twilio's console shows a
WhatsApp sender, `whatsapp:+13055550100`. Both start and read as +E.164; doctor notes the
second; a malformed value is still refused. (The send itself: tests/connectors/twilio/
test_messaging.py, with the prefixed form.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from integration_hub.cli import app
from integration_hub.connectors.twilio import PARTNER, WHATSAPP_NUMBER, whatsapp_number
from integration_hub.connectors.twilio.messaging import TwilioMessaging
from integration_hub.connectors.twilio.settings import TwilioSettings
from integration_hub.doctor import PartnerReport, diagnose
from integration_hub.errors import UnsafeConfiguration
from integration_hub.secrets import EnvSecretSource
from integration_hub.storage.engine import make_engine
from tests.helpers import TWILIO_WHATSAPP_NUMBER, local_secrets, make_settings

PREFIXED = f"whatsapp:{TWILIO_WHATSAPP_NUMBER}"
MALFORMED = "whatsapp:13055550100"  # no +: not E.164 once the prefix is dropped
NOTE = f"{WHATSAPP_NUMBER} given as whatsapp:+E.164 (read as +E.164)"


@pytest.mark.parametrize(
    ("pasted", "read", "form"),
    [
        (TWILIO_WHATSAPP_NUMBER, TWILIO_WHATSAPP_NUMBER, None),
        (PREFIXED, TWILIO_WHATSAPP_NUMBER, "whatsapp:+E.164 (read as +E.164)"),
        (
            f"WhatsApp:{TWILIO_WHATSAPP_NUMBER}",
            TWILIO_WHATSAPP_NUMBER,
            "whatsapp:+E.164 (read as +E.164)",
        ),
        (MALFORMED, "13055550100", "whatsapp:+E.164 (read as +E.164)"),
    ],
    ids=["plain", "prefixed", "prefix-any-case", "malformed"],
)
def test_the_prefix_is_dropped_and_nothing_else_changes(
    pasted: str, read: str, form: str | None
) -> None:
    assert whatsapp_number(pasted) == (read, form)
    assert PARTNER.secret(WHATSAPP_NUMBER).canonical(pasted) == read


def _twilio(number: str) -> PartnerReport:
    environ = {**local_secrets(), WHATSAPP_NUMBER: number}
    source = EnvSecretSource(environ=environ)
    # A public base URL, so that the only thing doctor says besides the steps is the note.
    reports = diagnose(secrets=source, engine=None, public_base_url="https://hooks.example.com")
    return next(r for r in reports if r.partner == PARTNER.name)


def _number(report: PartnerReport) -> dict[str, object]:
    return next(s.as_dict() for s in report.secrets if s.name == WHATSAPP_NUMBER)


def test_doctor_notes_the_prefixed_form_without_failing() -> None:
    report = _twilio(PREFIXED)

    assert _number(report)["well_formed"] is True
    assert report.notes == [NOTE]
    assert report.as_dict()["notes"] == [NOTE]
    assert "secrets well formed" not in [i.step for i in report.checklist if not i.done]
    assert not report.warnings


def test_doctor_has_nothing_to_note_for_the_plain_form() -> None:
    report = _twilio(TWILIO_WHATSAPP_NUMBER)

    assert _number(report)["well_formed"] is True
    assert report.notes == []


def test_doctor_flags_a_malformed_number_without_its_value() -> None:
    report = _twilio(MALFORMED)

    assert _number(report)["well_formed"] is False
    assert {"step": "secrets well formed", "how": f"check {WHATSAPP_NUMBER}"} in report.as_dict()[
        "remaining"
    ]  # type: ignore[operator]
    assert "13055550100" not in repr(report.as_dict())


@pytest.fixture
def _no_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout


@pytest.mark.usefixtures("_no_dotenv")
def test_hub_doctor_prints_the_note(tmp_path: Path) -> None:
    env = {"HUB_HOME": str(tmp_path / "var"), **local_secrets(), WHATSAPP_NUMBER: PREFIXED}

    result = CliRunner().invoke(app, ["doctor"], env=env)

    assert result.exit_code == 0
    assert f"  {WHATSAPP_NUMBER}: set, well formed\n" in result.stdout
    assert f"  note: {NOTE}\n" in result.stdout
    assert TWILIO_WHATSAPP_NUMBER not in result.stdout


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    yield engine
    engine.dispose()


def _messaging(tmp_path: Path, engine: Engine, number: str) -> TwilioMessaging:
    # Preflight reads settings and secrets only; the Temporal address is never dialled.
    settings = make_settings(tmp_path, str(engine.url), "127.0.0.1:7233")
    secrets = EnvSecretSource(environ={**local_secrets(), WHATSAPP_NUMBER: number})
    twilio = TwilioSettings(_env_file=None)  # type: ignore[call-arg]
    return TwilioMessaging(settings, secrets, engine, twilio=twilio)


@pytest.mark.parametrize("number", [TWILIO_WHATSAPP_NUMBER, PREFIXED], ids=["plain", "prefixed"])
def test_both_forms_start(tmp_path: Path, sqlite: Engine, number: str) -> None:
    # Preflight raises UnsafeConfiguration on a value that must not run (the prefixed form did).
    assert _messaging(tmp_path, sqlite, number).preflight() is None


def test_a_malformed_number_still_refuses_to_start(tmp_path: Path, sqlite: Engine) -> None:
    with pytest.raises(UnsafeConfiguration, match=WHATSAPP_NUMBER) as refused:
        _messaging(tmp_path, sqlite, MALFORMED).preflight()

    assert "13055550100" not in str(refused.value)
