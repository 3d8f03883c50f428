"""The e-mail suppression list on a real database (SQLite, and PostgreSQL when configured):
events built by the providers' own connectors, applied by the handler; then end to end, a
signed SendGrid batch through a running hub."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine

from integration_hub.connectors.base import PartnerEvent
from integration_hub.connectors.partners import build_connectors
from integration_hub.events import build_event
from integration_hub.orchestration.email_suppression import apply_event
from integration_hub.orchestration.handlers import handler_names_for
from integration_hub.storage.email_suppressions import get_suppression
from integration_hub.storage.engine import begin_write
from integration_hub.testing import sign_as
from tests.helpers import RunningHub, wait_until, webhook_secret

CONNECTORS = build_connectors()
ADDRESS = "Lucia.Perez@Example.org"
T0 = 1_750_000_000  # 2025-06-15T15:06:40Z


def _sendgrid(event: str, *, at: int = T0, **fields: Any) -> dict[str, Any]:
    """One internal event, built from a SendGrid entry by its connector."""
    entry = {
        "email": ADDRESS,
        "timestamp": at,
        "event": event,
        "sg_event_id": uuid.uuid4().hex,
        "sg_message_id": "m1.filter0001",
        **fields,
    }
    partner_event = PartnerEvent(entry["sg_event_id"], event, orjson.dumps(entry))
    [draft] = CONNECTORS["sendgrid"].normalize(partner_event)
    return dict(
        build_event(
            partner="sendgrid",
            partner_event_id=partner_event.partner_event_id,
            index=0,
            draft=draft,
        )
    )


def _resend(event_type: str, **data: Any) -> dict[str, Any]:
    payload = {
        "type": event_type,
        "created_at": "2025-06-15T15:06:40.000Z",
        "data": {"email_id": "e1", "to": [ADDRESS.upper()], **data},
    }
    event_id = f"msg_{uuid.uuid4().hex}"
    [draft] = CONNECTORS["resend"].normalize(
        PartnerEvent(event_id, event_type, orjson.dumps(payload))
    )
    return dict(build_event(partner="resend", partner_event_id=event_id, index=0, draft=draft))


def _apply(engine: Engine, event: dict[str, Any], limit: int = 3) -> str:
    with begin_write(engine) as connection:
        return apply_event(connection, event, soft_bounce_limit=limit)


def _row(engine: Engine, address: str = ADDRESS) -> dict[str, Any] | None:
    with engine.connect() as connection:
        return get_suppression(connection, address=address)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (lambda: _sendgrid("bounce", type="bounce"), "hard_bounce"),
        (lambda: _sendgrid("spamreport"), "complaint"),
        (lambda: _sendgrid("unsubscribe"), "unsubscribe"),
        (lambda: _sendgrid("group_unsubscribe", asm_group_id=3), "unsubscribe"),
        (lambda: _resend("email.bounced", bounce={"type": "Permanent"}), "hard_bounce"),
        (lambda: _resend("email.complained"), "complaint"),
        (lambda: _resend("email.suppressed", suppressed={"message": "listed"}), "provider"),
    ],
    ids=[
        "sg-bounce",
        "sg-spam",
        "sg-unsub",
        "sg-group",
        "rs-bounce",
        "rs-complaint",
        "rs-suppressed",
    ],
)
def test_a_suppressing_event_suppresses_at_once_with_why_and_when(
    engine: Engine, event: Any, reason: str
) -> None:
    detail = _apply(engine, event())

    row = _row(engine, ADDRESS.lower())  # stored lower-cased, found whatever the case
    assert row is not None
    assert (row["suppressed"], row["reason"]) == (True, reason)
    assert row["since"] == datetime.fromtimestamp(T0, UTC)
    assert ADDRESS.lower() not in detail and ADDRESS not in detail  # results never hold it


def test_soft_bounces_suppress_at_the_configured_limit(engine: Engine) -> None:
    for n in range(2):
        _apply(engine, _sendgrid("bounce", type="blocked", at=T0 + n))
        row = _row(engine)
        assert row is not None and (row["suppressed"], row["soft_bounces"]) == (False, n + 1)

    _apply(engine, _resend("email.bounced", bounce={"type": "Temporary"}))

    row = _row(engine)
    assert row is not None
    assert (row["suppressed"], row["reason"], row["soft_bounces"]) == (True, "soft_bounces", 3)


def test_a_lower_limit_suppresses_sooner(engine: Engine) -> None:
    _apply(engine, _sendgrid("bounce", type="blocked"), limit=1)
    row = _row(engine)
    assert row is not None and row["reason"] == "soft_bounces"


def test_the_same_event_applied_twice_counts_once(engine: Engine) -> None:
    event = _sendgrid("bounce", type="blocked")
    _apply(engine, event)
    assert "already applied" in _apply(engine, event)
    row = _row(engine)
    assert row is not None and row["soft_bounces"] == 1


def test_the_earliest_suppressing_event_is_kept_whatever_the_order(engine: Engine) -> None:
    _apply(engine, _sendgrid("unsubscribe", at=T0 + 60))
    _apply(engine, _sendgrid("bounce", type="bounce", at=T0))  # happened earlier, came later
    _apply(engine, _sendgrid("spamreport", at=T0 + 120))

    row = _row(engine)
    assert row is not None
    assert (row["reason"], row["since"]) == ("hard_bounce", datetime.fromtimestamp(T0, UTC))


def test_an_address_never_seen_is_not_suppressed(engine: Engine) -> None:
    _apply(engine, _sendgrid("spamreport"))
    assert _row(engine, "someone.else@example.org") is None


@pytest.mark.parametrize(
    "event_type", ["email.delivered", "email.opened", "email.clicked", "email.failed"]
)
def test_engagement_and_failures_do_not_reach_the_handler(event_type: str) -> None:
    assert "email-suppression" not in handler_names_for(event_type)


@pytest.mark.parametrize("event_type", ["email.bounced", "email.complained", "email.unsubscribed"])
def test_suppressing_types_reach_the_handler(event_type: str) -> None:
    assert list(handler_names_for(event_type)) == ["email-suppression"]


async def test_a_signed_sendgrid_batch_suppresses_its_hard_bounce(running_hub: RunningHub) -> None:
    """A batch with a hard bounce, a delivery and a malformed entry: answered 2xx, the bad entry
    kept apart, the bounce applied by the handler."""
    now = int(time.time())
    bounce_id, delivered_id = uuid.uuid4().hex, uuid.uuid4().hex
    batch = [
        {"email": "Ana@Example.org", "timestamp": now, "event": "bounce", "type": "bounce",
         "sg_event_id": bounce_id, "sg_message_id": "m2.filter", "reason": "550 no such user"},
        {"event": "open"},
        {"email": "ana@example.org", "timestamp": now, "event": "delivered",
         "sg_event_id": delivered_id, "sg_message_id": "m3.filter"},
    ]  # fmt: skip
    body = orjson.dumps(batch)
    headers = sign_as("sendgrid", body, secret=webhook_secret("sendgrid"))

    response = await running_hub.http.post("/webhooks/sendgrid", content=body, headers=headers)

    assert response.status_code == 200, response.text
    settled = await wait_until(
        lambda: running_hub.admin.get(f"/api/events/sendgrid/{bounce_id}"),
        lambda r: r.status_code == 200 and r.json()["status"] in {"processed", "failed"},
    )
    assert settled.json()["status"] == "processed"
    row = _row(running_hub.hub.engine, "ana@example.org")
    assert row is not None and (row["suppressed"], row["reason"]) == (True, "hard_bounce")
