"""The support handler on the inbox's `support.*` events (SQLite file, PostgreSQL when
configured): an agent's reply relayed once through the messaging partner's send workflow,
closing and assigning the hub's conversation, mirroring the inbox's tags without pushing them
back, and events about conversations the hub did not open changing nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import Engine, select

from integration_hub.connectors.messaging import send_workflow
from integration_hub.connectors.partners import provider_for
from integration_hub.orchestration.escalation import apply_event as escalate
from integration_hub.orchestration.escalation import conversation_id_for, conversation_tags
from integration_hub.orchestration.escalation_rules import load_rules
from integration_hub.orchestration.handlers import HandlerContext, registered_handlers
from integration_hub.orchestration.outbox import Outbox
from integration_hub.orchestration.outcomes import Skipped
from integration_hub.orchestration.support import apply_event, relay_id_for
from integration_hub.orchestration.support_conversation import workflow_id
from integration_hub.settings import Settings
from integration_hub.storage import contact_tags as tag_rows
from integration_hub.storage import contacts
from integration_hub.storage import support as rows
from integration_hub.storage.engine import begin_write
from integration_hub.storage.tables import workflow_outbox

PHONE = "+13055550123"
NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
INBOX, MESSAGING = "testinbox", "testsms"
HUB_APPLIED = conversation_tags(load_rules())
IDLE = timedelta(hours=72)


def _opened(engine: Engine, *, channel: str = "whatsapp", open_it: bool = True) -> str:
    """A conversation the hub opened, open in the inbox as conv_1 of contact ct_1."""
    event = {"id": "in-1", "partner": "sms", "type": "message.received",
             "data": {"message_sid": "SM1", "account_sid": "AC1", "channel": channel,
                      "from": PHONE, "to": "+1", "body": "locked out!", "media_urls": [],
                      "profile_name": None, "locale_hint": "en"}}  # fmt: skip
    conversation = conversation_id_for("in-1")
    with begin_write(engine) as connection:
        escalate(connection, event, provider=INBOX, rules=load_rules(), outbox=Outbox(),
                 idle=timedelta(hours=72), now=NOW)  # fmt: skip
        if open_it:
            rows.mark_open(connection, conversation_id=conversation,
                           provider_conversation_id="conv_1", provider_contact_id="ct_1")  # fmt: skip
        tag_rows.remember_contact(
            connection, provider=INBOX, provider_contact_id="ct_1", phone=PHONE
        )
    return conversation


def _event(event_id: str, kind: str, *, conversation: str | None = "conv_1",
           phone: str | None = None, contact_id: str | None = "ct_1",
           hub_id: str | None = None, partner: str = INBOX, **data: Any) -> dict[str, Any]:  # fmt: skip
    contact = {"id": contact_id, "phone": phone, "email": None, "name": None}
    return {"id": event_id, "partner": partner, "type": f"support.{kind}",
            "data": {"provider_event_id": f"p-{event_id}", "conversation_id": conversation,
                     "contact": contact, "hub_escalation_id": hub_id, **data}}  # fmt: skip


def _reply(event_id: str, body: str = "A locksmith is on the way.", **kw: Any) -> dict[str, Any]:
    author = {"id": "ag_1", "name": "Ana"}
    return _event(event_id, "message_sent", message_id=f"m-{event_id}", body=body, author=author,
                  **kw)  # fmt: skip


def _apply(
    engine: Engine, event: dict[str, Any], *, messaging: str | None = MESSAGING,
    now: datetime = NOW,
) -> Any:  # fmt: skip
    with begin_write(engine) as connection:
        return apply_event(connection, event, outbox=Outbox(), messaging=messaging,
                           hub_applied=HUB_APPLIED, idle=IDLE, now=now)  # fmt: skip


def _queued(engine: Engine, after: int = 1) -> list[dict[str, Any]]:
    """What the handler queued (the escalation's own start excluded)."""
    with engine.connect() as connection:
        found = connection.execute(select(workflow_outbox).order_by(workflow_outbox.c.id)).all()
    return [dict(r._mapping) for r in found][after:]


def _conversation(engine: Engine, conversation: str) -> dict[str, Any]:
    with engine.connect() as connection:
        found = rows.get_conversation(connection, conversation_id=conversation)
    assert found is not None
    return found


def test_an_agents_reply_is_relayed_once_over_the_original_channel(engine: Engine) -> None:
    conversation = _opened(engine)
    labels = {"provider": INBOX}
    before = REGISTRY.get_sample_value("hub_support_relays_total", labels) or 0.0

    outcome = _apply(engine, _reply("r-1"))
    replayed = _apply(engine, _reply("r-1"))

    message_id = relay_id_for("r-1")
    assert outcome == f"reply {message_id} of conversation {conversation} relayed"
    assert replayed == f"reply {message_id} of conversation {conversation} relayed already"
    [send] = _queued(engine)
    assert (send["kind"], send["workflow_type"], send["workflow_id"]) == (
        "start", "testsms.send_message", f"testsms.send_message/{message_id}")  # fmt: skip
    assert send["input"] == {"message_id": message_id, "to": PHONE, "channel": "whatsapp",
                             "body": "A locksmith is on the way."}  # fmt: skip
    stored = _conversation(engine, conversation)
    assert stored["relay_count"] == 1 and stored["last_relay_at"] == NOW
    assert REGISTRY.get_sample_value("hub_support_relays_total", labels) == before + 1
    assert PHONE not in outcome and "locksmith" not in outcome


def test_a_reply_is_found_by_the_hub_id_the_inbox_carried_back(engine: Engine) -> None:
    conversation = _opened(engine, channel="sms")

    outcome = _apply(engine, _reply("r-1", conversation=None, hub_id=conversation))

    assert str(outcome).endswith("relayed")
    [send] = _queued(engine)
    assert send["input"]["channel"] == "sms" and send["input"]["to"] == PHONE


def test_the_hub_id_finds_a_conversation_still_opening(engine: Engine) -> None:
    conversation = _opened(engine, channel="sms", open_it=False)  # the inbox's id not yet known

    outcome = _apply(engine, _reply("r-1", conversation="conv_1", hub_id=conversation))

    assert str(outcome).endswith("relayed")


def test_the_hub_id_in_another_inbox_conversation_relays_nothing(engine: Engine) -> None:
    conversation = _opened(engine)  # open in the inbox as conv_1

    outcome = _apply(engine, _reply("r-1", conversation="conv_2", hub_id=conversation))

    assert isinstance(outcome, Skipped) and outcome.reason.startswith("not_a_hub_conversation")
    assert _queued(engine) == []


def test_what_is_not_relayed(engine: Engine) -> None:
    conversation = _opened(engine)

    foreign = _apply(engine, _reply("r-1", conversation="conv_9"))
    other_inbox = _apply(engine, _reply("r-2", partner="otherinbox", hub_id=conversation))
    empty = _apply(engine, _reply("r-3", body="  "))
    nobody = _apply(engine, _reply("r-4"), messaging=None)

    reasons = [o.reason.split(":")[0] for o in (foreign, other_inbox, empty, nobody)]
    assert reasons == ["not_a_hub_conversation", "not_a_hub_conversation", "empty_reply",
                       "no_messaging_partner"]  # fmt: skip
    assert _queued(engine) == []


def test_closing_in_the_inbox_closes_the_row_and_ends_the_workflow(engine: Engine) -> None:
    conversation = _opened(engine)

    outcome = _apply(engine, _event("c-1", "conversation_closed", closed_by=None))
    again = _apply(engine, _event("c-2", "conversation_closed", closed_by=None))

    assert outcome == f"conversation {conversation} closed"
    assert isinstance(again, Skipped) and again.reason.startswith("closed_already")
    assert _conversation(engine, conversation)["status"] == "closed"
    [signal] = _queued(engine)
    assert (signal["workflow_id"], signal["signal"], signal["dedup"]) == (
        workflow_id(conversation), "closed", "c-1")  # fmt: skip


def test_assignee_and_activity_update_the_row(engine: Engine) -> None:
    conversation = _opened(engine)
    later = NOW + timedelta(hours=2)

    assigned = _apply(engine, _event("a-1", "assignee_changed", assignee={"id": "ag_1",
                                                                         "name": "Ana"}))  # fmt: skip
    with begin_write(engine) as connection:
        apply_event(connection, _event("m-1", "message_received", message_id="x", body="hi"),
                    outbox=Outbox(), messaging=MESSAGING, hub_applied=HUB_APPLIED, idle=IDLE,
                    now=later)  # fmt: skip
    unassigned = _apply(engine, _event("a-2", "assignee_changed", assignee=None))

    assert assigned == f"conversation {conversation} assigned"
    assert unassigned == f"conversation {conversation} unassigned"
    stored = _conversation(engine, conversation)
    assert stored["assignee"] is None and stored["last_message_at"] == later
    assert _queued(engine) == []


def test_an_inbox_tag_joins_the_contacts_tags_and_is_not_pushed_back(engine: Engine) -> None:
    _opened(engine)
    with begin_write(engine) as connection:
        contacts.ensure_contact(connection, phone="+13055550999", locale="en")

    by_known_id = _apply(engine, _event("t-1", "tag_added", tag="VIP Guest", target="contact",
                                        conversation=None))  # fmt: skip
    by_phone = _apply(engine, _event("t-2", "tag_added", tag="late-checkout", target="contact",
                                     conversation=None, contact_id=None, phone="+13055550999"))  # fmt: skip
    stranger = _apply(engine, _event("t-5", "tag_added", tag="vip", target="contact",
                                     conversation=None, contact_id="ct_8", phone="+13055550777"))  # fmt: skip
    unknown = _apply(engine, _event("t-3", "tag_added", tag="x", target="contact",
                                    conversation=None, contact_id="ct_9"))  # fmt: skip
    again = _apply(engine, _event("t-4", "tag_added", tag="vip-guest", target="conversation"))

    assert by_known_id == "tag vip-guest added on the contact of an inbox contact"
    assert str(by_phone).startswith("tag late-checkout added")
    assert isinstance(unknown, Skipped) and unknown.reason.startswith("no_phone")
    assert isinstance(stranger, Skipped) and stranger.reason.startswith("unknown_contact")
    assert str(again).startswith("tag vip-guest already present")
    with engine.connect() as connection:
        tags = tag_rows.tags_of(connection, phone=PHONE)
        made = contacts.get_contact(connection, phone="+13055550777")
        stranger_tags = tag_rows.tags_of(connection, phone="+13055550777")
        stranger_id = tag_rows.phone_of_contact(connection, provider=INBOX,
                                                provider_contact_id="ct_8")  # fmt: skip
    assert [(t["tag"], t["source"], t["provider"]) for t in tags] == [
        ("vip-guest", "inbox", INBOX)]  # fmt: skip
    assert (made, stranger_tags, stranger_id) == (None, [], None)  # no opted-in contact made
    assert _queued(engine) == []  # no sync_tags: an inbox tag never goes back


def test_a_contact_holds_a_bounded_number_of_tags(engine: Engine) -> None:
    _opened(engine)
    with begin_write(engine) as connection:
        for n in range(50):
            tag_rows.add_tag(connection, phone=PHONE, tag=f"t{n}", source=tag_rows.TagSource.HUB,
                         provider=None)  # fmt: skip

    full = _apply(engine, _event("t-1", "tag_added", tag="one-more", target="contact"))

    assert isinstance(full, Skipped) and full.reason.startswith("too_many_tags")


def test_the_registered_handler_relays_through_the_messaging_partner(
    engine: Engine, tmp_path: Path
) -> None:
    _opened(engine)
    [handler] = [h for h in registered_handlers() if h.name == "support"]
    context = HandlerContext(settings=Settings(home=tmp_path))
    messaging = provider_for("messaging", None)
    assert messaging is not None

    with begin_write(engine) as connection:
        handler.apply(connection, _reply("r-1"), context)

    [send] = _queued(engine)
    assert send["workflow_type"] == send_workflow(messaging.name)


def test_the_hub_s_own_conversation_tags_do_not_echo_onto_the_contact(engine: Engine) -> None:
    _opened(engine)

    echoes = [_apply(engine, _event(f"t-{tag}", "tag_added", tag=tag, target="conversation"))
              for tag in ("escalation", "lockout", "cleaner")]  # fmt: skip
    on_contact = _apply(engine, _event("t-c", "tag_added", tag="lockout", target="contact"))

    assert all(isinstance(e, Skipped) and e.reason.startswith("hub_tag") for e in echoes)
    assert str(on_contact).startswith("tag lockout added")  # an agent tagged the contact
    with engine.connect() as connection:
        assert [t["tag"] for t in tag_rows.tags_of(connection, phone=PHONE)] == ["lockout"]


def _message(engine: Engine, event_id: str, body: str, now: datetime) -> Any:
    event = {"id": event_id, "partner": "sms", "type": "message.received",
             "data": {"message_sid": "SM2", "account_sid": "AC1", "channel": "sms",
                      "from": PHONE, "to": "+1", "body": body, "media_urls": [],
                      "profile_name": None, "locale_hint": "en"}}  # fmt: skip
    with begin_write(engine) as connection:
        return escalate(connection, event, provider=INBOX, rules=load_rules(), outbox=Outbox(),
                        idle=timedelta(hours=72), now=now)  # fmt: skip


def test_the_persons_answer_to_a_relayed_reply_goes_to_the_conversation(engine: Engine) -> None:
    conversation = _opened(engine)  # its last message at NOW
    relayed_at, answered_at = NOW + timedelta(hours=71), NOW + timedelta(hours=73)
    with begin_write(engine) as connection:
        apply_event(connection, _reply("r-1", body="Is the door open now?"), outbox=Outbox(),
                    messaging=MESSAGING, hub_applied=HUB_APPLIED, idle=IDLE, now=relayed_at)  # fmt: skip

    answer = _message(engine, "in-2", "yes, thank you", answered_at)  # matches no rule

    assert answer == f"message queued to conversation {conversation}"
    assert _conversation(engine, conversation)["last_message_at"] == answered_at


def test_a_conversation_closed_after_a_reply_takes_no_answer(engine: Engine) -> None:
    conversation = _opened(engine)
    _apply(engine, _reply("r-1"))
    _apply(engine, _event("c-1", "conversation_closed", closed_by=None))

    thanks = _message(engine, "in-2", "thanks!", NOW + timedelta(minutes=5))
    again = _message(engine, "in-3", "locked out again", NOW + timedelta(minutes=6))

    assert isinstance(thanks, Skipped) and thanks.reason.startswith("no_rule_matched")
    assert again == f"conversation {conversation_id_for('in-3')} opening (lockout)"
    assert _conversation(engine, conversation)["status"] == "closed"


def test_a_relay_is_counted_when_its_transaction_commits(engine: Engine) -> None:
    _opened(engine)
    labels = {"provider": INBOX}
    before = REGISTRY.get_sample_value("hub_support_relays_total", labels) or 0.0

    class Abandoned(Exception):
        pass

    try:
        with begin_write(engine) as connection:
            apply_event(connection, _reply("r-1"), outbox=Outbox(), messaging=MESSAGING,
                        hub_applied=HUB_APPLIED, idle=IDLE, now=NOW)  # fmt: skip
            raise Abandoned  # the run fails after the handler: its transaction rolls back
    except Abandoned:
        pass
    rolled_back = REGISTRY.get_sample_value("hub_support_relays_total", labels) or 0.0
    retried = _apply(engine, _reply("r-1"))

    assert rolled_back == before
    assert str(retried).endswith("relayed")
    assert REGISTRY.get_sample_value("hub_support_relays_total", labels) == before + 1


def test_a_reply_to_an_idle_conversation_reopens_it_under_a_new_run(engine: Engine) -> None:
    conversation = _opened(engine)
    with begin_write(engine) as connection:
        rows.mark_idle(connection, conversation_id=conversation, cutoff=NOW + IDLE)
    replied_at = NOW + IDLE + timedelta(hours=1)

    outcome = _apply(engine, _reply("r-1"), now=replied_at)
    replayed = _apply(engine, _reply("r-1"), now=replied_at)
    answer = _message(engine, "in-2", "thanks, it works", replied_at + timedelta(minutes=5))

    reopened = _conversation(engine, conversation)
    assert (reopened["status"], reopened["resumes"], reopened["closed_at"]) == ("open", 1, None)
    assert str(outcome).endswith("relayed; reopened") and str(replayed).endswith("already")
    _send, start, signal = _queued(engine)
    resumed_id = f"{workflow_id(conversation)}/r1"
    assert (start["kind"], start["workflow_type"], start["workflow_id"], start["dedup"]) == (
        "start", "support.conversation", resumed_id, "r-1")  # fmt: skip
    assert start["input"]["provider_conversation_id"] == "conv_1"
    assert (start["input"]["messages"], start["input"]["idle_seconds"]) == (
        [],
        IDLE.total_seconds(),
    )
    # The person's answer joins the agent's thread, in the resumed run.
    assert answer == f"message queued to conversation {conversation}"
    assert (signal["workflow_id"], signal["signal"]) == (resumed_id, "message")
