"""Sending messages through the official SDK against a local stand-in for api.twilio.com,
on the session's real Temporal dev server and a real database."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from integration_hub.connectors.twilio import WHATSAPP_NUMBER
from integration_hub.connectors.twilio.messaging import SendMessageInput, TwilioMessaging
from integration_hub.connectors.twilio.settings import TwilioSettings
from integration_hub.connectors.twilio.workflows import SendMessageWorkflow, start_send_message
from integration_hub.orchestration.worker import workflow_runner
from integration_hub.secrets import EnvSecretSource
from integration_hub.storage import dialect, migrate
from integration_hub.storage.engine import begin_write, make_engine
from integration_hub.storage.tables import contacts
from tests.connectors.twilio.support import PUBLIC_BASE_URL
from tests.helpers import (
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
    TWILIO_WHATSAPP_NUMBER,
    local_secrets,
    make_settings,
    partner_secrets,
)
from tests.partner_server import PartnerServer, RecordedRequest, Reply, partner_server

GUEST = "+34612345678"
TEMPLATES = {
    "cleaning_reminder": {
        "en": "HX" + "e" * 32,
        "es": "HX" + "5" * 32,
    }
}
MESSAGES_PATH = f"/2010-04-01/Accounts/{TWILIO_ACCOUNT_SID}/Messages.json"


def created(sid: str = "SM" + "a" * 32) -> Reply:
    """Twilio's answer to Messages.create (201 Created, the Message resource)."""
    return Reply(
        201,
        {"sid": sid, "status": "queued", "account_sid": TWILIO_ACCOUNT_SID, "to": GUEST},
    )


def error(status: int, code: int, message: str, **headers: str) -> Reply:
    body = {
        "code": code,
        "message": message,
        "status": status,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
    }
    return Reply(status, body, headers)


class Sender:
    def __init__(
        self, env: WorkflowEnvironment, engine: Engine, messaging: TwilioMessaging, task_queue: str
    ) -> None:
        self.env, self.engine, self.messaging, self.task_queue = env, engine, messaging, task_queue

    async def send(self, **fields: Any) -> Any:
        input = SendMessageInput(**{"message_id": uuid.uuid4().hex, "to": GUEST, **fields})
        handle = await start_send_message(self.env.client, input, task_queue=self.task_queue)
        return await handle.result()

    async def failure(self, **fields: Any) -> ApplicationError:
        with pytest.raises(WorkflowFailureError) as caught:
            await self.send(**fields)
        cause = caught.value.cause
        assert isinstance(cause, ActivityError)
        assert isinstance(cause.cause, ApplicationError)
        return cause.cause

    def contact(
        self, *, locale: str = "en", opted_out: bool = False, whatsapp_ago: timedelta | None = None
    ) -> None:
        now = datetime.now(UTC)
        last = now - whatsapp_ago if whatsapp_ago is not None else None
        with begin_write(self.engine) as connection:
            connection.execute(
                dialect.insert(connection, contacts).values(
                    phone=GUEST,
                    locale=locale,
                    opted_out=opted_out,
                    consent_changed_at=now if opted_out else None,
                    last_whatsapp_inbound_at=last,
                    last_inbound_at=last,
                    created_at=now,
                    updated_at=now,
                )
            )


@pytest.fixture
def server() -> Iterator[PartnerServer]:
    yield from partner_server(created())


@pytest.fixture
def twilio_secrets() -> EnvSecretSource:
    """The hub's secrets (a test overrides them by parametrizing this name)."""
    return partner_secrets()


@pytest.fixture
async def sender(
    twilio_secrets: EnvSecretSource,
    temporal: WorkflowEnvironment,
    server: PartnerServer,
    tmp_path: Path,
    database_url: str,
    temporal_address: str,
) -> AsyncIterator[Sender]:
    settings = make_settings(
        tmp_path,
        database_url,
        temporal_address,
        public_base_url=PUBLIC_BASE_URL,
        whatsapp_templates=TEMPLATES,
    )
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    twilio = TwilioSettings(_env_file=None, api_base_url=server.url)  # type: ignore[call-arg]
    messaging = TwilioMessaging(settings, twilio_secrets, engine, twilio=twilio)
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            temporal.client,
            workflow_runner=workflow_runner(),
            task_queue=settings.task_queue,
            workflows=[SendMessageWorkflow],
            activities=messaging.activities(),
            activity_executor=executor,
        ):
            yield Sender(temporal, engine, messaging, settings.task_queue)
    engine.dispose()


def form(request: RecordedRequest) -> dict[str, str]:
    return {name: values[0] for name, values in request.form().items()}


async def test_sms_is_posted_as_twilio_documents(sender: Sender, server: PartnerServer) -> None:
    result = await sender.send(channel="sms", body="Your cleaner arrives at 15:00")

    [request] = server.requests
    credentials = base64.b64encode(f"{TWILIO_ACCOUNT_SID}:{TWILIO_AUTH_TOKEN}".encode()).decode()
    assert (request.method, request.path) == ("POST", MESSAGES_PATH)
    assert request.headers["authorization"] == f"Basic {credentials}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form(request) == {
        "To": GUEST,
        "From": TWILIO_WHATSAPP_NUMBER,  # no TWILIO_SMS_FROM: the same number sends SMS
        "Body": "Your cleaner arrives at 15:00",
        "StatusCallback": f"{PUBLIC_BASE_URL}/webhooks/twilio",
    }
    assert (result.message_sid, result.status, result.already_sent) == (
        "SM" + "a" * 32,
        "queued",
        False,
    )


async def test_whatsapp_inside_the_window_sends_free_text(
    sender: Sender, server: PartnerServer
) -> None:
    sender.contact(whatsapp_ago=timedelta(hours=2))

    await sender.send(channel="whatsapp", body="¡Hola! Llegamos a las 15:00")

    [request] = server.requests
    sent = form(request)
    assert (sent["To"], sent["From"], sent["Body"]) == (
        f"whatsapp:{GUEST}",
        f"whatsapp:{TWILIO_WHATSAPP_NUMBER}",
        "¡Hola! Llegamos a las 15:00",
    )


@pytest.mark.parametrize(
    "twilio_secrets",
    [
        EnvSecretSource(
            environ={**local_secrets(), WHATSAPP_NUMBER: f"whatsapp:{TWILIO_WHATSAPP_NUMBER}"}
        )
    ],
    ids=["number-pasted-with-prefix"],
)
async def test_a_number_pasted_with_its_whatsapp_prefix_sends_from_it_once_prefixed(
    sender: Sender, server: PartnerServer
) -> None:
    sender.contact(whatsapp_ago=timedelta(hours=2))

    await sender.send(channel="whatsapp", body="Hola")
    await sender.send(channel="sms", body="Hola")  # SMS falls back to the same number

    assert [form(request)["From"] for request in server.requests] == [
        f"whatsapp:{TWILIO_WHATSAPP_NUMBER}",
        TWILIO_WHATSAPP_NUMBER,
    ]


async def test_whatsapp_outside_the_window_uses_the_template_in_the_contacts_language(
    sender: Sender, server: PartnerServer
) -> None:
    sender.contact(locale="es", whatsapp_ago=timedelta(hours=25))

    await sender.send(
        channel="whatsapp", template="cleaning_reminder", variables={"1": "Lucía", "2": "15:00"}
    )

    [request] = server.requests
    sent = form(request)
    assert sent["ContentSid"] == TEMPLATES["cleaning_reminder"]["es"]
    assert json.loads(sent["ContentVariables"]) == {"1": "Lucía", "2": "15:00"}
    assert "Body" not in sent


async def test_whatsapp_free_text_outside_the_window_is_refused(
    sender: Sender, server: PartnerServer
) -> None:
    sender.contact(whatsapp_ago=timedelta(hours=25))

    refused = await sender.failure(channel="whatsapp", body="Hi again")

    assert refused.type == "CallRefused"
    assert "24 hours" in refused.message
    assert server.requests == []


async def test_opted_out_contact_is_refused_without_a_request(
    sender: Sender, server: PartnerServer
) -> None:
    sender.contact(opted_out=True)

    refused = await sender.failure(channel="sms", body="Your cleaner arrives at 15:00")

    assert refused.type == "CallRefused"
    assert refused.non_retryable
    assert "opted out" in refused.message
    assert server.requests == []


async def test_429_is_retried_after_the_retry_after_delay(
    sender: Sender, server: PartnerServer
) -> None:
    server.reply(error(429, 20429, "Too Many Requests", **{"Retry-After": "3"}))

    result = await sender.send(channel="sms", body="Hi")

    first, second = server.requests
    assert second.at - first.at >= 2.9  # the policy alone would wait 1 s
    assert result.status == "queued"


async def test_5xx_is_retried(sender: Sender, server: PartnerServer) -> None:
    server.reply(error(503, 20503, "Service Unavailable"))

    result = await sender.send(channel="sms", body="Hi")

    assert len(server.requests) == 2
    assert result.message_sid == "SM" + "a" * 32


async def test_400_is_not_retried(sender: Sender, server: PartnerServer) -> None:
    server.reply(error(400, 21211, "The 'To' number is not a valid phone number."))

    failed = await sender.failure(channel="sms", body="Hi")

    assert (failed.type, failed.non_retryable) == ("twilio.21211", True)
    assert len(server.requests) == 1


async def test_a_retried_activity_does_not_send_a_sent_message_again(
    sender: Sender, server: PartnerServer
) -> None:
    message_id = f"msg-{uuid.uuid4().hex}"
    first = await sender.send(channel="sms", body="Hi", message_id=message_id)

    # What a retried attempt does after an attempt that sent but whose completion was lost.
    again = sender.messaging.send_message(
        SendMessageInput(message_id=message_id, to=GUEST, channel="sms", body="Hi")
    )

    assert len(server.requests) == 1
    assert (again.message_sid, again.already_sent) == (first.message_sid, True)


async def test_the_same_message_id_starts_no_second_send(
    sender: Sender, server: PartnerServer
) -> None:
    message_id = f"msg-{uuid.uuid4().hex}"
    await sender.send(channel="sms", body="Hi", message_id=message_id)

    with pytest.raises(WorkflowAlreadyStartedError):
        await sender.send(channel="sms", body="Hi", message_id=message_id)
    assert len(server.requests) == 1
