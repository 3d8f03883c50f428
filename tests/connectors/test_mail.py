"""The e-mail capability's shared parts: rendering and the send-once guard (real database)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine, select
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.mail import (
    SendEmailInput,
    Unsendable,
    compose,
    sender_domain,
    templates,
)
from integration_hub.connectors.mail_sender import Undelivered, send_once
from integration_hub.errors import CallRefused
from integration_hub.settings import Settings
from integration_hub.storage.tables import outbound_messages

SETTINGS = Settings.model_construct(email_from="Equipo <equipo@mail.example.com>")
VARIABLES = {"name": "Ana", "property": "Brickell\r\nBcc: x@evil.example", "date": "hoy"}
VARIABLES |= {"time": "", "pay": "", "link": "https://example.org/j/1"}


def _input(**changes: object) -> SendEmailInput:
    values: dict[str, object] = {
        "message_id": uuid.uuid4().hex,
        "to": "ana@example.org",
        "template": "job_offer",
        "language": "en",
        "variables": VARIABLES,
    }
    return SendEmailInput(**{**values, **changes})  # type: ignore[arg-type]


def test_every_template_has_every_part_in_both_languages() -> None:
    assert templates() == {"job_offer", "welcome"}
    for name in templates():
        for language in ("en", "es"):
            email = compose(SETTINGS, _input(template=name, language=language))
            assert email.subject and email.text and email.html


def test_a_variable_cannot_add_a_header_line_to_the_subject() -> None:
    email = compose(SETTINGS, _input())
    assert "\n" not in email.subject and "\r" not in email.subject
    assert email.subject.startswith("New job: Brickell Bcc:")


def test_without_unsubscribe_targets_no_list_headers_are_invented() -> None:
    assert compose(SETTINGS, _input()).headers == {}


@pytest.mark.parametrize(
    ("settings", "changes", "reason"),
    [
        (Settings.model_construct(), {}, "email_not_configured"),
        (SETTINGS, {"to": "ana@"}, "bad_address"),
        (SETTINGS, {"template": "../settings"}, "unknown_template"),
        (SETTINGS, {"variables": {}}, "missing_variable"),
    ],
)
def test_what_cannot_be_sent_is_refused_with_a_reason(
    settings: Settings, changes: dict[str, object], reason: str
) -> None:
    with pytest.raises(Unsendable) as refused:
        compose(settings, _input(**changes))
    assert refused.value.reason == reason
    assert "ana@" not in str(refused.value)


def test_the_sender_domain_is_the_from_address_domain() -> None:
    assert sender_domain(SETTINGS) == "mail.example.com"
    assert sender_domain(Settings.model_construct()) is None


def _lost() -> str:
    error = ApplicationError("no answer", type="x.unreachable", non_retryable=True)
    raise Undelivered(error, state="unknown", note="no answer")


def _state(engine: Engine, message_id: str) -> str:
    with engine.connect() as connection:
        query = select(outbound_messages.c.state).where(
            outbound_messages.c.message_id == message_id
        )
        return str(connection.execute(query).scalar_one())


def test_without_an_idempotency_key_a_lost_outcome_is_never_sent_again(engine: Engine) -> None:
    input, calls = _input(), list[int]()

    def counted() -> str:
        calls.append(1)
        return "x"

    with pytest.raises(ApplicationError):
        send_once(engine, input, partner="sendgrid", idempotent=False, deliver=_lost)
    assert _state(engine, input.message_id) == "unknown"

    with pytest.raises(ApplicationError) as refused:
        send_once(
            engine,
            input,
            partner="sendgrid",
            idempotent=False,
            deliver=counted,
        )
    assert refused.value.type == "sendgrid.outcome_unknown" and refused.value.non_retryable
    assert calls == []


def test_with_an_idempotency_key_a_lost_outcome_is_retried_then_sent_once(engine: Engine) -> None:
    input = _input()
    with pytest.raises(ApplicationError):
        send_once(engine, input, partner="resend", idempotent=True, deliver=_lost)

    sent = send_once(engine, input, partner="resend", idempotent=True, deliver=lambda: "re-1")
    again = send_once(engine, input, partner="resend", idempotent=True, deliver=lambda: "re-2")

    assert (sent.provider_message_id, sent.already_sent) == ("re-1", False)
    assert (again.provider_message_id, again.already_sent) == ("re-1", True)
    assert _state(engine, input.message_id) == "sent"


def test_a_message_id_used_for_another_address_is_refused(engine: Engine) -> None:
    input = _input()
    send_once(engine, input, partner="resend", idempotent=True, deliver=lambda: "re-1")
    other = _input(message_id=input.message_id, to="someone@example.org")

    with pytest.raises(ApplicationError) as refused:
        send_once(engine, other, partner="resend", idempotent=True, deliver=lambda: "re-2")
    assert refused.value.type == CallRefused.__name__


def test_an_address_suppressed_after_the_route_accepted_is_refused_by_the_send(
    engine: Engine,
) -> None:
    """The route checks the list, and so does the activity: a complaint can land in between."""
    from datetime import UTC, datetime

    from structlog.testing import capture_logs

    from integration_hub.storage.email_suppressions import suppress
    from integration_hub.storage.engine import begin_write

    with begin_write(engine) as connection:
        suppress(connection, address="ANA@example.org", reason="complaint", since=datetime.now(UTC))
    calls: list[int] = []

    def counted() -> str:
        calls.append(1)
        return "x"

    with capture_logs() as logs, pytest.raises(ApplicationError) as refused:
        send_once(engine, _input(), partner="sendgrid", idempotent=False, deliver=counted)

    assert refused.value.type == CallRefused.__name__
    assert "complaint" in str(refused.value)
    assert calls == []
    assert logs and all("ana@example.org" not in repr(entry).lower() for entry in logs)


@pytest.mark.parametrize(
    ("partner", "name", "bad"),
    [("sendgrid", "SENDGRID_API_KEY", "sk_live_123"), ("resend", "RESEND_API_KEY", "SG.x.y")],
)
def test_a_key_of_the_wrong_form_stops_the_worker_at_start(
    engine: Engine, partner: str, name: str, bad: str
) -> None:
    from integration_hub.connectors.partner import CallsContext
    from integration_hub.connectors.partners import partner_named
    from integration_hub.errors import UnsafeConfiguration
    from integration_hub.secrets.env import EnvSecretSource

    declared = partner_named(partner)
    assert declared.calls is not None
    context = CallsContext(SETTINGS, EnvSecretSource(environ={name: bad}), engine)
    with pytest.raises(UnsafeConfiguration) as refused:
        declared.calls(context).preflight()
    assert bad not in str(refused.value)
    declared.calls(CallsContext(SETTINGS, EnvSecretSource(environ={}), engine)).preflight()
