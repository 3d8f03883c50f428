"""Voice callbacks in the connector: signatures over URLs with query strings cross-checked with
the SDK's RequestValidator both ways, the dedup keys, the mapping, and each refusal."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

import orjson
import pytest
from structlog.testing import capture_logs
from twilio.request_validator import RequestValidator

from integration_hub import events
from integration_hub.connectors.base import Delivery, PartnerEvent
from integration_hub.connectors.twilio.ivr import load_flow
from integration_hub.connectors.twilio.ivr_machine import MAX_SEQ
from integration_hub.connectors.twilio.samples import VOICE_SAMPLES
from integration_hub.connectors.twilio.voice import VoiceCallbacks
from integration_hub.connectors.twilio.webhook import VOICE_TYPES, TwilioWebhookConnector
from integration_hub.errors import MalformedPayload, SignatureError
from tests.connectors.twilio.support import FORM, inbound, sdk_signature
from tests.connectors.twilio.voice_support import (
    CALL_SID,
    CALLER,
    RECORDING_SID,
    call_params,
    digits,
    public_url,
    recording_callback,
    twiml_of,
)

TOKEN = "9f2b6a1c3d4e5f60718293a4b5c6d7e8"
NOW = 1_750_000_000.0
connector = TwilioWebhookConnector()


def delivery(params: dict[str, str], query: str = "", *, endpoint: str = "voice") -> Delivery:
    body = urlencode(params).encode()
    return Delivery(body, {"content-type": FORM}, public_url(query), NOW, endpoint)


def split_one(params: dict[str, str], query: str = "") -> PartnerEvent:
    [event] = connector.split(delivery(params, query))
    return event


def refusal(params: dict[str, str], query: str = "") -> str:
    with pytest.raises(MalformedPayload) as caught:
        connector.split(delivery(params, query))
    assert caught.value.status == 400
    return caught.value.reason


def normalized(event: PartnerEvent) -> list[events.CloudEvent]:
    built = [
        events.build_event(
            partner="twilio", partner_event_id=event.partner_event_id, index=i, draft=draft
        )
        for i, draft in enumerate(connector.normalize(event))
    ]
    for cloud_event in built:
        events.validate_event(cloud_event)
    return built


def test_a_callback_signed_by_the_sdk_over_its_query_string_verifies() -> None:
    params = digits("1")
    url = public_url("step=menu&seq=2&lang=es")
    signed = delivery(params, "step=menu&seq=2&lang=es")
    headers = {**signed.headers, "x-twilio-signature": sdk_signature(params, url=url, token=TOKEN)}

    connector.verify(Delivery(signed.body, headers, url, NOW, "voice"), [TOKEN], now=NOW)


def test_the_connectors_signature_over_a_query_string_validates_with_the_sdk() -> None:
    params = digits("2")
    url = public_url("step=menu&seq=2&lang=en")

    headers = connector.sign(urlencode(params).encode(), TOKEN, timestamp=0, url=url)

    assert RequestValidator(TOKEN).validate(url, params, headers["X-Twilio-Signature"])
    assert not RequestValidator(TOKEN).validate(public_url(), params, headers["X-Twilio-Signature"])


def test_a_signature_over_another_step_does_not_verify() -> None:
    params = digits("2")
    signature = sdk_signature(params, url=public_url("step=menu&seq=2&lang=en"), token=TOKEN)
    swapped = public_url("step=menu&seq=2&lang=es")
    body = urlencode(params).encode()
    headers = {"content-type": FORM, "x-twilio-signature": signature}

    with pytest.raises(SignatureError):
        connector.verify(Delivery(body, headers, swapped, NOW, "voice"), [TOKEN], now=NOW)


def test_dedup_keys_and_types_of_each_callback() -> None:
    assert (split_one(call_params()).partner_event_id, split_one(call_params()).event_type) == (
        f"{CALL_SID}:0",
        "incoming_call",
    )
    keyed = {
        (e.partner_event_id, e.event_type)
        for e in (
            split_one(digits("1"), "step=language&seq=1"),
            split_one(digits("7"), "step=menu&seq=2&lang=es"),
            split_one(call_params("in-progress", RecordingUrl="x"), "step=report&seq=3&lang=es"),
            split_one(recording_callback(), "step=recording&seq=3&lang=es"),
            split_one(recording_callback(status="absent"), "step=recording&seq=3"),
            split_one(call_params("completed", CallDuration="42"), "step=status"),
            split_one(call_params("in-progress"), "step=status"),
        )
    }
    assert keyed == {
        (f"{CALL_SID}:1", "menu_selected"),
        (f"{CALL_SID}:2", "menu_no_choice"),
        (f"{CALL_SID}:3", "recording_done"),
        (f"{CALL_SID}:recording:{RECORDING_SID}:completed", "recording_ready"),
        (f"{CALL_SID}:recording:{RECORDING_SID}:absent", "recording_status"),
        (f"{CALL_SID}:status:completed", "call_completed"),
        (f"{CALL_SID}:status:in-progress", "call_status"),
    }


def test_a_completed_recording_after_another_status_is_a_new_ready_event() -> None:
    earlier = [
        split_one(recording_callback(status=status), "step=recording&seq=3&lang=es")
        for status in ("in-progress", "failed")
    ]
    completed = split_one(recording_callback(), "step=recording&seq=3&lang=es")
    no_status = {**recording_callback()}
    del no_status["RecordingStatus"]
    unstated = split_one(no_status, "step=recording&seq=3&lang=es")

    keys = {event.partner_event_id for event in [*earlier, completed]}
    assert len(keys) == 3  # none a duplicate of another
    assert [event.event_type for event in earlier] == ["recording_status"] * 2
    assert completed.event_type == "recording_ready"
    assert [ready["type"] for ready in normalized(completed)] == ["call.recording_ready"]
    # No status at all is the ready callback, retried: the same key.
    assert (unstated.partner_event_id, unstated.event_type) == (
        completed.partner_event_id,
        "recording_ready",
    )


def test_console_urls_without_state_are_told_apart_by_their_parameters() -> None:
    """The Console's status URL may be set without `?step=status`; Twilio's default Gather
    action is the document's own URL (the answer to the first prompt, seq 1)."""
    assert split_one(call_params("completed")).event_type == "call_completed"
    assert split_one(recording_callback()).event_type == "recording_ready"
    pressed = split_one(digits("2"))
    assert (pressed.partner_event_id, pressed.event_type) == (f"{CALL_SID}:1", "menu_selected")
    [selected] = normalized(pressed)
    assert selected["data"]["step"] == "language"
    assert selected["data"]["choice"] == "en"


def test_mapped_callbacks_normalize_to_their_schemas() -> None:
    [received] = normalized(split_one(call_params()))
    assert (received["type"], received["subject"]) == ("call.received", CALL_SID)
    assert received["data"]["from"] == CALLER

    [selected] = normalized(split_one(digits("1"), "step=menu&seq=2&lang=en"))
    assert selected["data"] == {
        "call_sid": CALL_SID, "step": "menu", "seq": 2, "digit": "1",
        "choice": "report_problem", "language": "en",
    }  # fmt: skip

    [ready] = normalized(split_one(recording_callback(), "step=recording&seq=3&lang=en"))
    assert ready["data"]["url"].startswith("https://api.twilio.com/2010-04-01/Accounts/")
    assert ready["data"]["language"] == "en"

    [completed] = normalized(split_one(call_params("no-answer", CallDuration="0"), "step=status"))
    assert completed["data"] == {"call_sid": CALL_SID, "status": "no-answer", "duration_seconds": 0}

    assert connector.normalize(split_one(digits("9"), "step=menu&seq=2&lang=en")) == []


def test_call_fields_are_bounded_as_call_received_bounds_them() -> None:
    longest = call_params(AccountSid="AC" + "0" * 32, From="+" + "1" * 32)
    [received] = normalized(split_one(longest))  # validated against the schema

    assert received["data"]["account_sid"] == longest["AccountSid"]
    assert received["data"]["from"] is None  # longer than a contact reference may be
    assert refusal(call_params(AccountSid="AC" + "0" * 33)) == "malformed_call_field"
    assert refusal(call_params(To="+1" * 33)) == "malformed_call_field"


def test_a_sip_caller_is_no_contact_reference() -> None:
    [received] = normalized(split_one(call_params(From="sip:guest@example.com")))

    assert received["data"]["from"] is None


@pytest.mark.parametrize(
    ("params", "query", "reason"),
    [
        (call_params(sid="CA123"), "", "malformed_call_sid"),
        (call_params(From="+1" * 40), "", "malformed_call_field"),
        (digits("1#a"), "step=menu&seq=2&lang=es", "malformed_digits"),
        (call_params("ringing-ish"), "step=status", "malformed_call_status"),
        (call_params("completed", CallDuration="9" * 12), "step=status", "malformed_duration"),
        (
            {**recording_callback(), "RecordingSid": "RE1"},
            "step=recording",
            "malformed_recording_sid",
        ),
        (
            {**recording_callback(), "RecordingUrl": "x" * 3000},
            "step=recording",
            "malformed_recording_url",
        ),
        (
            recording_callback(status="Completed; DROP"),
            "step=recording",
            "malformed_recording_status",
        ),
        (digits("1"), "&".join(f"p{n}=1" for n in range(20)), "bad_ivr_query"),
    ],
)
def test_unbounded_or_malformed_parameters_are_refused(
    params: dict[str, str], query: str, reason: str
) -> None:
    assert refusal(params, query) == reason


def test_a_message_posted_to_the_voice_endpoint_is_refused() -> None:
    sid = "SM0123456789abcdef0123456789abcdef"

    assert refusal(inbound(sid, "Hi")) == "missing_call_sid"


async def test_a_failing_contact_lookup_falls_back_to_the_bilingual_prompt_and_logs_no_phone() -> (
    None
):
    async def broken(phone: str) -> str | None:
        raise RuntimeError(f"database down [parameters: ({phone!r},)]")

    voice = TwilioWebhookConnector(
        VoiceCallbacks(load_flow(), operator=None, contact_language=broken)
    )
    entry = delivery(call_params())
    with capture_logs() as logs:
        language = await voice.prepare(entry)
    [event] = voice.split(entry, language)

    assert orjson.loads(event.body)["language"] is None
    assert [(entry["event"], entry["error"]) for entry in logs] == [
        ("contact_language_lookup_failed", "RuntimeError")
    ]
    assert CALLER not in repr(logs)


async def test_a_language_the_flow_does_not_speak_is_no_known_language() -> None:
    async def portuguese(phone: str) -> str | None:
        return "pt"

    voice = VoiceCallbacks(load_flow(), operator=None, contact_language=portuguese)

    assert await voice.caller_language(delivery(call_params()), parse_qs_one(call_params())) is None
    anonymous = call_params(From="anonymous")
    assert await voice.caller_language(delivery(anonymous), parse_qs_one(anonymous)) is None


async def test_the_callers_language_is_read_for_entry_callbacks_only() -> None:
    asked: list[str] = []

    async def spanish(phone: str) -> str | None:
        asked.append(phone)
        return "es"

    voice = TwilioWebhookConnector(
        VoiceCallbacks(load_flow(), operator=None, contact_language=spanish)
    )
    entry, default_action = delivery(call_params()), delivery(digits("1"))
    later = delivery(digits("1"), "step=menu&seq=2&lang=en")
    status = delivery(call_params("completed", CallDuration="4"))

    languages = [await voice.prepare(d) for d in (entry, default_action, later, status)]

    assert languages == ["es", "es", None, None]
    assert asked == [CALLER, CALLER]
    [received] = voice.split(entry, "es")
    assert orjson.loads(received.body)["language"] == "es"
    [menu] = voice.split(default_action, "es")
    assert orjson.loads(menu.body)["state"] == {
        "step": "menu", "seq": 1, "language": "es", "attempt": 0
    }  # fmt: skip
    # Without what prepare read (it timed out, or no edge called it): the bilingual prompt.
    [unprepared] = voice.split(entry)
    assert orjson.loads(unprepared.body)["language"] is None


def parse_qs_one(params: dict[str, str]) -> dict[str, list[str]]:
    return {name: [value] for name, value in params.items()}


def test_every_voice_sample_is_a_voice_callback_with_a_fresh_call() -> None:
    for sample in VOICE_SAMPLES:
        first, second = (split_one(voice_params_of(sample)) for _ in range(2))
        assert first.event_type in VOICE_TYPES
        assert first.partner_event_id != second.partner_event_id

    with pytest.raises(ValueError, match="call_digits_es"):
        connector.sample("call_digits_fr")


def voice_params_of(sample: str) -> dict[str, str]:
    body = connector.sample(sample)
    return {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}


def test_the_last_numbered_callback_says_goodbye_instead_of_an_unusable_action() -> None:
    params = digits("1")
    last = delivery(params, f"step=menu&seq={MAX_SEQ}&lang=en")
    events = connector.split(last)

    answer = connector.respond(last, events)

    verbs = twiml_of(answer[1])
    assert [verb.tag for verb in verbs] == ["Say", "Hangup"]
    assert verbs[0].text == "We did not get your selection. Goodbye."
    # What is stored says the same: no choice was acted on, so no call.menu_selected.
    [event] = events
    assert event.event_type == "menu_no_choice"
    assert orjson.loads(event.body)["outcome"]["choice"] is None
    assert connector.normalize(event) == []
