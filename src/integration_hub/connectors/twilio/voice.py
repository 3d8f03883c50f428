"""Twilio Voice callbacks for the IVR: the incoming call, each Gather's digits, the Record
action, the recording status callback and the call status callback.

Twilio posts each to `/webhooks/twilio/voice` with what the previous answer put in the action
URL's query (`step`, `seq`, `lang`, `attempt`), which Twilio signs with the rest of the URL.
Dedup keys: `CallSid:<seq>` for the flow's callbacks (the incoming call is seq 0), so a retried
callback is a duplicate and a re-prompt, with the next seq, is not;
`CallSid:recording:<RecordingSid>:<RecordingStatus>` and `CallSid:status:<CallStatus>` for the
status callbacks (one event per status: an earlier status never hides the completed one).
The answer is TwiML built from the event `split` made (`ivr_machine`), not from the stored row:
the edge splits a retried callback afresh and hands that to `respond`. For every callback that
carries our state, the event is a pure function of its URL and digits, so a retry is answered
the same way. An entry callback (the incoming call; a Gather's answer posted to the document's
own URL) also depends on the caller's language, read again for the retry (`caller_language`):
if that read differs (the contact's language changed, or one read failed or timed out), the
retry is answered in the other language, or bilingually, while the stored event keeps the
first. Rare (Twilio retries when our first answer did not reach it, so the caller heard one
answer only), and the later callbacks follow the answer heard, which their URLs carry.
Everything from outside is bounded here, before anything is stored.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import structlog

from integration_hub.connectors.base import Delivery, PartnerEvent
from integration_hub.connectors.twilio.ivr import Flow
from integration_hub.connectors.twilio.ivr_machine import (
    MAX_SEQ,
    Outcome,
    Renderer,
    State,
    advance,
)
from integration_hub.errors import MalformedPayload
from integration_hub.events import load_schema

log = structlog.get_logger(__name__)

Params = Mapping[str, Sequence[str]]
ContactLanguage = Callable[[str], Awaitable[str | None]]

VOICE_EVENT_MAP = {
    "incoming_call": "call.received",
    "menu_selected": "call.menu_selected",
    "recording_ready": "call.recording_ready",
    "call_completed": "call.completed",
}
CALL_SID = re.compile(r"CA[0-9a-f]{32}")
RECORDING_SID = re.compile(r"RE[0-9a-f]{32}")
RECORDING_STATUS = re.compile(r"[a-z][a-z-]{0,23}")  # in-progress, completed, absent, failed
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
PHONE_LIKE = re.compile(r"\+?[0-9A-Za-z]{3,32}")  # message.received's `from`: "anonymous" too
DIGITS = re.compile(r"[0-9*#]{0,32}")
COUNT = re.compile(r"[0-9]{1,6}")  # seconds of a call or a recording: days at most
MAX_QUERY_PARAMETERS = 8
MAX_FIELD_CHARS = 64  # To, Direction: Twilio's are short
MAX_URL_CHARS = 2048
CALL_STATUSES = frozenset(
    {"queued", "ringing", "in-progress", "completed", "busy", "failed", "no-answer", "canceled"}
)
# The steps whose TwiML carries an action URL back to us (a Gather's or a Record's).
CALLBACK_KINDS = frozenset({"language", "menu", "record"})
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


class BadVoiceCallback(MalformedPayload):
    """A voice callback whose URL state or parameters no answer of ours leads to."""

    status = 400


def first(params: Params, name: str) -> str:
    values = params.get(name)
    return values[0] if values else ""


def is_voice(params: Params) -> bool:
    return bool(first(params, "CallSid")) and not first(params, "MessageSid")


def _query(url: str) -> dict[str, str]:
    try:
        parsed = parse_qs(urlsplit(url).query, max_num_fields=MAX_QUERY_PARAMETERS)
    except ValueError:
        raise BadVoiceCallback("the URL has too many parameters", reason="bad_ivr_query") from None
    return {name: values[0] for name, values in parsed.items()}


def _bounded_int(value: str, *, low: int, high: int, reason: str, what: str) -> int:
    if not (value.isascii() and value.isdigit() and len(value) <= 3 and low <= int(value) <= high):
        raise BadVoiceCallback(f"{what} must be {low} to {high}", reason=reason)
    return int(value)


def _state(flow: Flow, query: Mapping[str, str]) -> State:
    step = query["step"]
    if step not in flow.steps or flow.step(step).kind not in CALLBACK_KINDS:
        raise BadVoiceCallback(
            f"no IVR step {step[:32]!r} takes callbacks", reason="unknown_ivr_step"
        )
    seq = _bounded_int(query.get("seq", ""), low=1, high=MAX_SEQ, reason="bad_ivr_seq", what="seq")
    attempt = _bounded_int(
        query.get("attempt", "0"), low=0, high=flow.max_attempts - 1,
        reason="bad_ivr_attempt", what="attempt",
    )  # fmt: skip
    language = query.get("lang")
    if language is not None and language not in flow.languages:
        raise BadVoiceCallback("lang is not a language of the flow", reason="bad_ivr_language")
    if language is None and step != flow.language_step:
        raise BadVoiceCallback(f"step {step!r} needs lang", reason="bad_ivr_language")
    return State(step, seq, language, attempt)


def _checked(params: Params, name: str, pattern: re.Pattern[str], reason: str) -> str:
    value = first(params, name)
    if not pattern.fullmatch(value):
        raise BadVoiceCallback(f"{name} is missing or malformed", reason=reason)
    return value


def _console_callback(params: Params) -> str | None:
    """A callback to a URL without our state: a recording or a call status callback by what
    only they carry, else the call's entry document (None)."""
    if "RecordingStatus" in params:
        return "recording"
    if first(params, "CallStatus") in FINAL_STATUSES:  # an incoming call is ringing
        return "status"
    return None


def _is_entry(url: str, params: Params) -> bool:
    """Whether the callback is one `split` answers from the caller's language: a URL without
    our state that is no status or recording callback."""
    try:
        query = _query(url)
    except BadVoiceCallback:
        return False  # split refuses it
    return "step" not in query and _console_callback(params) is None


# call.received's fields from the form: bounded here as its schema bounds them, so an event
# accepted here is never dead-lettered for a length. (From is kept only when it is a phone, so
# any caller up to MAX_FIELD_CHARS is accepted: voice_events.)
RECEIVED_FIELDS = {"To": "to", "Direction": "direction", "AccountSid": "account_sid"}


@cache
def field_limit(name: str) -> int:
    """The most characters `name` may have: its call.received schema bound, else ours."""
    field = RECEIVED_FIELDS.get(name)
    if field is None:
        return MAX_FIELD_CHARS
    return min(MAX_FIELD_CHARS, int(load_schema("call.received")["properties"][field]["maxLength"]))


def _optional_count(params: Params, name: str) -> None:
    value = first(params, name)
    if value and not COUNT.fullmatch(value):
        raise BadVoiceCallback(f"{name} is not a count of seconds", reason="malformed_duration")


class VoiceCallbacks:
    """The IVR half of the Twilio connector: `split`, `respond`, `normalize` of voice callbacks.
    `contact_language` reads a known caller's language (see `caller_language`)."""

    def __init__(
        self, flow: Flow, *, operator: str | None, contact_language: ContactLanguage | None
    ) -> None:
        self.flow, self._operator, self._contact_language = flow, operator, contact_language

    async def caller_language(self, delivery: Delivery, params: Params) -> str | None:
        """The known contact's language, read when the call comes in (the caller must hear the
        right prompt at once, so it cannot wait for the normalizer): a point read by primary
        key for the entry callbacks only (the incoming call, and the answer to its prompt that
        Twilio posts to the same URL), awaited by the edge before `split` within its time
        bound. On any failure, None: the bilingual prompt."""
        if self._contact_language is None or not _is_entry(delivery.url, params):
            return None
        caller = first(params, "From")
        if not E164.fullmatch(caller):
            return None
        try:
            language = await self._contact_language(caller)
        except Exception as error:  # the caller still gets a prompt. Only the error's type is
            # logged: a database error's text carries its parameters, the phone number here.
            log.warning("contact_language_lookup_failed", error=type(error).__name__)
            return None
        return language if language in self.flow.languages else None

    def split(
        self,
        delivery: Delivery,
        params: Params,
        stored: dict[str, Any],
        language: str | None = None,
    ) -> PartnerEvent:
        """The callback as one partner event, refused (400, a reason code) when its state or
        parameters are not what one of our answers leads Twilio to send. `language`: the
        caller's, from `caller_language` (entry callbacks only)."""
        call_sid = _checked(params, "CallSid", CALL_SID, "malformed_call_sid")
        for name in ("From", "To", "Direction", "AccountSid"):
            if len(first(params, name)) > field_limit(name):
                raise BadVoiceCallback(f"{name} is too long", reason="malformed_call_field")
        query = _query(delivery.url)
        step = query.get("step")
        if step is None:  # a URL set in the Console (or a document's own): the body says which
            step = _console_callback(params)
        if step == "status":
            return self._status(call_sid, params, stored)
        if step == "recording":
            return self._recording(call_sid, params, query.get("lang"), stored)
        if language not in self.flow.languages:
            language = None
        if step is None and "Digits" not in params:
            stored["language"] = language
            return self._event(f"{call_sid}:0", "incoming_call", stored)
        if step is None:  # Twilio's default Gather action is the document's own URL: the answer
            # to the incoming call's prompt (seq 1), whichever it was
            entry = self.flow.start if language is not None else self.flow.language_step
            state = State(entry, 1, language)
        else:
            state = _state(self.flow, query)
        stored["state"] = asdict(state)
        if not self.flow.is_gather(state.step):  # the Record action: the voicemail is done
            return self._event(f"{call_sid}:{state.seq}", "recording_done", stored)
        digits = _checked(params, "Digits", DIGITS, "malformed_digits")
        outcome = advance(self.flow, state, digits)
        stored["outcome"] = asdict(outcome)
        kind = "menu_selected" if outcome.choice is not None else "menu_no_choice"
        return self._event(f"{call_sid}:{state.seq}", kind, stored)

    def _status(self, call_sid: str, params: Params, stored: dict[str, Any]) -> PartnerEvent:
        status = first(params, "CallStatus")
        if status not in CALL_STATUSES:
            raise BadVoiceCallback(
                "CallStatus is not a call status", reason="malformed_call_status"
            )
        _optional_count(params, "CallDuration")
        kind = "call_completed" if status in FINAL_STATUSES else "call_status"
        return self._event(f"{call_sid}:status:{status}", kind, stored)

    def _recording(
        self, call_sid: str, params: Params, language: str | None, stored: dict[str, Any]
    ) -> PartnerEvent:
        recording = _checked(params, "RecordingSid", RECORDING_SID, "malformed_recording_sid")
        _optional_count(params, "RecordingDuration")
        if len(first(params, "RecordingUrl")) > MAX_URL_CHARS:
            raise BadVoiceCallback("RecordingUrl is too long", reason="malformed_recording_url")
        # Without a RecordingStatus (no status events asked for), the callback is the ready one.
        status = first(params, "RecordingStatus") or "completed"
        if not RECORDING_STATUS.fullmatch(status):
            raise BadVoiceCallback(
                "RecordingStatus is not a recording status", reason="malformed_recording_status"
            )
        stored["language"] = language if language in self.flow.languages else None
        kind = "recording_ready" if status == "completed" else "recording_status"
        # Keyed by status too: an earlier in-progress, absent or failed callback must not make
        # the completed one a duplicate (call.recording_ready would never come).
        return self._event(f"{call_sid}:recording:{recording}:{status}", kind, stored)

    @staticmethod
    def _event(key: str, kind: str, stored: dict[str, Any]) -> PartnerEvent:
        return PartnerEvent(key, kind, orjson.dumps(stored))

    def respond(self, delivery: Delivery, event: PartnerEvent) -> bytes | None:
        """TwiML for a flow callback; None for a status callback (empty TwiML: Twilio ignores
        what a status callback is answered with)."""
        stored = orjson.loads(event.body)
        renderer = Renderer(self.flow, _base(delivery.url), self._operator)
        if event.event_type == "incoming_call":
            response = renderer.entry(stored["language"])
        elif "outcome" in stored:
            state, outcome = State(**stored["state"]), Outcome(**stored["outcome"])
            response = renderer.answer(state, outcome)
        elif "state" in stored:
            response = renderer.after_recording(State(**stored["state"]))
        else:
            return None
        return str(response.to_xml(xml_declaration=True)).encode()


def _base(url: str) -> str:
    """The public prefix of the hub in the URL Twilio called: the action URLs must be the URLs
    Twilio then signs (a hub behind a path prefix keeps it)."""
    parts = urlsplit(url)
    path = parts.path
    cut = path.find("/webhooks/")
    return f"{parts.scheme}://{parts.netloc}{path[:cut] if cut >= 0 else ''}"
