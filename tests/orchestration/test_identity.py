"""The users-and-roles mirror, driven end to end by signed Clerk deliveries."""

from __future__ import annotations

import time
from typing import Any

import orjson
from sqlalchemy import select

from integration_hub.storage.tables import identity_memberships, identity_users
from integration_hub.testing import connector, sign_as
from tests.helpers import CLERK_SECRET, RunningHub, wait_until


async def _deliver(running: RunningHub, event_type: str, *, at_ms: int, **data: Any) -> None:
    event = orjson.loads(connector("clerk").sample(event_type))
    event["data"].update(data)
    event["timestamp"] = at_ms
    body = orjson.dumps(event)
    headers = sign_as("clerk", body, secret=CLERK_SECRET)
    response = await running.http.post("/webhooks/clerk", content=body, headers=headers)
    assert response.status_code == 200
    await wait_until(
        lambda: running.admin.get(f"/api/events/clerk/{headers['svix-id']}"),
        lambda r: r.json()["status"] in {"processed", "failed"},
    )


def _rows(running: RunningHub, table: Any) -> list[dict[str, Any]]:
    with running.hub.engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(table))]


async def test_user_and_membership_land_in_the_mirror(running_hub: RunningHub) -> None:
    now = int(time.time() * 1000)
    await _deliver(running_hub, "user.created", at_ms=now, id="user_A")
    await _deliver(
        running_hub,
        "organizationMembership.created",
        at_ms=now + 1,
        public_user_data={"user_id": "user_A"},
    )
    [user] = _rows(running_hub, identity_users)
    assert (user["user_id"], user["role"], user["deleted"]) == ("user_A", "operator", False)
    [membership] = _rows(running_hub, identity_memberships)
    assert (membership["user_id"], membership["role"]) == ("user_A", "org:admin")


async def test_an_older_event_does_not_overwrite_a_newer_one(running_hub: RunningHub) -> None:
    now = int(time.time() * 1000)
    await _deliver(running_hub, "user.updated", at_ms=now, id="user_B", first_name="New")
    await _deliver(running_hub, "user.created", at_ms=now - 60_000, id="user_B", first_name="Old")
    [user] = _rows(running_hub, identity_users)
    assert user["first_name"] == "New"


async def test_deleted_user_is_marked_deleted(running_hub: RunningHub) -> None:
    now = int(time.time() * 1000)
    await _deliver(running_hub, "user.created", at_ms=now, id="user_C")
    await _deliver(running_hub, "user.deleted", at_ms=now + 1, id="user_C")
    [user] = _rows(running_hub, identity_users)
    assert user["deleted"] is True
