"""The invitations handler: which event closes which invitation (the provider that delivered
it, the lower-cased e-mail, or the provider's invitation id), once, with one `accepted` signal
queued on the outbox in the same transaction (SQLite file, PostgreSQL when configured)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine, select

from integration_hub.orchestration.invitations import apply_event, workflow_id
from integration_hub.orchestration.outbox import Outbox
from integration_hub.orchestration.outcomes import Skipped
from integration_hub.storage import invitations as rows
from integration_hub.storage.engine import begin_write
from integration_hub.storage.tables import workflow_outbox
from integration_hub.testing import connector

LATER = datetime(2030, 1, 1, tzinfo=UTC)


def _sent(engine: Engine, provider: str, email: str, provider_id: str) -> str:
    with begin_write(engine) as connection:
        made = rows.create_invitation(
            connection, provider=provider, email=email, role="viewer", invited_by="local",
            expires_at=LATER,
        )  # fmt: skip
        assert rows.mark_sent(
            connection, invitation_id=made["id"], provider_invitation_id=provider_id,
            expires_at=None,
        )  # fmt: skip
    return str(made["id"])


def _event(event_id: str, partner: str, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": event_id, "partner": partner, "type": kind, "data": data}


def _user_created(
    event_id: str, partner: str, email: str | None, *, verified: bool = True
) -> dict[str, Any]:
    data = {"user_id": "user_1", "primary_email": email, "first_name": None,
            "last_name": None, "role": "viewer", "email_verified": verified}  # fmt: skip
    return _event(event_id, partner, "identity.user_created", data)


def _apply(engine: Engine, event: dict[str, Any]) -> str | Skipped:
    with begin_write(engine) as connection:
        return apply_event(connection, event, Outbox())


def _signals(engine: Engine) -> list[tuple[str, str, str, Any]]:
    with engine.connect() as connection:
        found = connection.execute(
            select(workflow_outbox.c.workflow_id, workflow_outbox.c.signal,
                   workflow_outbox.c.dedup, workflow_outbox.c.signal_input)
        ).all()  # fmt: skip
    return [tuple(r) for r in found]  # type: ignore[misc]


def test_a_created_user_closes_the_open_invitation_of_their_email_once(engine: Engine) -> None:
    invitation = _sent(engine, "clerk", "ana@example.org", "inv_clerk1")

    outcome = _apply(engine, _user_created("ev-1", "clerk", "Ana@Example.org"))
    again = _apply(engine, _user_created("ev-2", "clerk", "ana@example.org"))

    assert outcome == f"invitation {invitation} accepted (user_created)"
    assert isinstance(again, Skipped) and "no_open_invitation" in again.reason
    assert "@" not in again.reason
    with engine.connect() as connection:
        stored = rows.get_invitation(connection, invitation_id=invitation)
    assert stored is not None and stored["status"] == "accepted"
    assert _signals(engine) == [
        (
            workflow_id(invitation),
            "accepted",
            "ev-1",
            {"reason": "user_created", "user_id": "user_1"},
        )
    ]


def test_another_providers_user_or_no_email_closes_nothing(engine: Engine) -> None:
    invitation = _sent(engine, "clerk", "ana@example.org", "inv_clerk1")

    other = _apply(engine, _user_created("ev-1", "auth0", "ana@example.org"))
    none = _apply(engine, _user_created("ev-2", "clerk", None))

    assert isinstance(other, Skipped) and isinstance(none, Skipped)
    assert none.reason.startswith("no_email")
    with engine.connect() as connection:
        stored = rows.get_invitation(connection, invitation_id=invitation)
    assert stored is not None and stored["status"] == "sent"
    assert _signals(engine) == []


def test_a_look_alike_or_unverified_email_closes_nothing(engine: Engine) -> None:
    invitation = _sent(engine, "clerk", "kim@example.org", "inv_clerk1")

    kelvin = _apply(engine, _user_created("ev-1", "clerk", "\u212aim@example.org"))
    unverified = _apply(engine, _user_created("ev-2", "clerk", "kim@example.org", verified=False))
    unstated = _user_created("ev-3", "clerk", "kim@example.org")
    del unstated["data"]["email_verified"]  # an event normalized before the field existed
    older = _apply(engine, unstated)

    assert isinstance(kelvin, Skipped) and kelvin.reason.startswith("email_not_ascii")
    assert isinstance(unverified, Skipped) and unverified.reason.startswith("email_unverified")
    assert isinstance(older, Skipped) and older.reason.startswith("email_unverified")
    with engine.connect() as connection:
        stored = rows.get_invitation(connection, invitation_id=invitation)
    assert stored is not None and stored["status"] == "sent"
    assert _signals(engine) == []


def test_the_connectors_say_whether_the_email_is_verified() -> None:
    clerk = orjson.loads(connector("clerk").sample("user.created"))
    [verified] = connector("clerk").normalize(_body_event("clerk", "user.created", clerk))
    clerk["data"]["email_addresses"][0]["verification"]["status"] = "unverified"
    [unverified] = connector("clerk").normalize(_body_event("clerk", "user.created", clerk))
    auth0 = orjson.loads(connector("auth0").sample("ss"))
    [plain] = connector("auth0").normalize(_body_event("auth0", "ss", auth0))
    auth0[0]["data"]["details"] = {"email_verified": True}
    [said] = connector("auth0").normalize(_body_event("auth0", "ss", auth0))

    assert verified.data["email_verified"] is True and unverified.data["email_verified"] is False
    assert plain.data["email_verified"] is False  # Auth0's signup log: unverified unless said
    assert said.data["email_verified"] is True


def _body_event(partner: str, event_type: str, body: Any) -> Any:
    from integration_hub.connectors.base import PartnerEvent

    entry = body[0] if isinstance(body, list) else body
    return PartnerEvent(
        partner_event_id=str(entry.get("log_id") or entry["data"]["id"]),
        event_type=event_type,
        body=orjson.dumps(entry),
    )


def test_a_clerk_organization_invitation_accepted_is_not_mapped() -> None:
    # The hub makes instance invitations (inv_): an organization invitation's acceptance
    # (orginv_) could never name one, so it is not an event the hub takes.
    assert "organizationInvitation.accepted" not in connector("clerk").manifest.event_map
