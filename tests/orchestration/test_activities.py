"""Handler activities on a running hub: a write the database refuses for what it holds fails
the run at once, with the database's reason kept (the dead-letter), instead of retrying."""

from __future__ import annotations

import time
from typing import Any

import orjson
from sqlalchemy import text

from integration_hub.storage.engine import begin_write
from integration_hub.testing import connector, sign_as
from tests.helpers import CLERK_SECRET, RunningHub, wait_until

# Retries would take minutes (12 attempts, backoff to a minute); the refused write must be
# settled long before that, on its first attempt.
SETTLED_WITHIN_SECONDS = 60


def _refuse_long_first_names(running: RunningHub) -> str:
    """Make the handler table refuse a value, as the database itself would: on PostgreSQL a
    column too narrow for it (DataError), on SQLite (which ignores lengths) a constraint
    trigger (IntegrityError). Returns the error kind the run should report."""
    with begin_write(running.hub.engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("ALTER TABLE identity_users ALTER COLUMN first_name TYPE varchar(3)")
            )
            return "data_error"
        connection.execute(
            text(
                "CREATE TRIGGER refuse_long_first_name BEFORE INSERT ON identity_users "
                "WHEN length(NEW.first_name) > 3 "
                "BEGIN SELECT RAISE(ABORT, 'first_name does not fit'); END"
            )
        )
        return "integrity_error"


async def test_a_refused_handler_write_is_dead_lettered_not_retried(
    running_hub: RunningHub,
) -> None:
    kind = _refuse_long_first_names(running_hub)
    event: dict[str, Any] = orjson.loads(connector("clerk").sample("user.created"))
    event["data"].update(id="user_long", first_name="Alexandra")
    event["timestamp"] = int(time.time() * 1000)
    body = orjson.dumps(event)
    headers = sign_as("clerk", body, secret=CLERK_SECRET)
    assert (
        await running_hub.http.post("/webhooks/clerk", content=body, headers=headers)
    ).is_success

    answer = await wait_until(
        lambda: running_hub.admin.get(f"/api/events/clerk/{headers['svix-id']}"),
        lambda r: r.status_code == 200 and r.json()["status"] in {"processed", "failed"},
        timeout=SETTLED_WITHIN_SECONDS,
    )
    detail = answer.json()
    [run] = [h for e in detail["events"] for h in e["handlers"] if h["handler"] == "identity"]
    expected = f"the database refused the handler's write ({kind})"
    assert detail["status"] == "failed" and detail["last_error"].startswith(expected)
    assert run["status"] == "failed" and run["last_error"].startswith(expected)
    assert "Alexandra" not in run["last_error"]  # the reason, never the row's values
    assert "maria@example.org" not in run["last_error"]

    # Nothing else is stuck behind it: the next event is handled as usual.
    event["data"].update(id="user_short", first_name="Ana")
    body = orjson.dumps(event)
    headers = sign_as("clerk", body, secret=CLERK_SECRET)
    await running_hub.http.post("/webhooks/clerk", content=body, headers=headers)
    after = await wait_until(
        lambda: running_hub.admin.get(f"/api/events/clerk/{headers['svix-id']}"),
        lambda r: r.status_code == 200 and r.json()["status"] in {"processed", "failed"},
    )
    assert after.json()["status"] == "processed"
