"""The voice IVR through a running hub over real HTTP: each callback signed by the Twilio SDK
over the public URL with its query string, each answer parsed as TwiML."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, update

from integration_hub.runtime import Hub
from integration_hub.storage.contacts import ensure_contact
from integration_hub.storage.tables import contacts, raw_events
from tests.connectors.twilio.support import PUBLIC_BASE_URL, settled
from tests.connectors.twilio.voice_support import (
    CALL_SID,
    CALLER,
    RECORDING_SID,
    action_query,
    as_dict,
    call_params,
    digits,
    only,
    post_voice,
    query_of,
    recording_callback,
    says,
    twiml,
    twiml_of,
)
from tests.helpers import (
    TWILIO_AUTH_TOKEN,
    RunningHub,
    make_settings,
    partner_secrets,
    serve_hub,
)

OPERATOR = "+13055550177"
SPANISH, ENGLISH = ("Polly.Lupe", "es-US"), ("Polly.Joanna", "en-US")
ES_MENU = "Para reportar un problema, oprima 1. Para hablar con un operador, oprima 2."
EN_MENU = "To report a problem, press 1. To reach the operator, press 2."


@pytest.fixture
async def voice_hub(
    tmp_path: Path, database_url: str, temporal_address: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningHub]:
    monkeypatch.setenv("HUB_TWILIO_OPERATOR_NUMBER", OPERATOR)
    settings = make_settings(
        tmp_path, database_url, temporal_address, public_base_url=PUBLIC_BASE_URL
    )
    async with serve_hub(Hub(settings, secrets=partner_secrets())) as running:
        yield running


def _raw_ids(running: RunningHub) -> list[str]:
    with running.hub.engine.connect() as connection:
        return sorted(connection.execute(select(raw_events.c.partner_event_id)).scalars())


def _rejections(reason: str) -> float:
    labels = {"partner": "twilio", "reason": reason}
    return REGISTRY.get_sample_value("hub_rejections_total", labels) or 0.0


async def test_unknown_caller_hears_the_bilingual_prompt(voice_hub: RunningHub) -> None:
    verbs = twiml(await post_voice(voice_hub, call_params()))

    gather = only(verbs, "Gather")
    assert [v.tag for v in verbs] == ["Gather"]
    assert gather.attributes["numDigits"] == "1"
    assert gather.attributes["method"] == "POST"
    assert gather.attributes["actionOnEmptyResult"] == "true"
    assert action_query(gather.attributes["action"]) == {"step": "language", "seq": "1"}
    assert says(verbs) == [
        ("Para español, oprima 1.", *SPANISH),
        ("For English, press 2.", *ENGLISH),
    ]
    event = await settled(voice_hub, f"{CALL_SID}:0")
    [internal] = event["events"]
    assert internal["event"]["type"] == "call.received"
    assert internal["event"]["data"] == {
        "call_sid": CALL_SID,
        "account_sid": call_params()["AccountSid"],
        "from": CALLER,
        "to": call_params()["To"],
        "direction": "inbound",
        "language": None,
    }


async def test_a_whole_call_in_spanish_to_a_voicemail(voice_hub: RunningHub) -> None:
    entry = twiml(await post_voice(voice_hub, call_params()))
    language_action = only(entry, "Gather").attributes["action"]

    menu = twiml(await post_voice(voice_hub, digits("1"), query_of(language_action)))
    gather = only(menu, "Gather")
    assert action_query(gather.attributes["action"]) == {"step": "menu", "seq": "2", "lang": "es"}
    assert says(menu) == [(ES_MENU, *SPANISH)]

    record_answer = twiml(
        await post_voice(voice_hub, digits("1"), query_of(gather.attributes["action"]))
    )
    assert [v.tag for v in record_answer] == ["Say", "Record"]
    record = only(record_answer, "Record")
    assert action_query(record.attributes["action"]) == {"step": "report", "seq": "3", "lang": "es"}
    callback = record.attributes["recordingStatusCallback"]
    assert action_query(callback) == {"step": "recording", "seq": "3", "lang": "es"}
    assert as_dict(record) | {"action": "", "recordingStatusCallback": ""} == {
        "tag": "Record", "action": "", "recordingStatusCallback": "", "method": "POST",
        "maxLength": "120", "playBeep": "true", "finishOnKey": "#", "transcribe": "false",
        "recordingStatusCallbackMethod": "POST", "recordingStatusCallbackEvent": "completed",
    }  # fmt: skip
    assert says(record_answer)[0][1:] == SPANISH

    done = call_params("in-progress", RecordingUrl="https://api.twilio.com/x", Digits="#")
    thanks = twiml(await post_voice(voice_hub, done, query_of(record.attributes["action"])))
    assert [v.tag for v in thanks] == ["Say", "Hangup"]
    assert says(thanks) == [("Gracias. Recibimos su mensaje. Adiós.", *SPANISH)]

    status = twiml(await post_voice(voice_hub, recording_callback(), query_of(callback)))
    assert status == []  # Twilio ignores what a status callback is answered with

    selected = await settled(voice_hub, f"{CALL_SID}:2")
    assert selected["events"][0]["event"]["data"] == {
        "call_sid": CALL_SID, "step": "menu", "seq": 2, "digit": "1",
        "choice": "report_problem", "language": "es",
    }  # fmt: skip
    recording = await settled(voice_hub, f"{CALL_SID}:recording:{RECORDING_SID}:completed")
    [ready] = recording["events"]
    assert ready["event"]["type"] == "call.recording_ready"
    assert ready["event"]["data"]["recording_sid"] == RECORDING_SID
    assert ready["event"]["data"]["duration_seconds"] == 14
    assert ready["event"]["data"]["language"] == "es"
    assert _raw_ids(voice_hub) == sorted(
        [f"{CALL_SID}:{n}" for n in range(4)] + [f"{CALL_SID}:recording:{RECORDING_SID}:completed"]
    )


async def test_operator_option_dials_the_configured_number(voice_hub: RunningHub) -> None:
    verbs = twiml(await post_voice(voice_hub, digits("2"), "step=menu&seq=2&lang=en"))

    assert [v.tag for v in verbs] == ["Say", "Dial", "Hangup"]
    dial = only(verbs, "Dial")
    assert dial.text == OPERATOR
    assert dial.attributes["timeout"] == "20"
    assert says(verbs) == [("Connecting you to the operator.", *ENGLISH)]


async def test_invalid_digit_reprompts_with_the_next_seq_then_says_goodbye(
    voice_hub: RunningHub,
) -> None:
    first = twiml(await post_voice(voice_hub, digits("7"), "step=menu&seq=2&lang=es"))
    retry_action = only(first, "Gather").attributes["action"]
    assert action_query(retry_action) == {"step": "menu", "seq": "3", "lang": "es", "attempt": "1"}
    assert says(first) == [("Opción no válida.", *SPANISH), (ES_MENU, *SPANISH)]

    no_input = twiml(await post_voice(voice_hub, digits(""), query_of(retry_action)))
    last_action = only(no_input, "Gather").attributes["action"]
    assert action_query(last_action) == {"step": "menu", "seq": "4", "lang": "es", "attempt": "2"}

    goodbye = twiml(await post_voice(voice_hub, digits("9"), query_of(last_action)))
    assert [v.tag for v in goodbye] == ["Say", "Hangup"]
    assert says(goodbye) == [("No recibimos su selección. Adiós.", *SPANISH)]
    # Every prompt's answer is its own event: none is lost as a duplicate of the one before.
    assert _raw_ids(voice_hub) == [f"{CALL_SID}:2", f"{CALL_SID}:3", f"{CALL_SID}:4"]


async def test_a_retried_callback_gets_the_same_twiml_and_stores_nothing_new(
    voice_hub: RunningHub,
) -> None:
    first = await post_voice(voice_hub, digits("1"), "step=language&seq=1")
    again = await post_voice(voice_hub, digits("1"), "step=language&seq=1")

    assert again.content == first.content
    assert only(twiml(again), "Gather").attributes["action"].endswith("seq=2&lang=es")
    assert _raw_ids(voice_hub) == [f"{CALL_SID}:1"]


async def test_known_contact_hears_the_menu_in_their_language(voice_hub: RunningHub) -> None:
    with voice_hub.hub.engine.begin() as connection:
        ensure_contact(connection, phone=CALLER, locale="en")

    verbs = twiml(await post_voice(voice_hub, call_params()))

    gather = only(verbs, "Gather")
    assert action_query(gather.attributes["action"]) == {"step": "menu", "seq": "1", "lang": "en"}
    assert says(verbs) == [(EN_MENU, *ENGLISH)]
    event = await settled(voice_hub, f"{CALL_SID}:0")
    assert event["events"][0]["event"]["data"]["language"] == "en"


async def test_a_retried_incoming_call_follows_the_language_read_for_that_try(
    voice_hub: RunningHub,
) -> None:
    """The documented limit (voice.py): the answer is built from the fresh split, not the stored
    row, so an entry callback's retry speaks the language read for the retry."""
    with voice_hub.hub.engine.begin() as connection:
        ensure_contact(connection, phone=CALLER, locale="en")
    first = twiml(await post_voice(voice_hub, call_params()))
    with voice_hub.hub.engine.begin() as connection:
        connection.execute(update(contacts).values(locale="es"))

    again = twiml(await post_voice(voice_hub, call_params()))

    assert says(first) == [(EN_MENU, *ENGLISH)]
    assert says(again) == [(ES_MENU, *SPANISH)]
    assert _raw_ids(voice_hub) == [f"{CALL_SID}:0"]
    event = await settled(voice_hub, f"{CALL_SID}:0")
    assert event["events"][0]["event"]["data"]["language"] == "en"  # the first try's


async def test_final_status_callback_is_call_completed(voice_hub: RunningHub) -> None:
    params = call_params("completed", CallDuration="42", CallbackSource="call-progress-events")

    assert twiml(await post_voice(voice_hub, params, "step=status")) == []

    event = await settled(voice_hub, f"{CALL_SID}:status:completed")
    assert event["events"][0]["event"]["type"] == "call.completed"
    assert event["events"][0]["event"]["data"] == {
        "call_sid": CALL_SID,
        "status": "completed",
        "duration_seconds": 42,
    }


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("step=nowhere&seq=2&lang=es", "unknown_ivr_step"),
        ("step=thanks&seq=2&lang=es", "unknown_ivr_step"),  # a step that takes no callback
        ("step=menu&seq=0&lang=es", "bad_ivr_seq"),
        ("step=menu&seq=65&lang=es", "bad_ivr_seq"),
        ("step=menu&seq=99999999999999999999&lang=es", "bad_ivr_seq"),
        ("step=menu&lang=es", "bad_ivr_seq"),
        ("step=menu&seq=2&lang=fr", "bad_ivr_language"),
        ("step=menu&seq=2", "bad_ivr_language"),
        ("step=menu&seq=2&lang=es&attempt=3", "bad_ivr_attempt"),
    ],
)
async def test_a_callback_with_state_no_answer_of_ours_carries_is_refused(
    voice_hub: RunningHub, query: str, reason: str
) -> None:
    before = _rejections(reason)

    response = await post_voice(voice_hub, digits("1"), query)

    assert response.status_code == 400
    assert response.json()["error"] == reason
    assert _rejections(reason) == before + 1
    assert _raw_ids(voice_hub) == []


async def test_too_many_digits_are_refused(voice_hub: RunningHub) -> None:
    response = await post_voice(voice_hub, digits("1" * 40), "step=menu&seq=2&lang=es")

    assert response.status_code == 400
    assert response.json()["error"] == "malformed_digits"
    assert _raw_ids(voice_hub) == []


async def test_signature_without_the_query_string_is_refused(voice_hub: RunningHub) -> None:
    # Twilio signs the full URL, query included: state in the query cannot be swapped.
    response = await post_voice(
        voice_hub,
        digits("2"),
        "step=menu&seq=2&lang=en",
        signed_url=f"{PUBLIC_BASE_URL}/webhooks/twilio/voice",
    )

    assert response.status_code == 400
    assert response.json()["error"] == "signature_mismatch"
    assert _raw_ids(voice_hub) == []


async def test_without_an_operator_number_the_caller_hears_the_fallback_and_the_menu(
    twilio_hub: RunningHub,
) -> None:
    verbs = twiml(await post_voice(twilio_hub, digits("2"), "step=menu&seq=2&lang=es"))

    assert [v.tag for v in verbs] == ["Say", "Gather"]
    assert says(verbs) == [
        ("En este momento no hay un operador disponible.", *SPANISH),
        (ES_MENU, *SPANISH),
    ]
    action = only(verbs, "Gather").attributes["action"]
    assert action_query(action) == {"step": "menu", "seq": "3", "lang": "es"}


async def test_hub_send_posts_an_incoming_call_and_a_digit_press(
    voice_hub: RunningHub, tmp_path: Path
) -> None:
    """`hub send twilio incoming_call`, then `call_digits_es` (1 at the first prompt, posted
    to a URL without state as Twilio's default Gather action does), signed as Twilio would."""
    from typer.testing import CliRunner

    from integration_hub.cli import app

    env = {
        "HUB_HOME": str(tmp_path / "cli"),
        "HUB_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
    }
    answers = []
    for sample in ("incoming_call", "call_digits_es"):
        command = ["send", "twilio", sample, "--url", voice_hub.base_url]
        result = await asyncio.to_thread(CliRunner().invoke, app, command, env=env)
        assert result.exit_code == 0, result.output
        # The hub under test logs to the same stdout in this process: the answer is the JSON.
        answers.append(json.loads(result.output[result.output.rindex('{\n  "status_code"') :]))

    entry, pressed = (twiml_of(answer["response"].encode()) for answer in answers)
    assert action_query(only(entry, "Gather").attributes["action"])["step"] == "language"
    assert action_query(only(pressed, "Gather").attributes["action"]) == {
        "step": "menu", "seq": "2", "lang": "es",
    }  # fmt: skip
    assert [a["partner_event_id"].rsplit(":", 1)[1] for a in answers] == ["0", "1"]
    assert sorted(_raw_ids(voice_hub)) == sorted(a["partner_event_id"] for a in answers)
