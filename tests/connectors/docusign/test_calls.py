"""DocuSign's calls against a local stand-in for its OAuth host and eSignature API (support.py)
that verifies the JWT assertion with the app's public key: the grant, the token cache, consent,
the envelope's exact JSON, rate limits, and never sending a contract twice. Real SQLite file,
PostgreSQL when configured."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError

from integration_hub.connectors.docusign.calls import DocuSignCalls, EnvelopeSent, SendContractInput
from integration_hub.connectors.docusign.settings import DocuSignSettings
from integration_hub.errors import CallRefused
from integration_hub.secrets import EnvSecretSource
from integration_hub.storage import contracts
from integration_hub.storage.engine import begin_write
from tests.connectors.docusign.support import (
    ACCOUNT_ID,
    CLIENT_ID,
    TEMPLATE_ES,
    TEMPLATES,
    USER_ID,
    FakeDocuSign,
    docusign_secrets,
)
from tests.partner_server import PartnerServer, RecordedRequest, Reply

ENVELOPES = f"/restapi/v2.1/accounts/{ACCOUNT_ID}/envelopes"
_BUILT: list[DocuSignCalls] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _BUILT:
        _BUILT.pop().close()


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def docusign() -> FakeDocuSign:
    return FakeDocuSign()


@pytest.fixture
def server(docusign: FakeDocuSign) -> Iterator[PartnerServer]:
    with PartnerServer(docusign) as running:
        docusign.base_uri = running.url
        yield running


def _calls(server: PartnerServer, engine: Engine, clock: Clock | None = None,
           **secrets: str) -> DocuSignCalls:  # fmt: skip
    settings = DocuSignSettings(_env_file=None, oauth_base_url=server.url,  # type: ignore[call-arg]
                                templates=TEMPLATES)  # fmt: skip
    source = EnvSecretSource(environ={**docusign_secrets(), **secrets})
    _BUILT.append(DocuSignCalls(source, settings, engine=engine, clock=clock or time.time))
    return _BUILT[-1]


def _contract(engine: Engine, language: str = "es", template: str = "cleaner_agreement") -> str:
    with begin_write(engine) as connection:
        return str(
            contracts.create_contract(
                connection, subject_ref="cleaner:cln_" + "a" * 32, template=template,
                language=language, signer_name="Ana García", signer_email="ana@example.com",
                provider="docusign", valid_days=365,
            )["id"]
        )  # fmt: skip


def _refused(error: pytest.ExceptionInfo[ApplicationError]) -> str:
    assert error.value.type == CallRefused.__name__ and error.value.non_retryable
    return error.value.message


def test_the_jwt_grant_is_verified_and_the_token_cached(
    server: PartnerServer, docusign: FakeDocuSign, engine: Engine
) -> None:
    calls = _calls(server, engine)

    for _ in range(2):
        calls.send_envelope(SendContractInput(_contract(engine)))

    assert docusign.tokens_issued == 1
    (assertion,) = docusign.assertions
    assert assertion["header"]["alg"] == "RS256"
    assert {k: assertion[k] for k in ("iss", "sub", "aud", "scope")} == {
        "iss": CLIENT_ID, "sub": USER_ID, "aud": "account-d.docusign.com",
        "scope": "signature impersonation",
    }  # fmt: skip
    assert assertion["exp"] - assertion["iat"] == 3600
    paths = [r.path for r in server.requests]
    assert paths == ["/oauth/token", "/oauth/userinfo", ENVELOPES, ENVELOPES]  # userinfo once
    token_request = server.requests[0]
    assert token_request.form()["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assert server.requests[2].headers["authorization"] == "Bearer token-1"


def test_an_expiring_token_is_renewed(
    server: PartnerServer, docusign: FakeDocuSign, engine: Engine
) -> None:
    clock = Clock()
    calls = _calls(server, engine, clock)
    calls.send_envelope(SendContractInput(_contract(engine)))

    clock.now += 3600 - 300  # inside the refresh margin
    calls.send_envelope(SendContractInput(_contract(engine)))

    assert docusign.tokens_issued == 2
    assert server.requests[-1].headers["authorization"] == "Bearer token-2"


def test_the_envelope_is_the_template_in_the_signers_language(
    server: PartnerServer, docusign: FakeDocuSign, engine: Engine
) -> None:
    contract_id = _contract(engine, language="es")
    fields = {"direccion": "123 Ocean Dr, Miami", "tarifa": "$25/h"}

    sent = _calls(server, engine).send_envelope(SendContractInput(contract_id, fields))

    (envelope,) = docusign.envelopes
    assert sent == EnvelopeSent(contract_id, envelope["envelopeId"], "2026-12-01T10:00:00Z")
    request = server.requests[-1]
    assert (request.method, request.path) == ("POST", ENVELOPES)
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "templateId": TEMPLATE_ES,
        "templateRoles": [
            {
                "email": "ana@example.com",
                "name": "Ana García",
                "roleName": "Cleaner",
                "tabs": {"textTabs": [
                    {"tabLabel": "direccion", "value": "123 Ocean Dr, Miami"},
                    {"tabLabel": "tarifa", "value": "$25/h"},
                ]},
            }
        ],
        "status": "sent",
        "customFields": {"textCustomFields": [
            {"name": "hub_contract_id", "value": contract_id, "show": "false", "required": "false"}
        ]},
    }  # fmt: skip


def test_consent_required_is_a_refusal_carrying_the_consent_url(
    server: PartnerServer, docusign: FakeDocuSign, engine: Engine
) -> None:
    docusign.consent_given = False

    with pytest.raises(ApplicationError) as error:
        _calls(server, engine).send_envelope(SendContractInput(_contract(engine)))

    detail = _refused(error)
    assert detail.startswith("consent_required: grant consent once at ")
    assert f"{server.url}/oauth/auth?response_type=code&scope=signature%20impersonation" in detail
    assert f"&client_id={CLIENT_ID}&redirect_uri=https%3A%2F%2Fdevelopers.docusign.com" in detail
    assert docusign.envelopes == []


def test_a_429_waits_for_retry_after(
    server: PartnerServer, docusign: FakeDocuSign, engine: Engine
) -> None:
    def limited(request: RecordedRequest) -> Reply | None:
        if request.method == "POST":
            return Reply(
                429, {"errorCode": "HOURLY_APIINVOCATION_LIMIT_EXCEEDED"}, {"Retry-After": "7"}
            )
        return None

    docusign.api_reply = limited

    with pytest.raises(ApplicationError) as error:
        _calls(server, engine).send_envelope(SendContractInput(_contract(engine)))

    assert not error.value.non_retryable
    assert error.value.type == "docusign.HOURLY_APIINVOCATION_LIMIT_EXCEEDED"
    assert error.value.next_retry_delay == timedelta(seconds=7)


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "+120"}, 120),
        ({"X-BurstLimit-Remaining": "0", "X-BurstLimit-Limit": "200"}, 30),
    ],
)
def test_no_call_is_made_while_a_limit_header_says_none_remain(
    server: PartnerServer,
    docusign: FakeDocuSign,
    engine: Engine,
    headers: dict[str, str],
    wait: int,
) -> None:
    clock = Clock()
    answered = {k: str(int(clock.now) + 120) if v == "+120" else v for k, v in headers.items()}
    docusign.api_reply = lambda r: Reply(201, {"envelopeId": "e-1", "statusDateTime": "2026-12-01T10:00:00Z"},
                                         answered) if r.method == "POST" else None  # fmt: skip
    calls = _calls(server, engine, clock)
    calls.send_envelope(SendContractInput(_contract(engine)))
    made = len(server.requests)

    with pytest.raises(ApplicationError) as error:
        calls.send_envelope(SendContractInput(_contract(engine)))

    assert error.value.type == "docusign.rate_limited" and not error.value.non_retryable
    assert error.value.next_retry_delay is not None
    assert abs(error.value.next_retry_delay.total_seconds() - wait) <= 1
    assert len(server.requests) == made  # DocuSign never saw it
    clock.now += wait + 1
    calls.send_envelope(SendContractInput(_contract(engine)))
    assert len(server.requests) == made + 1


def test_a_recorded_envelope_is_never_sent_again(
    server: PartnerServer, docusign: FakeDocuSign, engine: Engine
) -> None:
    calls = _calls(server, engine)
    contract_id = _contract(engine)
    sent = calls.send_envelope(SendContractInput(contract_id))
    calls.record_envelope(sent)

    again = calls.send_envelope(SendContractInput(contract_id))

    assert again.envelope_id == sent.envelope_id
    assert len(docusign.envelopes) == 1
    with engine.connect() as connection:
        row = contracts.get_contract(connection, contract_id=contract_id)
    assert row is not None and (row["status"], row["envelope_id"]) == ("sent", sent.envelope_id)


def test_recording_over_another_envelope_is_refused(server: PartnerServer, engine: Engine) -> None:
    calls = _calls(server, engine)
    contract_id = _contract(engine)
    calls.record_envelope(EnvelopeSent(contract_id, "first", "2026-12-01T10:00:00Z"))

    with pytest.raises(ApplicationError) as error:
        calls.record_envelope(EnvelopeSent(contract_id, "second", "2026-12-01T10:00:01Z"))

    assert "holds another envelope" in _refused(error)


@pytest.mark.parametrize(
    ("secrets", "expected"),
    [
        ({"DOCUSIGN_USER_ID": "", "DOCUSIGN_ACCOUNT_ID": ""}, "DOCUSIGN_USER_ID, DOCUSIGN_ACCOUNT_ID not set"),
        ({"DOCUSIGN_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----\\nbm90IGEga2V5\\n-----END RSA PRIVATE KEY-----"},
         "DOCUSIGN_PRIVATE_KEY is not a PEM RSA private key"),
    ],
)  # fmt: skip
def test_missing_or_broken_credentials_are_refused_without_a_call(
    server: PartnerServer, engine: Engine, secrets: dict[str, str], expected: str
) -> None:
    with pytest.raises(ApplicationError) as error:
        _calls(server, engine, **secrets).send_envelope(SendContractInput(_contract(engine)))

    assert _refused(error) == expected
    assert "bm90IGEga2V5" not in str(error.value)
    assert server.requests == []


def test_an_unconfigured_template_is_refused(server: PartnerServer, engine: Engine) -> None:
    with pytest.raises(ApplicationError) as error:
        _calls(server, engine).send_envelope(SendContractInput(_contract(engine, template="gone")))
    assert "template 'gone' is not configured" in _refused(error)


def test_a_401_drops_the_token_and_is_retried(
    server: PartnerServer, docusign: FakeDocuSign, engine: Engine
) -> None:
    answers: list[Any] = [Reply(401, {"errorCode": "USER_AUTHENTICATION_FAILED"})]
    docusign.api_reply = lambda r: answers.pop() if answers and r.method == "POST" else None
    calls = _calls(server, engine)

    with pytest.raises(ApplicationError) as error:
        calls.send_envelope(SendContractInput(_contract(engine)))
    calls.send_envelope(SendContractInput(_contract(engine)))

    assert not error.value.non_retryable
    assert docusign.tokens_issued == 2


def test_answers_the_hub_cannot_use_are_failures_not_crashes(
    server: PartnerServer, docusign: FakeDocuSign, engine: Engine
) -> None:
    no_id = Reply(201, {"envelopeId": "e" * 65, "status": "sent"})
    docusign.api_reply = lambda r: no_id if r.method == "POST" else None

    with pytest.raises(ApplicationError) as error:
        _calls(server, engine).send_envelope(SendContractInput(_contract(engine)))

    assert "no envelope id we can store" in _refused(error)


def test_a_token_answer_without_a_token_is_retried(server: PartnerServer, engine: Engine) -> None:
    server.reply(Reply(200, {"token_type": "Bearer", "expires_in": "soon"}))

    with pytest.raises(ApplicationError) as error:
        _calls(server, engine).send_envelope(SendContractInput(_contract(engine)))

    assert error.value.type == "docusign.bad_answer"
    assert not error.value.non_retryable


def test_a_completion_applied_before_the_send_is_recorded_stays_completed(
    server: PartnerServer, docusign: FakeDocuSign, engine: Engine
) -> None:
    calls = _calls(server, engine)
    contract_id = _contract(engine)
    sent = calls.send_envelope(SendContractInput(contract_id))
    completed_at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    with begin_write(engine) as connection:  # Connect's completion came first
        assert contracts.set_status(connection, contract_id=contract_id,
                                    envelope_id=sent.envelope_id, status="completed",
                                    when=completed_at)  # fmt: skip

    again = calls.send_envelope(SendContractInput(contract_id))  # the retried send
    assert again.sent_at == "2026-12-01T10:00:00Z"  # the completion's time: a tie
    calls.record_envelope(again)

    with engine.connect() as connection:
        row = contracts.get_contract(connection, contract_id=contract_id)
        signed = contracts.signed_contract(
            connection, subject_ref=row["subject_ref"] if row else "", now=completed_at
        )
    assert row is not None and row["status"] == "completed"
    assert signed is not None and signed["id"] == contract_id


def test_an_impossible_time_in_the_answer_is_read_as_now(
    server: PartnerServer, docusign: FakeDocuSign, engine: Engine
) -> None:
    clock = Clock()
    clock.now = float(int(clock.now))  # a whole second: its RFC 3339 form has no fraction
    made = Reply(201, {"envelopeId": "0e0e0e0e-0000-4000-8000-000000000042",
                       "statusDateTime": "2026-13-45T10:00:00+25:00", "status": "sent"})  # fmt: skip
    docusign.api_reply = lambda r: made if r.method == "POST" else None
    calls = _calls(server, engine, clock)
    contract_id = _contract(engine)

    sent = calls.send_envelope(SendContractInput(contract_id))
    calls.record_envelope(sent)

    assert sent.sent_at == datetime.fromtimestamp(clock.now, UTC).isoformat().replace("+00:00", "Z")
    with engine.connect() as connection:
        row = contracts.get_contract(connection, contract_id=contract_id)
    assert row is not None and (row["status"], row["envelope_id"]) == ("sent", sent.envelope_id)


@pytest.mark.parametrize("expires_in", [None, 0, 120, 300, True, "3600"])
def test_a_token_without_a_lifetime_past_the_margin_is_a_retryable_bad_answer(
    server: PartnerServer, engine: Engine, expires_in: object
) -> None:
    body: dict[str, object] = {"access_token": "short-lived", "token_type": "Bearer"}
    if expires_in is not None:
        body["expires_in"] = expires_in
    server.reply(Reply(200, body), Reply(200, body))
    calls = _calls(server, engine)

    for _ in range(2):  # nothing cached: each call is refused the same way
        with pytest.raises(ApplicationError) as error:
            calls.send_envelope(SendContractInput(_contract(engine)))
        assert error.value.type == "docusign.bad_answer"
        assert not error.value.non_retryable
        assert "expires_in" in error.value.message
    assert [r.path for r in server.requests] == ["/oauth/token", "/oauth/token"]


def test_a_token_just_past_the_margin_is_cached(
    server: PartnerServer, docusign: FakeDocuSign, engine: Engine
) -> None:
    docusign.token_lifetime = 301
    calls = _calls(server, engine)

    for _ in range(2):
        calls.send_envelope(SendContractInput(_contract(engine)))

    assert docusign.tokens_issued == 1


class _Rotating:
    """A secret source whose values a test changes, as a rotation would."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def versions(self, name: str) -> tuple[str, ...]:
        return (self.values[name],) if self.values.get(name) else ()

    def instances(self, family: str) -> tuple[str, ...]:
        return ()


def _rotating_calls(server: PartnerServer, engine: Engine) -> tuple[DocuSignCalls, _Rotating]:
    settings = DocuSignSettings(_env_file=None, oauth_base_url=server.url,  # type: ignore[call-arg]
                                templates=TEMPLATES)  # fmt: skip
    source = _Rotating(docusign_secrets())
    _BUILT.append(DocuSignCalls(source, settings, engine=engine))
    return _BUILT[-1], source


def test_a_rotated_user_takes_effect_at_the_next_call(
    server: PartnerServer, docusign: FakeDocuSign, engine: Engine
) -> None:
    calls, source = _rotating_calls(server, engine)
    calls.send_envelope(SendContractInput(_contract(engine)))

    source.values["DOCUSIGN_USER_ID"] = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
    with pytest.raises(ApplicationError):  # the stand-in knows only the first user
        calls.send_envelope(SendContractInput(_contract(engine)))

    assert [a["sub"] for a in docusign.assertions] == [USER_ID, source.values["DOCUSIGN_USER_ID"]]


def test_a_rotated_private_key_takes_effect_at_the_next_call(
    server: PartnerServer, docusign: FakeDocuSign, engine: Engine
) -> None:
    calls, source = _rotating_calls(server, engine)
    calls.send_envelope(SendContractInput(_contract(engine)))
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    source.values["DOCUSIGN_PRIVATE_KEY"] = other_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()

    with pytest.raises(ApplicationError):  # the stand-in knows only the first key's public half
        calls.send_envelope(SendContractInput(_contract(engine)))

    token_requests = [r for r in server.requests if r.path == "/oauth/token"]
    assert len(token_requests) == 2 and docusign.tokens_issued == 1
