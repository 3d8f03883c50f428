"""The messaging contacts table, driven end to end by signed Twilio deliveries."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from integration_hub.orchestration import contacts
from integration_hub.storage import contacts as stored
from integration_hub.storage.engine import begin_write
from integration_hub.storage.rows import as_utc
from tests.connectors.twilio import support
from tests.connectors.twilio.support import contact, deliver, inbound, inbound_whatsapp
from tests.helpers import RunningHub

PHONE = "+13055550199"
GUEST = "+34612345678"


def _sid(suffix: str) -> str:
    """A fresh MessageSid per run: internal event ids (and so workflow ids) derive from it,
    and the session's one Temporal server sees both database runs of a test."""
    return f"SM{uuid.uuid4().hex[:31]}{suffix}"


@pytest.fixture
async def twilio_hub(
    tmp_path: Path, database_url: str, temporal_address: str
) -> AsyncIterator[RunningHub]:
    async for running in support.twilio_hub(tmp_path, database_url, temporal_address):
        yield running


def _history(running: RunningHub, phone: str) -> list[dict[str, Any]]:
    with running.hub.engine.connect() as connection:
        return stored.consent_history(connection, phone=phone)


async def test_stop_opts_the_contact_out_and_records_why(twilio_hub: RunningHub) -> None:
    event = await deliver(twilio_hub, inbound(_sid("1"), "STOP"))

    assert event["status"] == "processed"
    assert contact(twilio_hub, PHONE)["opted_out"] is True
    [entry] = _history(twilio_hub, PHONE)
    assert (entry["opted_out"], entry["keyword"], entry["source"], entry["channel"]) == (
        True,
        "STOP",
        "keyword",
        "sms",
    )


async def test_baja_opts_out_and_marks_the_contact_spanish(twilio_hub: RunningHub) -> None:
    await deliver(twilio_hub, inbound_whatsapp(_sid("2"), "Baja"))

    row = contact(twilio_hub, GUEST)
    assert (row["opted_out"], row["locale"]) == (True, "es")
    assert [e["keyword"] for e in _history(twilio_hub, GUEST)] == ["BAJA"]


async def test_opt_out_type_opts_the_contact_out(twilio_hub: RunningHub) -> None:
    params = inbound(_sid("3"), "NO MORE", OptOutType="STOP")

    await deliver(twilio_hub, params)

    assert contact(twilio_hub, PHONE)["opted_out"] is True
    assert [e["source"] for e in _history(twilio_hub, PHONE)] == ["opt_out_type"]


async def test_start_after_stop_opts_back_in_and_keeps_both_in_history(
    twilio_hub: RunningHub,
) -> None:
    await deliver(twilio_hub, inbound(_sid("4"), "STOP"))
    await deliver(twilio_hub, inbound(_sid("5"), "START"))

    assert contact(twilio_hub, PHONE)["opted_out"] is False
    assert [e["keyword"] for e in _history(twilio_hub, PHONE)] == ["STOP", "START"]


async def test_replayed_opt_out_adds_no_history(twilio_hub: RunningHub) -> None:
    sid = _sid("6")
    await deliver(twilio_hub, inbound(sid, "STOP"))

    replay = await twilio_hub.admin.post(f"/api/events/twilio/{sid}/replay")
    assert replay.status_code in (200, 202)
    await support.settled(twilio_hub, sid)

    assert len(_history(twilio_hub, PHONE)) == 1


async def test_whatsapp_message_opens_the_window_and_keeps_profile_and_locale(
    twilio_hub: RunningHub,
) -> None:
    before = datetime.now(UTC)
    sid = _sid("7")
    await deliver(twilio_hub, inbound_whatsapp(sid, "Hola, ¿a qué hora llega la limpieza?"))

    row = contact(twilio_hub, GUEST)
    assert as_utc(row["last_whatsapp_inbound_at"]) >= before.replace(microsecond=0)
    assert (row["profile_name"], row["locale"], row["opted_out"]) == ("Lucía", "es", False)


def _consent_event(event_id: str, kind: str, at: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": kind,
        "time": at,
        "data": {
            "phone": PHONE, "channel": "sms", "opted_out": kind == "contact.opted_out",
            "keyword": None, "source": "opt_out_type", "locale_hint": None,
            "message_sid": f"SM{event_id}",
        },
    }  # fmt: skip


def test_older_consent_event_does_not_overwrite_a_newer_one(engine: Engine) -> None:
    with begin_write(engine) as connection:
        contacts.apply_event(
            connection, _consent_event("b", "contact.opted_in", "2026-01-02T10:00:00.000Z")
        )
        detail = contacts.apply_event(
            connection, _consent_event("a", "contact.opted_out", "2026-01-01T10:00:00.000Z")
        )
        history = stored.consent_history(connection, phone=PHONE)
        row = stored.get_contact(connection, phone=PHONE)

    assert detail == "contact: opted out older than stored, kept"  # never the phone
    assert row is not None and row["opted_out"] is False
    assert [e["event_id"] for e in history] == ["a", "b"]  # the history keeps both, in time order


def test_a_message_s_detail_never_names_the_phone(engine: Engine) -> None:
    """Details reach the logs (handler_completed) and the admin API: no personal data."""
    event = {
        "id": "m1", "type": "message.received", "time": "2026-01-01T10:00:00.000Z",
        "data": {"from": GUEST, "channel": "whatsapp", "profile_name": "Lucía",
                 "locale_hint": "es", "body": "Hola"},
    }  # fmt: skip
    with begin_write(engine) as connection:
        detail = contacts.apply_event(connection, event)

    assert detail == "contact: inbound whatsapp recorded"
