"""The escalation handler on `message.received` (SQLite file, PostgreSQL when configured):
which message opens a conversation (one row, one queued workflow start with its context and
tags), which goes to the open one, which is skipped, and that details never hold the phone or
the message."""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from integration_hub.orchestration.escalation import (
    apply_event,
    conversation_id_for,
    message_id_for,
)
from integration_hub.orchestration.escalation_rules import load_rules
from integration_hub.orchestration.handlers import HandlerContext, registered_handlers
from integration_hub.orchestration.outbox import Outbox
from integration_hub.orchestration.outcomes import Skipped
from integration_hub.orchestration.support_conversation import workflow_id
from integration_hub.orchestration.support_records import IdleRecord, SupportActivities
from integration_hub.settings import Settings
from integration_hub.storage import cleaners, contacts, dialect
from integration_hub.storage import contact_tags as tag_rows
from integration_hub.storage import support as rows
from integration_hub.storage.engine import begin_write
from integration_hub.storage.rows import utcnow
from integration_hub.storage.tables import workflow_outbox

PHONE = "+13055550123"
NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
IDLE = timedelta(hours=72)
RULES = load_rules()


def _message(event_id: str, body: str, *, phone: str = PHONE, **data: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "partner": "twilio",
        "type": "message.received",
        "data": {"message_sid": "SM1", "account_sid": "AC1", "channel": "sms", "from": phone,
                 "to": "+13055550000", "body": body, "media_urls": [], "profile_name": None,
                 "locale_hint": None, **data},
    }  # fmt: skip


def _apply(
    engine: Engine, event: dict[str, Any], *, now: datetime = NOW, provider: str | None = "inbox"
) -> str | Skipped:
    with begin_write(engine) as connection:
        return apply_event(connection, event, provider=provider, rules=RULES, idle=IDLE,
                           outbox=Outbox(), now=now)  # fmt: skip


def _queued(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        found = connection.execute(select(workflow_outbox).order_by(workflow_outbox.c.id)).all()
    return [dict(r._mapping) for r in found]


def _conversation(engine: Engine, conversation_id: str) -> dict[str, Any]:
    with engine.connect() as connection:
        found = rows.get_conversation(connection, conversation_id=conversation_id)
    assert found is not None
    return found


def test_a_matching_message_opens_a_conversation_once(engine: Engine) -> None:
    event = _message("ev-1", "¡Urgente! No puedo entrar", locale_hint="es",
                     profile_name="Lucía")  # fmt: skip

    outcome = _apply(engine, event)
    replayed = _apply(engine, event)

    conversation = conversation_id_for("ev-1")
    assert outcome == f"conversation {conversation} opening (lockout, urgent)"
    assert isinstance(replayed, Skipped) and replayed.reason.startswith("opened_already")
    stored = _conversation(engine, conversation)
    assert (stored["status"], stored["phone"], stored["channel"], stored["language"]) == (
        "opening", PHONE, "sms", "es")  # fmt: skip
    assert stored["reasons"] == ["lockout", "urgent"] and stored["provider"] == "inbox"
    [start] = _queued(engine)
    assert (start["kind"], start["workflow_type"], start["workflow_id"], start["dedup"]) == (
        "start", "support.conversation", workflow_id(conversation), "ev-1")  # fmt: skip
    sent = start["input"]
    assert sent["messages"] == [{"message_id": message_id_for("ev-1"),
                                 "body": "¡Urgente! No puedo entrar",
                                 "received_at": NOW.isoformat()}]  # fmt: skip
    assert (sent["phone"], sent["name"], sent["language"]) == (PHONE, "Lucía", "es")
    assert sent["tags"] == ["escalation", "lockout", "urgent"]
    assert (sent["channel"], sent["context"]["lines"]) == ("sms", [])  # no line repeats it
    assert sent["idle_seconds"] == IDLE.total_seconds()
    for detail in (outcome, replayed.reason):
        assert PHONE not in detail and "puedo" not in detail


def test_the_next_message_goes_to_the_open_conversation_matching_or_not(engine: Engine) -> None:
    _apply(engine, _message("ev-1", "the door is broken"))
    conversation = conversation_id_for("ev-1")

    later = NOW + timedelta(hours=1)
    outcome = _apply(engine, _message("ev-2", "thanks, also: where is the wifi?"), now=later)

    assert outcome == f"message queued to conversation {conversation}"
    _start, signal = _queued(engine)
    assert (signal["kind"], signal["workflow_id"], signal["signal"], signal["dedup"]) == (
        "signal", workflow_id(conversation), "message", "ev-2")  # fmt: skip
    assert signal["signal_input"] == {"message_id": message_id_for("ev-2"),
                                      "body": "thanks, also: where is the wifi?",
                                      "received_at": later.isoformat()}  # fmt: skip
    assert _conversation(engine, conversation)["last_message_at"] == later


def test_an_idle_conversation_lets_the_next_match_open_anew(engine: Engine) -> None:
    _apply(engine, _message("ev-1", "leak in the kitchen"))
    first = conversation_id_for("ev-1")
    with begin_write(engine) as connection:
        rows.mark_open(connection, conversation_id=first, provider_conversation_id="c1",
                       provider_contact_id="ct1")  # fmt: skip
    much_later = NOW + IDLE + timedelta(minutes=1)

    quiet = _apply(engine, _message("ev-2", "hello again"), now=much_later)
    opened = _apply(engine, _message("ev-3", "leak again!"), now=much_later)

    assert isinstance(quiet, Skipped) and quiet.reason.startswith("no_rule_matched")
    assert _conversation(engine, first)["status"] == "idle"
    assert opened == f"conversation {conversation_id_for('ev-3')} opening (leak)"
    assert [m["workflow_id"] for m in _queued(engine)] == [
        workflow_id(first), workflow_id(conversation_id_for("ev-3"))]  # fmt: skip


def test_a_failed_conversation_lets_the_next_match_open_anew(engine: Engine) -> None:
    _apply(engine, _message("ev-1", "emergency"))
    with begin_write(engine) as connection:
        assert rows.mark_failed(connection, conversation_id=conversation_id_for("ev-1"),
                                error="call_failed: 500")  # fmt: skip

    again = _apply(engine, _message("ev-2", "EMERGENCY"))

    assert again == f"conversation {conversation_id_for('ev-2')} opening (urgent)"


def test_what_never_escalates(engine: Engine) -> None:
    unconfigured = _apply(engine, _message("ev-1", "urgent"), provider=None)
    stop = _apply(engine, _message("ev-2", " STOP "))
    baja = _apply(engine, _message("ev-3", "Baja"))
    short_code = _apply(engine, _message("ev-4", "urgent", phone="ACME"))
    nothing = _apply(engine, _message("ev-5", "see you at 3"))
    empty = _apply(engine, _message("ev-6", "   "))

    reasons = [o.reason.split(":")[0] for o in (unconfigured, stop, baja, short_code, nothing,
                                                 empty) if isinstance(o, Skipped)]  # fmt: skip
    assert reasons == ["support_not_configured", "consent_keyword", "consent_keyword",
                       "not_a_phone", "no_rule_matched", "empty"]  # fmt: skip
    assert _queued(engine) == []


def test_a_cleaner_is_named_tagged_and_the_contacts_hub_tags_join(engine: Engine) -> None:
    with begin_write(engine) as connection:
        cleaners.add_cleaner(connection, name="Marta Díaz", phone=PHONE, language="es")
        contacts.ensure_contact(connection, phone=PHONE, locale="es")
        for tag in ("vip", "escalation"):
            tag_rows.add_tag(connection, phone=PHONE, tag=tag, source=tag_rows.TagSource.HUB,
                         provider=None)  # fmt: skip
        # Mirrored from the inbox: the inbox's own, never added to an escalation by the hub.
        tag_rows.add_tag(connection, phone=PHONE, tag="late-checkout",
                         source=tag_rows.TagSource.INBOX, provider="inbox")  # fmt: skip

    _apply(engine, _message("ev-1", "el sofá está roto", channel="whatsapp"))

    [start] = _queued(engine)
    sent = start["input"]
    assert (sent["name"], sent["language"], sent["channel"]) == ("Marta Díaz", "es", "whatsapp")
    assert sent["tags"] == ["escalation", "damage", "cleaner", "vip"]
    assert sent["context"]["lines"] == ["Cleaner: Marta Díaz"]  # the channel is a field


def test_the_registered_handler_skips_while_no_inbox_is_configured(
    engine: Engine, tmp_path: Any
) -> None:
    [handler] = [h for h in registered_handlers() if h.name == "escalation"]
    context = HandlerContext(settings=Settings(home=tmp_path))

    with begin_write(engine) as connection:
        outcome = handler.apply(connection, _message("ev-1", "urgent"), context)

    assert isinstance(outcome, Skipped) and outcome.reason.startswith("support_not_configured")


def test_a_replayed_message_to_an_open_conversation_is_queued_once(engine: Engine) -> None:
    _apply(engine, _message("ev-1", "the door is broken"))
    conversation = conversation_id_for("ev-1")
    later = NOW + timedelta(hours=1)

    _apply(engine, _message("ev-2", "any news?"), now=later)
    replayed = _apply(engine, _message("ev-2", "any news?"), now=later + timedelta(hours=1))

    assert isinstance(replayed, Skipped) and replayed.reason.startswith("replayed")
    assert len(_queued(engine)) == 2
    assert _conversation(engine, conversation)["last_message_at"] == later


def test_a_replayed_old_message_stays_out_of_the_current_conversation(engine: Engine) -> None:
    _apply(engine, _message("ev-1", "the door is broken"))
    _apply(engine, _message("ev-2", "any news?"), now=NOW + timedelta(hours=1))
    with begin_write(engine) as connection:  # closed in the inbox
        rows.mark_closed(connection, conversation_id=conversation_id_for("ev-1"))
    days_later = NOW + timedelta(days=5)
    _apply(engine, _message("ev-3", "urgent: no water"), now=days_later)
    current = conversation_id_for("ev-3")

    replays = [_apply(engine, _message(e, b), now=days_later + timedelta(minutes=1))
               for e, b in (("ev-1", "the door is broken"), ("ev-2", "any news?"))]  # fmt: skip

    assert all(isinstance(r, Skipped) and r.reason.startswith("replayed") for r in replays)
    assert [m["workflow_id"] for m in _queued(engine)][-1] == workflow_id(current)  # nothing new
    assert len(_queued(engine)) == 3


def test_a_replayed_matching_message_of_a_closed_conversation_opens_nothing(
    engine: Engine,
) -> None:
    _apply(engine, _message("ev-1", "the door is broken"))
    _apply(engine, _message("ev-2", "and a leak too"), now=NOW + timedelta(hours=1))
    with begin_write(engine) as connection:
        rows.mark_closed(connection, conversation_id=conversation_id_for("ev-1"))

    replayed = _apply(engine, _message("ev-2", "and a leak too"), now=NOW + timedelta(days=2))

    assert isinstance(replayed, Skipped) and replayed.reason.startswith("replayed")
    with engine.connect() as connection:
        assert rows.active_conversation(connection, phone=PHONE) is None  # no row left opening
    assert len(_queued(engine)) == 2


def test_a_row_closed_meanwhile_takes_no_message_and_keeps_its_time(engine: Engine) -> None:
    _apply(engine, _message("ev-1", "the door is broken"))
    conversation = conversation_id_for("ev-1")
    with begin_write(engine) as connection:
        rows.mark_closed(connection, conversation_id=conversation)
        # The handler read the row as open before the close committed: its touch says no.
        touched = rows.touch(connection, conversation_id=conversation, when=NOW + IDLE)

    assert touched is False
    assert _conversation(engine, conversation)["last_message_at"] == NOW


def test_the_idle_write_waits_for_a_message_being_queued(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serializes writers already")
    _apply(engine, _message("ev-1", "the door is broken"), now=utcnow() - timedelta(minutes=1))
    conversation = conversation_id_for("ev-1")
    idle = SupportActivities(engine).record_idle
    record = IdleRecord(conversation, utcnow().isoformat(), PHONE)
    with ThreadPoolExecutor(max_workers=1) as pool, begin_write(engine) as connection:
        # The handler holds the phone's lock; the workflow's idle timer fires meanwhile.
        dialect.serialize_on(connection, key=rows.phone_lock(PHONE))
        pending = pool.submit(idle, record)
        deadline = time.monotonic() + 30
        while not pending.done() and not _waits_on_a_lock(engine) and time.monotonic() < deadline:
            with contextlib.suppress(FutureTimeout):
                pending.result(timeout=0.05)
        queued = apply_event(connection, _message("ev-2", "hello?"), provider="inbox",
                             rules=RULES, idle=IDLE, outbox=Outbox(), now=utcnow())  # fmt: skip
    outcome = pending.result(timeout=30)

    assert queued == f"message queued to conversation {conversation}"
    assert (outcome.idled, outcome.active) == (False, True)  # the signal will find it waiting
    assert _conversation(engine, conversation)["status"] == "opening"


def _waits_on_a_lock(engine: Engine) -> bool:
    with engine.connect() as connection:
        waiting = connection.execute(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        ).scalar_one()
    return bool(waiting)


def test_a_quiet_row_still_opening_is_left_to_its_workflow(engine: Engine) -> None:
    _apply(engine, _message("ev-1", "leak in the kitchen"))
    first = conversation_id_for("ev-1")
    opened = _apply(engine, _message("ev-2", "leak again!"), now=NOW + IDLE + timedelta(minutes=1))

    assert opened == f"conversation {conversation_id_for('ev-2')} opening (leak)"
    assert _conversation(engine, first)["status"] == "opening"  # its open may still succeed
