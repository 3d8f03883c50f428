"""The users-and-roles mirror, driven end to end by signed Clerk deliveries and Auth0 log
streams through a running hub and the real Temporal dev server: rows are keyed by provider, an
event's time counts only up to receipt + skew, and a stale update shows as skipped."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from integration_hub.orchestration import identity
from integration_hub.storage import sessions
from integration_hub.storage.engine import begin_write
from integration_hub.storage.rows import as_utc
from integration_hub.storage.tables import admin_sessions, identity_memberships, identity_users
from integration_hub.testing import connector, sign_as
from tests.helpers import AUTH0_TOKEN, CLERK_SECRET, RunningHub, wait_until

YEAR_9999_MS = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp() * 1000)


async def _settled(running: RunningHub, partner: str, event_id: str) -> dict[str, Any]:
    answer = await wait_until(
        lambda: running.admin.get(f"/api/events/{partner}/{event_id}"),
        lambda r: r.status_code == 200 and r.json()["status"] in {"processed", "failed"},
    )
    detail: dict[str, Any] = answer.json()
    return detail


async def _deliver(
    running: RunningHub, event_type: str, *, at_ms: int, **data: Any
) -> dict[str, Any]:
    event = orjson.loads(connector("clerk").sample(event_type))
    event["data"].update(data)
    event["timestamp"] = at_ms
    body = orjson.dumps(event)
    headers = sign_as("clerk", body, secret=CLERK_SECRET)
    response = await running.http.post("/webhooks/clerk", content=body, headers=headers)
    assert response.status_code == 200
    return await _settled(running, "clerk", headers["svix-id"])


async def _deliver_auth0(running: RunningHub, log_type: str, **data: Any) -> dict[str, Any]:
    [entry] = orjson.loads(connector("auth0").sample(log_type))
    entry["data"].update(data)
    body = orjson.dumps([entry])
    headers = sign_as("auth0", body, secret=AUTH0_TOKEN)
    response = await running.http.post("/webhooks/auth0", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return await _settled(running, "auth0", entry["log_id"])


def _rows(running: RunningHub, table: Any) -> list[dict[str, Any]]:
    with running.hub.engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(table))]


def _user(running: RunningHub, provider: str, user_id: str) -> dict[str, Any]:
    [user] = [
        u
        for u in _rows(running, identity_users)
        if (u["partner"], u["user_id"]) == (provider, user_id)
    ]
    return user


def _identity_run(detail: dict[str, Any]) -> dict[str, Any]:
    [run] = [h for e in detail["events"] for h in e["handlers"] if h["handler"] == "identity"]
    return dict(run)


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
    assert (user["partner"], user["user_id"], user["role"], user["deleted"]) == (
        "clerk",
        "user_A",
        "operator",
        False,
    )
    [membership] = _rows(running_hub, identity_memberships)
    assert (membership["partner"], membership["user_id"], membership["role"]) == (
        "clerk",
        "user_A",
        "org:admin",
    )


async def test_an_older_event_is_kept_out_and_reported_as_skipped(
    running_hub: RunningHub,
) -> None:
    now = int(time.time() * 1000)
    await _deliver(running_hub, "user.updated", at_ms=now, id="user_B", first_name="New")
    stale = await _deliver(
        running_hub, "user.created", at_ms=now - 60_000, id="user_B", first_name="Old"
    )
    assert _user(running_hub, "clerk", "user_B")["first_name"] == "New"
    # Not "completed": the run says it changed nothing, and why; the event is still done.
    run = _identity_run(stale)
    assert run["status"] == "skipped"
    assert run["last_error"].startswith("stale_update: identity_users clerk/user_B")
    assert stale["status"] == "processed" and stale["last_error"] is None
    metrics = (await running_hub.http.get("/metrics")).text
    assert 'hub_handler_outcomes_total{handler="identity",status="skipped"}' in metrics


async def test_deleted_user_is_marked_deleted(running_hub: RunningHub) -> None:
    now = int(time.time() * 1000)
    await _deliver(running_hub, "user.created", at_ms=now, id="user_C")
    await _deliver(running_hub, "user.deleted", at_ms=now + 1, id="user_C")
    assert _user(running_hub, "clerk", "user_C")["deleted"] is True


async def test_an_auth0_entry_cannot_overwrite_or_pin_a_clerk_user(
    running_hub: RunningHub,
) -> None:
    """The attack: an Auth0 log entry (authenticated by the stream token only) naming a Clerk
    user's id, dated 9999, replaced that user's row and made every later Clerk update stale."""
    now = int(time.time() * 1000)
    await _deliver(running_hub, "user.created", at_ms=now, id="user_victim", first_name="Ana")
    before = _user(running_hub, "clerk", "user_victim")

    forged = await _deliver_auth0(
        running_hub,
        "ss",
        user_id="user_victim",
        user_name="attacker@example.org",
        date="9999-12-31T23:59:59.000Z",
    )
    assert forged["status"] == "processed"
    assert _user(running_hub, "clerk", "user_victim") == before  # untouched
    intruder = _user(running_hub, "auth0", "user_victim")  # kept apart, under its own provider
    receipt = as_utc(datetime.fromisoformat(forged["received_at"]))
    assert as_utc(intruder["source_time"]) <= receipt + timedelta(minutes=5)

    later = await _deliver(
        running_hub, "user.updated", at_ms=now + 1_000, id="user_victim", first_name="Ana María"
    )
    assert _identity_run(later)["status"] == "completed"
    assert _user(running_hub, "clerk", "user_victim")["first_name"] == "Ana María"


async def test_a_future_date_cannot_pin_a_row_of_its_own_provider(running_hub: RunningHub) -> None:
    """Signed or not, a partner's clock is believed only up to receipt + skew."""
    now = int(time.time() * 1000)
    pinned = await _deliver(
        running_hub, "user.created", at_ms=YEAR_9999_MS, id="user_D", first_name="Future"
    )
    stored = as_utc(_user(running_hub, "clerk", "user_D")["source_time"])
    receipt = as_utc(datetime.fromisoformat(pinned["received_at"]))
    assert stored <= receipt + timedelta(minutes=5)

    # Six minutes later (as the partner dates it), a genuine update wins again.
    later = await _deliver(
        running_hub, "user.updated", at_ms=now + 6 * 60_000, id="user_D", first_name="Now"
    )
    assert _identity_run(later)["status"] == "completed"
    assert _user(running_hub, "clerk", "user_D")["first_name"] == "Now"


async def test_a_role_change_ends_the_users_panel_sessions(running_hub: RunningHub) -> None:
    now = int(time.time() * 1000)
    await _deliver(
        running_hub, "user.created", at_ms=now, id="user_E", public_metadata={"role": "admin"}
    )
    with begin_write(running_hub.hub.engine) as connection:
        for provider in ("clerk", "auth0"):
            sessions.create(
                connection,
                subject="user_E",
                provider=provider,
                role="admin",
                credential="oidc:test",
                lifetime=timedelta(hours=1),
            )
    changed = await _deliver(
        running_hub, "user.updated", at_ms=now + 1, id="user_E", public_metadata={"role": "viewer"}
    )
    assert _identity_run(changed)["status"] == "completed"
    revoked = {
        r["provider"]: (r["revoked_at"] is not None, r["revoked_reason"])
        for r in _rows(running_hub, admin_sessions)
    }
    # Only the Clerk user's session: an Auth0 user with the same id is someone else.
    assert revoked == {"clerk": (True, "role_changed"), "auth0": (False, None)}
    assert _user(running_hub, "clerk", "user_E")["role"] == "viewer"


async def test_a_partner_clock_a_little_ahead_is_believed(running_hub: RunningHub) -> None:
    """Within the skew (5 minutes by default) the partner's own time orders updates."""
    ahead = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=3)
    await _deliver(running_hub, "user.created", at_ms=int(ahead.timestamp() * 1000), id="user_F")
    assert as_utc(_user(running_hub, "clerk", "user_F")["source_time"]) == ahead


async def test_an_offset_date_is_stored_in_utc(running_hub: RunningHub) -> None:
    """SQLite keeps a datetime as text without its offset: a `+14:00` date stored as sent read
    as 14 hours ahead, passed the clamp, and made the next genuine update look stale."""
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    east = moment.astimezone(timezone(timedelta(hours=14))).isoformat()
    first = await _deliver_auth0(running_hub, "ss", user_id="auth0|tz", date=east)
    assert _identity_run(first)["status"] == "completed"
    assert as_utc(_user(running_hub, "auth0", "auth0|tz")["source_time"]) == moment

    later = (moment + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    update = await _deliver_auth0(
        running_hub, "ss", user_id="auth0|tz", user_name="new@example.org", date=later
    )
    assert _identity_run(update)["status"] == "completed"
    assert as_utc(_user(running_hub, "auth0", "auth0|tz")["source_time"]) == moment + timedelta(
        seconds=1
    )


async def test_a_date_past_what_utc_holds_is_applied_not_retried(running_hub: RunningHub) -> None:
    """Year 1 east of Greenwich overflowed in UTC arithmetic and the activity retried forever:
    it is taken as the earliest moment, so any real update after it wins."""
    first = await _deliver_auth0(
        running_hub, "ss", user_id="auth0|year1", date="0001-01-01T00:00:00+01:00"
    )
    assert first["status"] == "processed"
    assert _identity_run(first)["status"] == "completed"
    assert as_utc(_user(running_hub, "auth0", "auth0|year1")["source_time"]) == identity.EARLIEST
    west = await _deliver_auth0(
        running_hub, "ss", user_id="auth0|year9999", date="9999-12-31T23:59:59-01:00"
    )
    receipt = as_utc(datetime.fromisoformat(west["received_at"]))
    stored = as_utc(_user(running_hub, "auth0", "auth0|year9999")["source_time"])
    assert _identity_run(west)["status"] == "completed"
    assert stored <= receipt + timedelta(minutes=5)


def test_event_times_are_read_as_rfc_3339_and_a_bad_one_is_rejected() -> None:
    received = datetime(2026, 1, 1, tzinfo=UTC)
    read = identity._event_time({"time": "2026-01-01t10:00:00+14:00"}, received)
    assert read == datetime(2025, 12, 31, 20, tzinfo=UTC) and read.tzinfo is UTC
    assert identity._event_time({"time": None}, received) == received
    with pytest.raises(identity.IdentityRejected) as rejected:
        identity._event_time({"time": "2026-06-30T23:59:60Z"}, received)
    assert rejected.value.reason == "unusable_time"
