"""Stored voice callbacks as internal events (`call.*`): no I/O, only what `voice.split` kept
(the form as Twilio sent it, the receipt time, the state the action URL carried)."""

from __future__ import annotations

from typing import Any

import orjson

from integration_hub.connectors.base import InternalEventDraft, PartnerEvent
from integration_hub.connectors.twilio.signature import form_params
from integration_hub.connectors.twilio.voice import PHONE_LIKE, VOICE_EVENT_MAP, Params, first

MAX_FROM = 32  # call.received's `from` (a "+" and 32 characters match PHONE_LIKE, not it)


def _count(params: Params, name: str) -> int | None:
    value = first(params, name)
    return int(value) if value else None  # split checked it: at most 6 digits


def _received(params: Params, stored: dict[str, Any]) -> dict[str, Any]:
    caller = first(params, "From")
    return {
        "call_sid": first(params, "CallSid"),
        "account_sid": first(params, "AccountSid"),
        # The contact reference, as message.received has it; a SIP or client caller is none.
        "from": caller if PHONE_LIKE.fullmatch(caller) and len(caller) <= MAX_FROM else None,
        "to": first(params, "To"),
        "direction": first(params, "Direction") or None,
        "language": stored["language"],
    }


def _menu_selected(params: Params, stored: dict[str, Any]) -> dict[str, Any]:
    state, outcome = stored["state"], stored["outcome"]
    return {
        "call_sid": first(params, "CallSid"),
        "step": state["step"],
        "seq": state["seq"],
        "digit": first(params, "Digits"),
        "choice": outcome["choice"],
        "language": outcome["language"],
    }


def _recording_ready(params: Params, stored: dict[str, Any]) -> dict[str, Any]:
    return {
        "call_sid": first(params, "CallSid"),
        "recording_sid": first(params, "RecordingSid"),
        "duration_seconds": _count(params, "RecordingDuration"),
        # On api.twilio.com, behind the account's credentials: a reference, not a public link.
        "url": first(params, "RecordingUrl"),
        "language": stored["language"],
    }


def _completed(params: Params, stored: dict[str, Any]) -> dict[str, Any]:
    return {
        "call_sid": first(params, "CallSid"),
        "status": first(params, "CallStatus"),
        "duration_seconds": _count(params, "CallDuration"),
    }


BUILDERS = {
    "incoming_call": _received,
    "menu_selected": _menu_selected,
    "recording_ready": _recording_ready,
    "call_completed": _completed,
}


def normalize_voice(event: PartnerEvent) -> list[InternalEventDraft]:
    build = BUILDERS.get(event.event_type)
    if build is None:
        return []
    stored = orjson.loads(event.body)
    params = form_params(stored["form"].encode())
    data = build(params, stored)
    return [
        InternalEventDraft(
            VOICE_EVENT_MAP[event.event_type], data["call_sid"], stored["received_at"], data
        )
    ]
