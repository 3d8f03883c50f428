"""Secret upkeep through a real Temporal worker: the age reminder and the Auth0 log-stream
token rotation, against a local HTTP server standing in for the Auth0 Management API."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from integration_hub.connectors.auth0.calls import Auth0Management
from integration_hub.orchestration.maintenance import (
    MAINTENANCE_WORKFLOWS,
    AgeCheckInput,
    AgeReport,
    RotateAuth0LogStreamWorkflow,
    RotateLogStreamInput,
    SecretAgeReminderWorkflow,
    SecretMaintenance,
    ensure_age_reminder_schedule,
)
from integration_hub.orchestration.worker import workflow_runner
from integration_hub.secrets.file import FileSecretStore
from tests.partner_server import PartnerServer, RecordedRequest, Reply, partner_server
from tests.secrets.helpers import Clock, file_store

OLD_TOKEN = "auth0-log-stream-token-before-rotation"
STREAM_ID = "lst_0000000000012345"
DAY = 86400.0


def tenant(request: RecordedRequest) -> Reply:
    if request.path == "/oauth/token":
        return Reply(body={"access_token": "management-access-token", "expires_in": 86400})
    return Reply(body={"id": STREAM_ID, "type": "http"})


@pytest.fixture
def auth0_api() -> Iterator[PartnerServer]:
    yield from partner_server(tenant)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, auth0_api: PartnerServer, clock: Clock) -> FileSecretStore:
    store = file_store(
        tmp_path,
        clock=clock,
        environ={
            "AUTH_ISSUER": auth0_api.url + "/",
            "AUTH_CLIENT_ID": "m2mClientId0123456789",
            "AUTH_CLIENT_SECRET": "m2m-client-secret-0123456789abcdef0123",
        },
    )
    store.set("AUTH0_LOG_STREAM_TOKEN", OLD_TOKEN)
    return store


@pytest.fixture
async def task_queue(temporal: WorkflowEnvironment, store: FileSecretStore) -> AsyncIterator[str]:
    queue = f"test-{uuid.uuid4()}"
    auth0 = Auth0Management(store)
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            temporal.client,
            workflow_runner=workflow_runner(),
            task_queue=queue,
            workflows=list(MAINTENANCE_WORKFLOWS),
            activities=SecretMaintenance(store, auth0=auth0).activities(),
            activity_executor=executor,
        ):
            yield queue
    auth0.close()


async def rotate(temporal: WorkflowEnvironment, queue: str) -> None:
    await temporal.client.execute_workflow(
        RotateAuth0LogStreamWorkflow.run,
        RotateLogStreamInput(STREAM_ID),
        id=f"secrets_rotate_auth0_log_stream/{uuid.uuid4()}",
        task_queue=queue,
    )


async def test_auth0_rotation_stores_a_new_token_and_keeps_the_old_one_valid(
    temporal: WorkflowEnvironment, task_queue: str, store: FileSecretStore
) -> None:
    await rotate(temporal, task_queue)
    new, old = store.versions("AUTH0_LOG_STREAM_TOKEN")
    assert old == OLD_TOKEN
    assert len(new) >= 32 and new != OLD_TOKEN


async def test_auth0_rotation_pushes_the_new_token_to_the_log_stream(
    temporal: WorkflowEnvironment,
    task_queue: str,
    store: FileSecretStore,
    auth0_api: PartnerServer,
) -> None:
    await rotate(temporal, task_queue)
    token_request, patch = auth0_api.requests
    assert (token_request.method, token_request.path) == ("POST", "/oauth/token")
    assert (patch.method, patch.path) == ("PATCH", f"/api/v2/log-streams/{STREAM_ID}")
    assert patch.headers["authorization"] == "Bearer management-access-token"
    newest = store.versions("AUTH0_LOG_STREAM_TOKEN")[0]
    assert patch.json() == {"sink": {"httpAuthorization": f"Bearer {newest}"}}


async def test_after_the_overlap_only_the_rotated_auth0_token_is_valid(
    temporal: WorkflowEnvironment, task_queue: str, store: FileSecretStore, clock: Clock
) -> None:
    await rotate(temporal, task_queue)
    clock.advance(DAY + 1)
    assert len(store.versions("AUTH0_LOG_STREAM_TOKEN")) == 1
    assert OLD_TOKEN not in store.versions("AUTH0_LOG_STREAM_TOKEN")


async def test_auth0_rotation_keeps_the_token_out_of_workflow_history(
    temporal: WorkflowEnvironment, task_queue: str, store: FileSecretStore
) -> None:
    workflow_id = f"secrets_rotate_auth0_log_stream/{uuid.uuid4()}"
    await temporal.client.execute_workflow(
        RotateAuth0LogStreamWorkflow.run,
        RotateLogStreamInput(STREAM_ID),
        id=workflow_id,
        task_queue=task_queue,
    )
    history = await temporal.client.get_workflow_handle(workflow_id).fetch_history()
    dumped = history.to_json()
    for token in store.versions("AUTH0_LOG_STREAM_TOKEN"):
        assert token not in dumped


async def test_age_reminder_workflow_names_the_secrets_past_their_maximum_age(
    temporal: WorkflowEnvironment, task_queue: str, store: FileSecretStore, clock: Clock
) -> None:
    clock.advance(60 * DAY)
    store.set("STRIPE_WEBHOOK_SECRET", "whsec_younger")
    clock.advance(31 * DAY)
    report = await temporal.client.execute_workflow(
        SecretAgeReminderWorkflow.run,
        AgeCheckInput(),
        id=f"secrets.age_reminder/{uuid.uuid4()}",
        task_queue=task_queue,
        result_type=AgeReport,
    )
    assert report == AgeReport(checked=2, overdue=["AUTH0_LOG_STREAM_TOKEN"])


async def test_the_age_reminder_schedule_runs_daily(temporal: WorkflowEnvironment) -> None:
    queue = f"test-{uuid.uuid4()}"
    schedule_id = await ensure_age_reminder_schedule(temporal.client, queue)
    handle = temporal.client.get_schedule_handle(schedule_id)
    try:
        described = await handle.describe()
        assert [i.every for i in described.schedule.spec.intervals] == [timedelta(days=1)]
    finally:
        await handle.delete()
