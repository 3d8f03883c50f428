"""invitations: one open per (provider, e-mail), closes are compare-and-set from an open
status (SQLite file, and PostgreSQL when configured)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, update

from integration_hub.storage import invitations as rows
from integration_hub.storage.engine import begin_write
from integration_hub.storage.invitations import InvitationStatus
from integration_hub.storage.tables import invitations

LATER = datetime(2030, 1, 1, tzinfo=UTC)


def _invite(engine: Engine, email: str = "ana@example.org", provider: str = "clerk") -> str:
    with begin_write(engine) as connection:
        made = rows.create_invitation(
            connection, provider=provider, email=email, role="operator",
            invited_by="local", expires_at=LATER,
        )  # fmt: skip
    assert made["status"] == "pending"
    assert made["expires_at"] == LATER
    return str(made["id"])


def test_one_open_invitation_per_provider_and_email(engine: Engine) -> None:
    first = _invite(engine)

    with pytest.raises(rows.InvitationOpen) as held, begin_write(engine) as connection:
        rows.create_invitation(
            connection, provider="clerk", email="ana@example.org", role="admin",
            invited_by="local", expires_at=LATER,
        )  # fmt: skip
    assert held.value.invitation_id == first
    other_provider = _invite(engine, provider="auth0")
    assert other_provider != first

    with begin_write(engine) as connection:
        assert rows.close_invitation(
            connection, invitation_id=first, status=InvitationStatus.REVOKED, reason="test"
        )
    again = _invite(engine)  # closed: the e-mail may be invited anew
    with engine.connect() as connection:
        listed = rows.list_invitations(connection, limit=10)
        open_only = rows.list_invitations(connection, limit=10, statuses=rows.OPEN)
    assert {i["id"] for i in listed} == {first, other_provider, again}
    assert {i["id"] for i in open_only} == {other_provider, again}


def test_closes_happen_once_and_sent_only_from_pending(engine: Engine) -> None:
    invitation = _invite(engine)
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)

    with begin_write(engine) as connection:
        assert rows.mark_sent(
            connection, invitation_id=invitation, provider_invitation_id="inv_p1",
            expires_at=expires,
        )  # fmt: skip
        assert not rows.mark_sent(
            connection, invitation_id=invitation, provider_invitation_id="inv_p2",
            expires_at=None,
        )  # fmt: skip
        found = rows.get_invitation(connection, invitation_id=invitation)
        assert found is not None and found["provider_invitation_id"] == "inv_p1"
        # The hub's expiry stays the one shown; the provider's only sizes the workflow's timer.
        assert found is not None and found["expires_at"] == LATER
        assert rows.close_invitation(
            connection, invitation_id=invitation, status=InvitationStatus.ACCEPTED, reason="a"
        )
        assert not rows.close_invitation(
            connection, invitation_id=invitation, status=InvitationStatus.EXPIRED, reason="b"
        )
        with pytest.raises(ValueError, match="not a closed status"):
            rows.close_invitation(
                connection, invitation_id=invitation, status=InvitationStatus.SENT, reason="c"
            )
        stored = rows.get_invitation(connection, invitation_id=invitation)
    assert stored is not None
    assert (stored["status"], stored["reason"], stored["provider_invitation_id"]) == (
        "accepted",
        "a",
        "inv_p1",
    )
    assert stored["closed_at"] is not None


def test_a_revoke_the_provider_refused_turns_a_closed_row_failed(engine: Engine) -> None:
    revoked, accepted, still_open = (
        _invite(engine),
        _invite(engine, "b@x.org"),
        _invite(engine, "c@x.org"),
    )
    with begin_write(engine) as connection:
        for invitation, status in ((revoked, "revoked"), (accepted, "accepted")):
            rows.close_invitation(
                connection, invitation_id=invitation, status=InvitationStatus(status), reason="r"
            )
        assert rows.mark_revoke_failed(connection, invitation_id=revoked, detail="clerk.x: no")
        assert not rows.mark_revoke_failed(connection, invitation_id=accepted, detail="d")
        assert not rows.mark_revoke_failed(connection, invitation_id=still_open, detail="d")
        found = rows.get_invitation(connection, invitation_id=revoked)
        assert rows.status_of(connection, invitation_id=accepted) == "accepted"
        assert rows.status_of(connection, invitation_id=still_open) == "pending"
    assert found is not None
    assert (found["status"], found["reason"]) == ("failed", "revoke_failed: clerk.x: no")


def test_the_sweep_expires_open_rows_past_their_expiry_only(engine: Engine) -> None:
    overdue = _invite(engine)
    with begin_write(engine) as connection:
        current = rows.create_invitation(
            connection, provider="clerk", email="later@x.org", role="viewer",
            invited_by="local", expires_at=datetime(2100, 1, 1, tzinfo=UTC),
        )["id"]  # fmt: skip
        assert rows.expire_overdue(
            connection, before=datetime(2031, 1, 1, tzinfo=UTC), limit=5
        ) == [overdue]
        assert (
            rows.expire_overdue(connection, before=datetime(2031, 1, 1, tzinfo=UTC), limit=5) == []
        )
        assert rows.status_of(connection, invitation_id=overdue) == "expired"
        assert rows.status_of(connection, invitation_id=current) == "pending"
    _invite(engine)  # the swept e-mail may be invited anew


def test_the_list_is_oldest_first_and_pages_by_the_last_one(engine: Engine) -> None:
    made = [_invite(engine, f"p{n}@example.org") for n in range(4)]
    # Ids are random: give them creation times in an order that is not theirs.
    by_id = sorted(made)
    oldest_first = [by_id[2], by_id[0], by_id[3], by_id[1]]
    with begin_write(engine) as connection:
        for n, invitation in enumerate(oldest_first):
            connection.execute(
                update(invitations)
                .where(invitations.c.id == invitation)
                .values(created_at=datetime(2026, 1, 1 + n // 2, tzinfo=UTC))  # two share a time
            )
    with engine.connect() as connection:
        first = rows.list_invitations(connection, limit=3)
        rest = rows.list_invitations(connection, limit=3, after_id=first[-1]["id"])
    paged = [i["id"] for i in first + rest]
    same_time = sorted(oldest_first[:2]), sorted(oldest_first[2:])
    assert paged == [*same_time[0], *same_time[1]]
