"""The escalation round trip end to end, for each support inbox (Intercom, Front) and database:
a served hub with its real worker on the session's Temporal dev server, the real normalizer and
dispatch, the real partner calls against local stand-ins of the inbox's API and of Twilio's
Messages API. A guest's signed WhatsApp message opens one conversation in the inbox, the next
one joins it, the agent's signed public reply reaches the guest once, an internal note reaches
no one, `hub doctor` shows the inbox's support evidence, and the agent's close ends it; tags
meet in the hub and the inbox; a registered cleaner's SMS escalates named and tagged. No
personal data reaches the hub's logs on the way."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from structlog.testing import capture_logs

from integration_hub.connectors.partners import PARTNERS
from integration_hub.doctor import diagnose
from integration_hub.runtime import Hub
from integration_hub.secrets import EnvSecretSource
from tests.connectors.twilio.support import (
    PUBLIC_BASE_URL,
    inbound,
    inbound_whatsapp,
    post,
    settled,
)
from tests.helpers import (
    TWILIO_WHATSAPP_NUMBER,
    local_secrets,
    make_settings,
    serve_hub,
    wait_until,
)
from tests.orchestration.round_trip import MessagesApi, StandIns, Trip, polled
from tests.orchestration.support_inboxes import Inbox, Opened, event_id, make_inbox
from tests.partner_server import PartnerServer, Reply

GUEST = "+34612345678"
URGENT = "No puedo entrar, la llave no funciona, urgente"
LATER = "Sigo esperando en la puerta"
SUPPORT_STEPS = ("a support conversation created", "an escalation round trip")


@pytest.fixture(scope="module")
def stand_ins() -> Iterator[StandIns]:
    current: list[Inbox] = []
    messages_api = MessagesApi()
    with (
        PartnerServer(lambda request: current[-1](request)) as inbox_api,
        PartnerServer(messages_api) as twilio,
    ):
        yield StandIns(inbox_api, twilio, messages_api, current)


@pytest.fixture(params=["intercom", "front"])
async def trip(
    request: pytest.FixtureRequest, stand_ins: StandIns, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path, database_url: str, temporal_address: str,
) -> AsyncIterator[Trip]:  # fmt: skip
    inbox = make_inbox(request.param)
    stand_ins.current.append(inbox)
    stand_ins.twilio.requests.clear()
    stand_ins.messages_api.refusal = None
    # The partners' own settings are read from HUB_<PARTNER>_* when the worker builds them.
    for name, value in inbox.environment(stand_ins.inbox_api.url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HUB_TWILIO_API_BASE_URL", stand_ins.twilio.url)
    settings = make_settings(tmp_path, database_url, temporal_address,
                             public_base_url=PUBLIC_BASE_URL, support_provider=inbox.name)  # fmt: skip
    secrets = EnvSecretSource(environ={**local_secrets(), **inbox.secrets()})
    with capture_logs() as logs:
        async with serve_hub(Hub(settings, secrets=secrets)) as running:
            yield Trip(running, inbox, stand_ins.twilio, stand_ins.messages_api)
    # Personal data goes to the inbox and the messaging partner, never into the hub's logs.
    personal = (GUEST, GUEST[1:], URGENT, LATER, inbox.reply_text, "Lucía", "Marta", "sofá")
    leaks = [entry for entry in logs if any(value in repr(entry) for value in personal)]
    assert leaks == []
    refused = getattr(getattr(inbox, "fake", None), "refused", [])
    assert refused == []  # every call the hub made was the documented one


def _evidence(trip: Trip) -> dict[str, bool | None]:
    """The inbox's support steps as `hub doctor` reports them."""
    [partner] = [p for p in PARTNERS if p.name == trip.inbox.name]
    [report] = diagnose(secrets=EnvSecretSource(environ={}), engine=trip.hub.hub.engine,
                        partners=[partner])  # fmt: skip
    return {item.step: item.done for item in report.checklist if item.step in SUPPORT_STEPS}


def _runs(shown: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {
        run["handler"]: (run["status"], run["last_error"])
        for event in shown["events"]
        for run in event["handlers"]
    }


async def _guest_writes(trip: Trip, body: str) -> dict[str, Any]:
    # A fresh MessageSid each time: the hub's conversation and workflow ids derive from it,
    # and the session's Temporal server still runs the conversations of earlier tests.
    sid = "SM" + uuid.uuid4().hex
    answer = await post(trip.hub, inbound_whatsapp(sid, body, sender=GUEST))
    assert answer.status_code == 200, answer.text
    return await settled(trip.hub, sid)


async def _escalated(trip: Trip) -> tuple[Opened, str]:
    """Step 1: the guest's urgent message opens one conversation; (it, the hub's id)."""
    shown = await _guest_writes(trip, URGENT)
    assert _runs(shown)["escalation"][0] == "completed", shown
    [row] = await wait_until(
        polled(trip.rows), lambda rows: bool(rows) and rows[0]["status"] == "open"
    )
    [opened] = trip.inbox.opened()
    assert trip.inbox.contacts(GUEST) == 1
    assert (row["provider"], row["provider_conversation_id"]) == (
        trip.inbox.name,
        opened.conversation_id,
    )
    return opened, str(row["id"])


async def test_a_guest_escalation_opens_one_conversation_and_the_reply_comes_back(
    trip: Trip,
) -> None:
    assert _evidence(trip) == dict.fromkeys(SUPPORT_STEPS, False)  # nothing yet
    opened, escalation_id = await _escalated(trip)

    assert opened.contact_phone == GUEST
    assert opened.first.startswith(URGENT)
    assert opened.first.count("Channel: whatsapp") == 1  # the context, shown once
    assert "Language: es" in opened.first
    assert opened.tags == {"escalation", "lockout", "urgent"}

    # Step 2: the guest's next message joins that conversation.
    await _guest_writes(trip, LATER)
    await wait_until(polled(trip.inbox.opened), lambda found: bool(found[0].later))
    [joined] = trip.inbox.opened()
    assert joined.conversation_id == opened.conversation_id
    assert [LATER in message for message in joined.later] == [True]

    # Step 3: the agent's public reply reaches the guest on WhatsApp, once.
    reply_id = event_id()
    reply = trip.inbox.reply(opened, escalation_id, reply_id)
    assert (await trip.deliver(reply))["status"] == "accepted"
    shown = await trip.handled(trip.inbox.name, reply_id)
    assert _runs(shown)["support"][0] == "completed", shown
    [sent] = await wait_until(polled(trip.sent), bool)
    assert (sent["To"], sent["From"], sent["Body"]) == (
        [f"whatsapp:{GUEST}"], [f"whatsapp:{TWILIO_WHATSAPP_NUMBER}"], [trip.inbox.reply_text])  # fmt: skip
    assert (await trip.deliver(reply))["status"] == "duplicate"

    # Step 4: an internal note relays nothing (nor did the redelivered reply).
    note_id = event_id()
    await trip.deliver(trip.inbox.note(opened, escalation_id, note_id))
    noted = await trip.handled(trip.inbox.name, note_id)
    assert (noted["status"], noted["events"]) == ("ignored", [])
    assert len(trip.sent()) == 1
    [row] = trip.rows()
    assert (row["status"], row["relay_count"]) == ("open", 1)

    # Step 6: doctor shows both of the inbox's support steps done.
    done = dict.fromkeys(SUPPORT_STEPS, True)  # once Twilio's answer is recorded
    assert await wait_until(polled(lambda: _evidence(trip)), lambda found: found == done) == done

    # The agent closes it: the conversation's workflow ends, and the guest's next urgent
    # message opens a new conversation.
    closed_id = event_id()
    await trip.deliver(trip.inbox.close(opened, escalation_id, closed_id))
    assert _runs(await trip.handled(trip.inbox.name, closed_id))["support"][0] == "completed"
    client = trip.hub.hub.temporal_client
    assert client is not None
    handle = client.get_workflow_handle(f"support.conversation/{escalation_id}")
    assert await asyncio.wait_for(handle.result(), timeout=30) == "closed"
    await _guest_writes(trip, URGENT)
    rows = await wait_until(polled(trip.rows), lambda rows: len(rows) == 2 and all(
        r["status"] in {"open", "closed"} for r in rows))  # fmt: skip
    assert sorted(r["status"] for r in rows) == ["closed", "open"]
    assert (len(trip.inbox.opened()), trip.inbox.contacts(GUEST)) == (2, 1)


async def test_tags_meet_in_the_hub_and_in_the_inbox(trip: Trip) -> None:
    opened, escalation_id = await _escalated(trip)

    # Step 5, inbox to hub: tags the agent adds (on the contact, on the conversation) reach
    # the hub's contact.
    for delivery in (trip.inbox.tag(opened.contact_id, GUEST, "vip", tag_id := event_id()),
                     trip.inbox.conversation_tag(opened, escalation_id, "late-checkout",
                                                 on_conversation := event_id())):  # fmt: skip
        await trip.deliver(delivery)
    for delivered in (tag_id, on_conversation):
        shown = await trip.handled(trip.inbox.name, delivered)
        assert _runs(shown)["support"][0] == "completed", shown
    tags = (await trip.hub.admin.get(f"/api/contacts/{quote(GUEST)}/tags")).json()["tags"]
    assert {(t["tag"], t["source"]) for t in tags} == {("vip", "inbox"), ("late-checkout", "inbox")}

    # Hub to inbox: an operator's tag reaches the inbox's contact.
    put = await trip.hub.admin.put(f"/api/contacts/{quote(GUEST)}/tags/property-manager")
    assert put.status_code == 200, put.text
    assert put.json()["workflow_id"]
    pushed = await wait_until(polled(lambda: trip.inbox.contact_tags(GUEST)), bool)
    assert pushed == {"property-manager"}  # the inbox's own "vip" is never pushed back


async def test_a_cleaner_s_sms_escalates_named_and_tagged_and_the_reply_goes_back_by_sms(
    trip: Trip,
) -> None:
    added = await trip.hub.admin.post(
        "/api/cleaners", json={"name": "Marta Díaz", "phone": GUEST, "language": "es"}
    )
    assert added.status_code == 201, added.text
    # Registering a cleaner pushes the hub's "cleaner" tag to the inbox's contact.
    assert await wait_until(polled(lambda: trip.inbox.contact_tags(GUEST)), bool) == {"cleaner"}

    answer = await post(trip.hub, inbound("SM" + uuid.uuid4().hex, "El sofá está roto", GUEST))
    assert answer.status_code == 200, answer.text
    [row] = await wait_until(
        polled(trip.rows), lambda rows: bool(rows) and rows[0]["status"] == "open"
    )
    [opened] = trip.inbox.opened()
    assert trip.inbox.contacts(GUEST) == 1  # the contact the tag push made
    assert "Cleaner: Marta Díaz" in opened.first and "Channel: sms" in opened.first
    assert opened.tags == {"escalation", "damage", "cleaner"}

    reply_id = event_id()
    await trip.deliver(trip.inbox.reply(opened, str(row["id"]), reply_id))
    [sent] = await wait_until(polled(trip.sent), bool)
    assert (sent["To"], sent["Body"]) == ([GUEST], [trip.inbox.reply_text])


async def test_a_reply_twilio_refuses_leaves_the_round_trip_undone(trip: Trip) -> None:
    """Doctor's round trip means the reply reached the phone, not that it was queued."""
    opened, escalation_id = await _escalated(trip)
    # Twilio's answer outside WhatsApp's 24-hour window (error 63016).
    trip.messages_api.refusal = Reply(
        400, {"code": 63016, "message": "outside the allowed window", "status": 400}
    )

    reply_id = event_id()
    await trip.deliver(trip.inbox.reply(opened, escalation_id, reply_id))
    await wait_until(polled(lambda: trip.relay_states()), lambda states: states == ["failed"])

    assert _evidence(trip) == {SUPPORT_STEPS[0]: True, SUPPORT_STEPS[1]: False}
