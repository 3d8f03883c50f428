"""Twilio webhooks: inbound SMS and WhatsApp messages and their status callbacks, and the voice
IVR's callbacks (`voice.py`: a request with a CallSid and no MessageSid, posted to
`/webhooks/twilio/voice`; the bare path takes them too, so `hub send` and the contract suite
reach them).

Form-encoded POSTs signed over the public URL plus the sorted parameters (`signature.py`).
Dedup keys: `MessageSid` for an inbound message, `MessageSid:MessageStatus` for a status
callback (one callback per status change). A message that is an opt-out or opt-in keyword
(English or Spanish), or that Twilio's Advanced Opt-Out marked with `OptOutType`, is also a
consent change. The answer is empty TwiML: Twilio reads it as "reply with nothing".
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import urlencode

import orjson

from integration_hub.connectors.base import Delivery, InternalEventDraft, Manifest, PartnerEvent
from integration_hub.connectors.twilio.ivr import load_flow
from integration_hub.connectors.twilio.keywords import consent_keyword, guess_locale
from integration_hub.connectors.twilio.samples import sample_params
from integration_hub.connectors.twilio.signature import (
    FORM_CONTENT_TYPE,
    SETTINGS_HEADER,
    compute_signature,
    form_params,
    is_form,
    verify_twilio,
)
from integration_hub.connectors.twilio.voice import VOICE_EVENT_MAP, VoiceCallbacks, is_voice
from integration_hub.connectors.twilio.voice_events import normalize_voice
from integration_hub.errors import MalformedPayload, NormalizationError
from integration_hub.events import load_schema

EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# Every kind `voice.split` stores, mapped or not (a re-prompt, the Record action, a status
# that is not final): the voice half answers and normalizes them.
VOICE_TYPES = frozenset(
    {*VOICE_EVENT_MAP, "menu_no_choice", "recording_done", "recording_status", "call_status"}
)
# Statuses of the message a contact sent us; any other MessageStatus is a status callback.
INBOUND_STATUSES = frozenset({"received", "receiving"})

EVENT_MAP = {
    "inbound_sms": "message.received",
    "inbound_whatsapp": "message.received",
    "opt_out": "contact.opted_out",
    "opt_in": "contact.opted_in",
    "status_callback": "message.status_changed",
    **VOICE_EVENT_MAP,
}
VOICE_ENDPOINT = "voice"

# Twilio sends at most 10 media with a message (Messaging docs, "NumMedia"); a larger count is
# no Twilio request, and `MediaUrl{N}` is read once per counted medium.
MAX_MEDIA = 10
# The longest word kept as the keyword of an `OptOutType` consent change (its column's size).
MAX_KEYWORD_CHARS = 64

Params = Mapping[str, Sequence[str]]


def _first(params: Params, name: str) -> str:
    values = params.get(name)
    return values[0] if values else ""


def _address(value: str) -> tuple[str, str]:
    """("whatsapp", "+34...") from "whatsapp:+34..."; a bare number is SMS."""
    prefix, separator, rest = value.partition(":")
    if separator and prefix == "whatsapp":
        return "whatsapp", rest
    return "sms", rest if separator else value


def media_count(params: Params) -> int:
    """`NumMedia` as Twilio sends it (0 when absent), checked before anything loops on it:
    `MalformedPayload` past `MAX_MEDIA` or when it is no count."""
    value = _first(params, "NumMedia")
    if not value:
        return 0
    if not (value.isascii() and value.isdigit()):
        raise MalformedPayload("NumMedia is not a count", reason="malformed_num_media")
    if len(value) > len(str(MAX_MEDIA)) or int(value) > MAX_MEDIA:  # no int() of 10^6 digits
        raise MalformedPayload(
            f"NumMedia is {value[:12]}; Twilio sends at most {MAX_MEDIA} media",
            reason="too_many_media",
        )
    return int(value)


def _consent(params: Params) -> tuple[bool, str | None, str, str | None] | None:
    """(opted_out, keyword, source, locale) when the message changes consent."""
    body = _first(params, "Body")
    keyword = consent_keyword(body)
    opt_out_type = _first(params, "OptOutType").upper()
    if opt_out_type in ("STOP", "START"):
        word = keyword[1] if keyword else (body.strip().upper() or None)
        if word is not None and len(word) > MAX_KEYWORD_CHARS:
            word = None  # a whole message, not a keyword: the consent change stands without it
        return opt_out_type == "STOP", word, "opt_out_type", keyword[2] if keyword else None
    if keyword is not None:
        return keyword[0], keyword[1], "keyword", keyword[2]
    return None


def classify(params: Params) -> str:
    status = _first(params, "MessageStatus").lower()
    if status and status not in INBOUND_STATUSES:
        return "status_callback"
    consent = _consent(params)
    if consent is not None:
        return "opt_out" if consent[0] else "opt_in"
    return f"inbound_{_address(_first(params, 'From'))[0]}"


@cache
def _max_length(field: str) -> int:
    return int(load_schema("message.received")["properties"][field]["maxLength"])


def _display_only(value: str, field: str) -> str:
    """A field shown to people and never used to find anything (a WhatsApp ProfileName),
    cut to its schema bound: too long a name must not dead-letter the message it came with.
    Identifiers and the body are never cut: too long, they fail the schema, as they should."""
    return value[: _max_length(field)]


def _message_received(params: Params, locale: str | None) -> dict[str, Any]:
    channel, sender = _address(_first(params, "From"))
    try:
        count = media_count(params)
    except MalformedPayload as error:  # stored before the edge refused such counts
        raise NormalizationError(error.detail, reason=error.reason) from None
    body = _first(params, "Body")
    return {
        "message_sid": _first(params, "MessageSid"),
        "account_sid": _first(params, "AccountSid"),
        "channel": channel,
        "from": sender,
        "to": _address(_first(params, "To"))[1],
        "body": body,
        "media_urls": [_first(params, f"MediaUrl{i}") for i in range(count)],
        "profile_name": _display_only(_first(params, "ProfileName"), "profile_name") or None,
        "locale_hint": locale or guess_locale(body),
    }


def _status_changed(params: Params) -> dict[str, Any]:
    channel, recipient = _address(_first(params, "To"))
    return {
        "message_sid": _first(params, "MessageSid"),
        "account_sid": _first(params, "AccountSid"),
        "channel": channel,
        "from": _address(_first(params, "From"))[1],
        "to": recipient,
        "status": _first(params, "MessageStatus").lower(),
        "error_code": _first(params, "ErrorCode") or None,
    }


def _rfc3339(unix: float) -> str:
    moment = datetime.fromtimestamp(unix, UTC).isoformat(timespec="milliseconds")
    return moment.replace("+00:00", "Z")


class TwilioWebhookConnector:
    manifest = Manifest(
        name="twilio",
        webhook_secret="TWILIO_AUTH_TOKEN",  # noqa: S106 (a variable name, not a value)
        kept_headers=frozenset(
            {"content-type", "user-agent", "i-twilio-idempotency-token", SETTINGS_HEADER}
        ),
        event_map=EVENT_MAP,
        signs_timestamp=False,
        signs_url=True,
        endpoints=frozenset({"", VOICE_ENDPOINT}),
    )

    def __init__(self, voice: VoiceCallbacks | None = None) -> None:
        # Without one: the shipped flow, no operator, no contact lookup (samples, signing).
        self.voice = voice or VoiceCallbacks(load_flow(), operator=None, contact_language=None)

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: float) -> None:
        verify_twilio(delivery.url, delivery.headers, delivery.body, secrets)

    async def prepare(self, delivery: Delivery) -> str | None:
        """The known caller's language when the delivery is a call's entry callback (read
        before `split`, off the event loop: web/ingest.py `Prepares`); None for the rest."""
        if not is_form(delivery.headers):
            return None
        try:
            params = form_params(delivery.body)
        except (UnicodeDecodeError, ValueError):
            return None  # split refuses it
        if not is_voice(params):
            return None
        return await self.voice.caller_language(delivery, params)

    def split(self, delivery: Delivery, prepared: object = None) -> list[PartnerEvent]:
        """`prepared`: what `prepare` returned (None without it: the bilingual prompt)."""
        if not is_form(delivery.headers):
            raise MalformedPayload(
                "Twilio Messaging webhooks are form-encoded", reason="not_form_encoded"
            )
        try:
            params = form_params(delivery.body)
        except (UnicodeDecodeError, ValueError):
            raise MalformedPayload(
                "the form body is not UTF-8", reason="not_form_encoded"
            ) from None
        # Twilio's request carries no time: keep the receipt time with the form, so a replay
        # normalizes to the same event time (consent "newest wins" depends on it).
        stored = {"received_at": _rfc3339(delivery.received_at), "form": delivery.body.decode()}
        if is_voice(params):
            language = prepared if isinstance(prepared, str) else None
            return [self.voice.split(delivery, params, stored, language)]
        if delivery.endpoint == VOICE_ENDPOINT:
            raise MalformedPayload("a voice callback has a CallSid", reason="missing_call_sid")
        message_sid = _first(params, "MessageSid")
        if not message_sid:
            raise MalformedPayload("the request has no MessageSid", reason="missing_message_sid")
        media_count(params)  # refuses a count no Twilio request carries
        kind = classify(params)
        key = message_sid
        if kind == "status_callback":
            key = f"{message_sid}:{_first(params, 'MessageStatus').lower()}"
        return [PartnerEvent(key, kind, orjson.dumps(stored))]

    def respond(self, delivery: Delivery, events: Sequence[PartnerEvent]) -> tuple[str, bytes]:
        """Twilio reads the answer as TwiML instructions: the IVR's next step for a voice
        callback, else empty (no reply to a message; a status callback's answer is ignored)."""
        if len(events) == 1 and events[0].event_type in VOICE_TYPES:
            twiml = self.voice.respond(delivery, events[0])
            if twiml is not None:
                return "text/xml", twiml
        return "text/xml", EMPTY_TWIML

    def normalize(self, event: PartnerEvent) -> list[InternalEventDraft]:
        if event.event_type in VOICE_TYPES:
            return normalize_voice(event)
        if event.event_type not in EVENT_MAP:
            return []
        stored = orjson.loads(event.body)
        params = form_params(stored["form"].encode())
        when = stored["received_at"]
        if event.event_type == "status_callback":
            data = _status_changed(params)
            return [InternalEventDraft("message.status_changed", data["message_sid"], when, data)]
        consent = _consent(params)
        received = _message_received(params, consent[3] if consent else None)
        drafts = [InternalEventDraft("message.received", received["message_sid"], when, received)]
        if consent is not None:
            opted_out, keyword, source, locale = consent
            data = {
                "phone": received["from"],
                "channel": received["channel"],
                "opted_out": opted_out,
                "keyword": keyword,
                "source": source,
                "locale_hint": locale,
                "message_sid": received["message_sid"],
            }
            kind = "contact.opted_out" if opted_out else "contact.opted_in"
            drafts.append(InternalEventDraft(kind, received["from"], when, data))
        return drafts

    def sample(self, event_type: str) -> bytes:
        """A realistic request for an event_map type; `opt_out_es` / `opt_in_es` send BAJA /
        ALTA over WhatsApp."""
        return urlencode(sample_params(event_type, secrets.token_hex(16))).encode()

    def sign(self, body: bytes, secret: str, *, timestamp: int, url: str) -> dict[str, str]:
        signature = compute_signature(secret, url, form_params(body))
        return {"X-Twilio-Signature": signature, "Content-Type": FORM_CONTENT_TYPE}
