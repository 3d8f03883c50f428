"""Secret upkeep through a real Temporal worker: the core's age reminder, and the Auth0
log-stream token rotation (declared by its package) against a local HTTP server standing in for
the Auth0 Management API. Plus what the worker registers: every partner's upkeep."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from integration_hub.connectors.auth0.calls import Auth0Management
from integration_hub.connectors.auth0.rotation import (
    LogStreamRotation,
    RotateAuth0LogStreamWorkflow,
    RotateLogStreamInput,
)
from integration_hub.connectors.partner import Partner, UpkeepContext
from integration_hub.connectors.partners import PARTNERS, partner_named
from integration_hub.orchestration.calls import CALL_WORKFLOWS
from integration_hub.orchestration.maintenance import (
    MAINTENANCE_WORKFLOWS,
    AgeCheckInput,
    AgeReport,
    SecretAgeReminderWorkflow,
    SecretMaintenance,
    ensure_age_reminder_schedule,
    known_secret_names,
    maintenance_activities,
)
from integration_hub.orchestration.worker import workflow_runner
from integration_hub.secrets import EnvSecretSource
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
            workflows=[*MAINTENANCE_WORKFLOWS, RotateAuth0LogStreamWorkflow],
            activities=[
                *SecretMaintenance(store).activities(),
                *LogStreamRotation(store, auth0=auth0).activities(),
            ],
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


async def test_the_auth0_rotation_schedule_is_the_declared_rotation_with_its_stream(
    temporal: WorkflowEnvironment,
) -> None:
    [rotation] = partner_named("auth0").rotations
    assert (rotation.secret, rotation.option, rotation.takes_value) == (
        "AUTH0_LOG_STREAM_TOKEN",
        "auth0-log-stream",
        True,
    )
    queue = f"test-{uuid.uuid4()}"
    schedule_id = await rotation.schedule(temporal.client, queue, STREAM_ID, timedelta(days=7))
    handle = temporal.client.get_schedule_handle(schedule_id)
    try:
        described = await handle.describe()
        assert schedule_id == "secrets.rotate_auth0_log_stream"
        assert [i.every for i in described.schedule.spec.intervals] == [timedelta(days=7)]
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == "secrets_rotate_auth0_log_stream"
        assert action.task_queue == queue
    finally:
        await handle.delete()


async def test_the_auth0_rotation_schedule_needs_a_stream_id(
    temporal: WorkflowEnvironment,
) -> None:
    [rotation] = partner_named("auth0").rotations
    with pytest.raises(ValueError, match="lst_"):
        await rotation.schedule(temporal.client, "unused", None, timedelta(days=30))


def test_every_partners_upkeep_is_registered_beside_the_core_age_check() -> None:
    names = [a.__name__ for a in maintenance_activities(EnvSecretSource(environ={}))]

    assert names[0] == "check_secret_ages"
    assert {"store_new_token", "push_token"} <= set(names)  # Auth0's log-stream rotation
    assert {"create_secondary", "promote_secondary"} <= set(names)  # Twilio's Auth Token
    # Their workflows reach the worker through the declarations, with the core's.
    assert {RotateAuth0LogStreamWorkflow, SecretAgeReminderWorkflow} <= set(CALL_WORKFLOWS)


def test_a_partner_brings_its_upkeep_without_a_core_change() -> None:
    @activity.defn(name="example_rotate")
    def rotate_example(input: AgeCheckInput) -> None:
        """A stand-in rotation step."""

    seen: list[UpkeepContext] = []

    def upkeep(context: UpkeepContext) -> list[Callable[..., Any]]:
        seen.append(context)
        return [rotate_example]

    example = Partner(name="example", priority="P2", summary="test only", upkeep=upkeep)
    source = EnvSecretSource(environ={})

    activities = maintenance_activities(source, partners=[example])

    assert [a.__name__ for a in activities] == ["check_secret_ages", "rotate_example"]
    assert seen[0].secrets is source


def test_known_secret_names_come_from_the_declarations_alone() -> None:
    names = known_secret_names()

    # A family per instance (a PMS connection's secrets) stands for its instances, which only
    # a secret source lists: the declarations alone name the plain secrets.
    declared = [s.name for partner in PARTNERS for s in partner.secrets if not s.per_instance]
    assert names == list(dict.fromkeys(declared))
    assert {"AUTH0_LOG_STREAM_TOKEN", "AUTH_CLIENT_SECRET", "TWILIO_SMS_FROM"} <= set(names)
    assert {"STRIPE_SECRET_KEY", "GOOGLE_MAPS_API_KEY", "CLERK_WEBHOOK_SECRET"} <= set(names)


def test_known_secret_names_include_each_instance_a_source_lists() -> None:
    from integration_hub.connectors.partner import Partner, Secret
    from integration_hub.secrets import EnvSecretSource

    pms = Partner(
        name="pms",
        priority="P1",
        summary="test only",
        secrets=(Secret("PMS_WEBHOOK_TOKEN"), Secret("PMS_API_KEY", per_instance=True)),
    )
    source = EnvSecretSource(environ={"PMS_API_KEY__B": "x", "PMS_API_KEY__A-1": "y"})

    assert known_secret_names(partners=[pms]) == ["PMS_WEBHOOK_TOKEN"]
    assert known_secret_names(partners=[pms], secrets=source) == [
        "PMS_WEBHOOK_TOKEN",
        "PMS_API_KEY__A-1",
        "PMS_API_KEY__B",
    ]
