"""Auth0 Management API calls out: httpx against a local stand-in for the tenant, retries run
by the session's Temporal dev server."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from integration_hub.connectors.auth0.calls import (
    Auth0Management,
    Auth0Role,
    Auth0UserSnapshotWorkflow,
    LogStreamToken,
    UserRef,
    UserSnapshot,
)
from integration_hub.orchestration.worker import workflow_runner
from integration_hub.secrets import EnvSecretSource
from tests.partner_server import PartnerServer, RecordedRequest, Reply, partner_server

CLIENT_ID = "hubM2MClientId0123456789abcdefAB"
CLIENT_SECRET = "hub-m2m-client-secret-0123456789abcdefghijklmnopqrstuv"
USER_ID = "auth0|64f1c0ffee"
USER_PATH = "/api/v2/users/auth0%7C64f1c0ffee"
USER = {
    "user_id": USER_ID,
    "email": "cleaner@example.com",
    "email_verified": True,
    "name": "Ana Cleaner",
    "given_name": "Ana",
    "family_name": "Cleaner",
    "updated_at": "2025-05-01T10:00:00.000Z",
}
ROLES = [{"id": "rol_1", "name": "cleaner", "description": "Does turnovers"}]


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def tenant(request: RecordedRequest) -> Reply:
    if request.path == "/oauth/token":
        body = {"access_token": f"mgmt-{uuid.uuid4().hex[:8]}", "expires_in": 86400}
        return Reply(body={**body, "token_type": "Bearer"})
    if request.path == USER_PATH:
        return Reply(body=USER)
    if request.path == f"{USER_PATH}/roles":
        return Reply(body=ROLES)
    if request.method == "PATCH" and request.path.startswith("/api/v2/log-streams/"):
        return Reply(body={"id": request.path.rsplit("/", 1)[1], "type": "http"})
    return Reply(404, {"statusCode": 404, "error": "Not Found", "errorCode": "inexistent_user"})


def error(status: int, code: str, **headers: str) -> Reply:
    return Reply(status, {"statusCode": status, "error": code, "errorCode": code}, headers)


@pytest.fixture
def auth0_api() -> Iterator[PartnerServer]:
    yield from partner_server(tenant)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def management(auth0_api: PartnerServer, clock: Clock) -> Iterator[Auth0Management]:
    secrets = EnvSecretSource(
        environ={
            "AUTH_ISSUER": auth0_api.url + "/",
            "AUTH_CLIENT_ID": CLIENT_ID,
            "AUTH_CLIENT_SECRET": CLIENT_SECRET,
        }
    )
    management = Auth0Management(secrets, clock=clock)
    yield management
    management.close()


@pytest.fixture
async def task_queue(
    temporal: WorkflowEnvironment, management: Auth0Management
) -> AsyncIterator[str]:
    queue = f"test-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            temporal.client,
            workflow_runner=workflow_runner(),
            task_queue=queue,
            workflows=[Auth0UserSnapshotWorkflow],
            activities=management.activities(),
            activity_executor=executor,
        ):
            yield queue


async def snapshot(temporal: WorkflowEnvironment, queue: str) -> UserSnapshot:
    return await temporal.client.execute_workflow(
        Auth0UserSnapshotWorkflow.run,
        UserRef(USER_ID),
        id=f"auth0_user_snapshot/{USER_ID}/{uuid.uuid4()}",
        task_queue=queue,
    )


def calls_to(server: PartnerServer, path: str) -> list[RecordedRequest]:
    return [r for r in server.requests if r.path == path]


def test_token_comes_from_client_credentials_for_the_management_audience(
    management: Auth0Management, auth0_api: PartnerServer
) -> None:
    management.get_user(UserRef(USER_ID))

    token = auth0_api.requests[0]
    assert (token.method, token.path) == ("POST", "/oauth/token")
    assert token.headers["content-type"] == "application/x-www-form-urlencoded"
    assert token.form() == {
        "grant_type": ["client_credentials"],
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
        "audience": [f"{auth0_api.url}/api/v2/"],
    }


async def test_user_snapshot_reads_the_user_and_roles_with_the_token(
    temporal: WorkflowEnvironment, task_queue: str, auth0_api: PartnerServer
) -> None:
    result = await snapshot(temporal, task_queue)

    assert result.user.email == "cleaner@example.com"
    assert result.roles == [Auth0Role("rol_1", "cleaner", "Does turnovers")]
    _, user, roles = auth0_api.requests
    assert [(r.method, r.path) for r in (user, roles)] == [
        ("GET", USER_PATH),
        ("GET", f"{USER_PATH}/roles"),
    ]
    assert user.headers["authorization"] == roles.headers["authorization"]
    assert user.headers["authorization"].startswith("Bearer mgmt-")
    assert roles.query == {"page": ["0"], "per_page": ["100"]}


def test_token_is_reused_until_shortly_before_it_expires(
    management: Auth0Management, auth0_api: PartnerServer, clock: Clock
) -> None:
    management.get_user(UserRef(USER_ID))
    clock.now += 86400 - 61
    management.get_user(UserRef(USER_ID))

    assert len(calls_to(auth0_api, "/oauth/token")) == 1


def test_token_is_refreshed_shortly_before_it_expires(
    management: Auth0Management, auth0_api: PartnerServer, clock: Clock
) -> None:
    management.get_user(UserRef(USER_ID))
    clock.now += 86400 - 59
    management.get_user(UserRef(USER_ID))

    first, second = calls_to(auth0_api, USER_PATH)
    assert len(calls_to(auth0_api, "/oauth/token")) == 2
    assert first.headers["authorization"] != second.headers["authorization"]


async def test_rejected_token_is_dropped_and_the_retry_fetches_a_new_one(
    temporal: WorkflowEnvironment, task_queue: str, auth0_api: PartnerServer
) -> None:
    management_token = Reply(body={"access_token": "revoked", "expires_in": 86400})
    auth0_api.reply(management_token, error(401, "Unauthorized"))

    await snapshot(temporal, task_queue)

    first, second = calls_to(auth0_api, USER_PATH)
    assert first.headers["authorization"] == "Bearer revoked"
    assert second.headers["authorization"].startswith("Bearer mgmt-")
    assert len(calls_to(auth0_api, "/oauth/token")) == 2


async def test_rate_limited_call_waits_until_x_ratelimit_reset(
    temporal: WorkflowEnvironment, task_queue: str, auth0_api: PartnerServer, clock: Clock
) -> None:
    clock.now = time.time()  # X-RateLimit-Reset is wall-clock Unix time
    reset = int(clock.now) + 3
    token = Reply(body={"access_token": "mgmt-1", "expires_in": 86400})
    auth0_api.reply(token, error(429, "too_many_requests", **{"X-RateLimit-Reset": str(reset)}))

    await snapshot(temporal, task_queue)

    first, second = calls_to(auth0_api, USER_PATH)
    assert second.at - first.at >= 1.9  # CALL_RETRY alone would retry after 1 s


async def test_server_error_is_retried(
    temporal: WorkflowEnvironment, task_queue: str, auth0_api: PartnerServer
) -> None:
    token = Reply(body={"access_token": "mgmt-1", "expires_in": 86400})
    auth0_api.reply(token, error(503, "Service Unavailable"))

    result = await snapshot(temporal, task_queue)

    assert result.user.user_id == USER_ID
    assert len(calls_to(auth0_api, USER_PATH)) == 2


async def test_missing_user_is_not_retried(
    temporal: WorkflowEnvironment, task_queue: str, auth0_api: PartnerServer
) -> None:
    token = Reply(body={"access_token": "mgmt-1", "expires_in": 86400})
    auth0_api.reply(token, error(404, "inexistent_user"))

    with pytest.raises(WorkflowFailureError) as raised:
        await snapshot(temporal, task_queue)

    assert isinstance(raised.value.cause, ActivityError)
    failure = raised.value.cause.cause
    assert isinstance(failure, ApplicationError)
    assert (failure.type, failure.non_retryable) == ("auth0.inexistent_user", True)
    assert len(calls_to(auth0_api, USER_PATH)) == 1


def test_roles_are_read_page_by_page(management: Auth0Management, auth0_api: PartnerServer) -> None:
    full_page = [{"id": f"rol_{i}", "name": f"role-{i}"} for i in range(100)]
    token = Reply(body={"access_token": "mgmt-1", "expires_in": 86400})
    auth0_api.reply(token, Reply(body=full_page), Reply(body=ROLES))

    roles = management.get_user_roles(UserRef(USER_ID))

    assert len(roles) == 101
    pages = calls_to(auth0_api, f"{USER_PATH}/roles")
    assert [r.query["page"] for r in pages] == [["0"], ["1"]]


def test_log_stream_token_update_patches_the_sink_authorization(
    management: Auth0Management, auth0_api: PartnerServer
) -> None:
    management.update_log_stream_token(LogStreamToken("lst_0000000000012345", "Bearer n3w"))

    update = auth0_api.requests[-1]
    assert (update.method, update.path) == ("PATCH", "/api/v2/log-streams/lst_0000000000012345")
    assert update.headers["content-type"] == "application/json"
    assert update.json() == {"sink": {"httpAuthorization": "Bearer n3w"}}


def test_missing_credentials_refuse_the_call(auth0_api: PartnerServer) -> None:
    management = Auth0Management(EnvSecretSource(environ={"AUTH_ISSUER": auth0_api.url}))

    with pytest.raises(ApplicationError) as refused:
        management.get_user(UserRef(USER_ID))
    management.close()

    assert refused.value.message == "AUTH_CLIENT_ID, AUTH_CLIENT_SECRET not set"
    assert (refused.value.type, refused.value.non_retryable) == ("CallRefused", True)
    assert auth0_api.requests == []
