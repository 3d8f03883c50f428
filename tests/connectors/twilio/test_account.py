"""Twilio Auth Token rotation through a real Temporal worker, against a local HTTP server that
checks the Accounts v1 requests Twilio documents."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import ScheduleActionStartWorkflow, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from integration_hub.connectors.partners import partner_named
from integration_hub.connectors.twilio.account import TokenRotationStep, TwilioAuthTokens
from integration_hub.connectors.twilio.rotation import (
    RotateTwilioAuthTokenInput,
    RotateTwilioAuthTokenWorkflow,
)
from integration_hub.orchestration.worker import workflow_runner
from integration_hub.secrets.file import FileSecretStore
from tests.helpers import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN
from tests.partner_server import PartnerServer, RecordedRequest, Reply, partner_server
from tests.secrets.helpers import Clock, file_store

SECONDARY = "5ec0dda7" + "e" * 24
DAY = 86400.0


def accounts(request: RecordedRequest) -> Reply:
    """Twilio's answers (twilio.com/docs/iam/api/authtoken)."""
    if request.path == "/v1/AuthTokens/Secondary":
        return Reply(201, {"account_sid": TWILIO_ACCOUNT_SID, "secondary_auth_token": SECONDARY,
                           "url": "https://accounts.twilio.com/v1/AuthTokens/Secondary"})  # fmt: skip
    if request.path == "/v1/AuthTokens/Promote":
        return Reply(200, {"account_sid": TWILIO_ACCOUNT_SID, "auth_token": SECONDARY})
    return Reply(404, {"code": 20404, "message": "not found", "status": 404})


@pytest.fixture
def twilio_accounts() -> Iterator[PartnerServer]:
    yield from partner_server(accounts)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> FileSecretStore:
    store = file_store(tmp_path, clock=clock, environ={"TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT_SID})
    store.set("TWILIO_AUTH_TOKEN", TWILIO_AUTH_TOKEN)
    return store


@pytest.fixture
async def task_queue(
    temporal: WorkflowEnvironment, store: FileSecretStore, twilio_accounts: PartnerServer
) -> AsyncIterator[str]:
    queue = f"test-{uuid.uuid4()}"
    tokens = TwilioAuthTokens(store, accounts_base_url=twilio_accounts.url)
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            temporal.client,
            workflow_runner=workflow_runner(),
            task_queue=queue,
            workflows=[RotateTwilioAuthTokenWorkflow],
            activities=tokens.activities(),
            activity_executor=executor,
        ):
            yield queue


async def rotate(temporal: WorkflowEnvironment, queue: str) -> None:
    await temporal.client.execute_workflow(
        RotateTwilioAuthTokenWorkflow.run,
        RotateTwilioAuthTokenInput(),
        id=f"secrets_rotate_twilio_auth_token/{uuid.uuid4()}",
        task_queue=queue,
    )


def basic(token: str) -> str:
    return "Basic " + base64.b64encode(f"{TWILIO_ACCOUNT_SID}:{token}".encode()).decode()


async def test_rotation_creates_a_secondary_then_promotes_it(
    temporal: WorkflowEnvironment, task_queue: str, twilio_accounts: PartnerServer
) -> None:
    await rotate(temporal, task_queue)

    create, promote = twilio_accounts.requests
    assert (create.method, create.path) == ("POST", "/v1/AuthTokens/Secondary")
    assert create.headers["authorization"] == basic(TWILIO_AUTH_TOKEN)
    assert (promote.method, promote.path) == ("POST", "/v1/AuthTokens/Promote")
    assert promote.headers["authorization"] == basic(SECONDARY)


async def test_both_tokens_verify_during_the_overlap_then_only_the_new_one(
    temporal: WorkflowEnvironment, task_queue: str, store: FileSecretStore, clock: Clock
) -> None:
    await rotate(temporal, task_queue)

    assert store.versions("TWILIO_AUTH_TOKEN") == (SECONDARY, TWILIO_AUTH_TOKEN)
    clock.advance(DAY + 1)
    assert store.versions("TWILIO_AUTH_TOKEN") == (SECONDARY,)


def test_a_retried_create_step_mints_no_second_token(
    store: FileSecretStore, twilio_accounts: PartnerServer
) -> None:
    tokens = TwilioAuthTokens(store, accounts_base_url=twilio_accounts.url)
    step = TokenRotationStep(rotation_id="rotation-1")

    assert tokens.create_secondary(step) is True
    assert tokens.create_secondary(step) is False
    assert len(twilio_accounts.requests) == 1


async def test_a_refused_promotion_fails_the_rotation_without_retrying(
    temporal: WorkflowEnvironment, store: FileSecretStore
) -> None:
    def no_promotion(request: RecordedRequest) -> Reply:
        if request.path.endswith("/Promote"):
            return Reply(400, {"code": 20001, "message": "no secondary token", "status": 400})
        return accounts(request)

    with PartnerServer(no_promotion) as server, ThreadPoolExecutor(max_workers=2) as executor:
        queue = f"test-{uuid.uuid4()}"
        tokens = TwilioAuthTokens(store, accounts_base_url=server.url)
        async with Worker(
            temporal.client, task_queue=queue, workflows=[RotateTwilioAuthTokenWorkflow],
            workflow_runner=workflow_runner(),
            activities=tokens.activities(), activity_executor=executor,
        ):  # fmt: skip
            with pytest.raises(WorkflowFailureError):
                await rotate(temporal, queue)
        assert [r.path for r in server.requests] == [
            "/v1/AuthTokens/Secondary",
            "/v1/AuthTokens/Promote",
        ]


async def test_the_declared_rotation_schedules_the_auth_token_rotation(
    temporal: WorkflowEnvironment,
) -> None:
    [rotation] = partner_named("twilio").rotations
    assert (rotation.secret, rotation.option, rotation.takes_value) == (
        "TWILIO_AUTH_TOKEN",
        "twilio-auth-token",
        False,
    )
    queue = f"test-{uuid.uuid4()}"
    schedule_id = await rotation.schedule(temporal.client, queue, None, timedelta(days=30))
    handle = temporal.client.get_schedule_handle(schedule_id)
    try:
        described = await handle.describe()
        assert schedule_id == "secrets.rotate_twilio_auth_token"
        assert [i.every for i in described.schedule.spec.intervals] == [timedelta(days=30)]
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == "secrets_rotate_twilio_auth_token"
    finally:
        await handle.delete()
