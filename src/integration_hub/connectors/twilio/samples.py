"""Realistic Twilio Messaging and Voice webhook parameters, as Twilio posts them (for `hub send`, tests)."""

from __future__ import annotations

ACCOUNT_SID = "AC5ef8732a3c49700934481addd5ce1659"
HUB_SMS_NUMBER = "+13055550123"
HUB_WHATSAPP_NUMBER = "+13055550100"
GUEST = "+34612345678"


def _inbound_sms(sid: str, body: str, sender: str = "+13055550199") -> dict[str, str]:
    return {
        "ToCountry": "US", "ToState": "FL", "SmsMessageSid": sid, "NumMedia": "0",
        "ToCity": "MIAMI", "FromZip": "33101", "SmsSid": sid, "FromState": "FL",
        "SmsStatus": "received", "FromCity": "MIAMI", "Body": body, "FromCountry": "US",
        "To": HUB_SMS_NUMBER, "ToZip": "33101", "NumSegments": "1", "MessageSid": sid,
        "AccountSid": ACCOUNT_SID, "From": sender, "ApiVersion": "2010-04-01",
    }  # fmt: skip


def _inbound_whatsapp(sid: str, body: str, *, media: bool = False) -> dict[str, str]:
    params = {
        "SmsMessageSid": sid, "NumMedia": "1" if media else "0", "ProfileName": "Lucía",
        "MessageType": "image" if media else "text", "SmsSid": sid, "WaId": GUEST[1:],
        "SmsStatus": "received", "Body": body, "To": f"whatsapp:{HUB_WHATSAPP_NUMBER}",
        "NumSegments": "1", "ReferralNumMedia": "0", "MessageSid": sid,
        "AccountSid": ACCOUNT_SID, "From": f"whatsapp:{GUEST}",
    }  # fmt: skip
    if media:
        params["MediaContentType0"] = "image/jpeg"
        params["MediaUrl0"] = (
            f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}"
            "/Media/ME0d3b2c6f7e8a9b0c1d2e3f4a5b6c7d8e"
        )
    params["ApiVersion"] = "2010-04-01"
    return params


def _status_callback(sid: str, status: str) -> dict[str, str]:
    params = {
        "SmsSid": sid, "SmsStatus": status, "MessageStatus": status, "To": GUEST,
        "MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": HUB_SMS_NUMBER,
    }  # fmt: skip
    if status in ("failed", "undelivered"):
        params["ErrorCode"] = "30003"
    params["ApiVersion"] = "2010-04-01"
    return params


def sample_params(event_type: str, token: str) -> dict[str, str]:
    """Parameters of one request; `token` (32 hex digits) makes the MessageSid fresh.

    Types: inbound_sms, inbound_whatsapp (with a photo), opt_out (STOP by SMS), opt_out_es
    (BAJA by WhatsApp), opt_in (START by SMS), opt_in_es (ALTA by WhatsApp), status_callback
    (delivered), status_callback_failed (undelivered, error 30003)."""
    sid = f"SM{token[:32]}"
    builders = {
        "inbound_sms": lambda: _inbound_sms(sid, "Hi, what time does the cleaner arrive today?"),
        "inbound_whatsapp": lambda: _inbound_whatsapp(
            sid.replace("SM", "MM", 1), "Hola, ¿a qué hora llega la limpieza?", media=True
        ),
        "opt_out": lambda: _inbound_sms(sid, "STOP"),
        "opt_out_es": lambda: _inbound_whatsapp(sid, "Baja"),
        "opt_in": lambda: _inbound_sms(sid, "START"),
        "opt_in_es": lambda: _inbound_whatsapp(sid, "ALTA"),
        "status_callback": lambda: _status_callback(sid, "delivered"),
        "status_callback_failed": lambda: _status_callback(sid, "undelivered"),
    }
    build = builders.get(event_type)
    if build is None and (voice := voice_params(event_type, token)) is not None:
        return voice
    if build is None:
        known = sorted([*builders, *VOICE_SAMPLES])
        raise ValueError(f"no Twilio sample of type {event_type!r}; known: {known}")
    return build()


CALLER = "+13055550142"
HUB_VOICE_NUMBER = "+13055550123"


def _call(sid: str, status: str, **extra: str) -> dict[str, str]:
    """A Voice webhook request (twilio.com/docs/voice/twiml#request-parameters)."""
    return {
        "AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "CallSid": sid,
        "CallStatus": status, "Called": HUB_VOICE_NUMBER, "CalledCity": "MIAMI",
        "CalledCountry": "US", "CalledState": "FL", "Caller": CALLER, "CallerCountry": "US",
        "CallerState": "FL", "Direction": "inbound", "From": CALLER, "FromCountry": "US",
        "FromState": "FL", "To": HUB_VOICE_NUMBER, "ToCountry": "US", "ToState": "FL", **extra,
    }  # fmt: skip


def _recording(sid: str, token: str) -> dict[str, str]:
    recording = f"RE{token[::-1][:32]}"
    return {
        "AccountSid": ACCOUNT_SID, "CallSid": sid, "RecordingSid": recording,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}"
        f"/Recordings/{recording}",
        "RecordingStatus": "completed", "RecordingDuration": "14", "RecordingChannels": "1",
        "RecordingStartTime": "Tue, 01 Dec 2026 20:41:07 +0000", "RecordingSource": "RecordVerb",
        "ErrorCode": "0",
    }  # fmt: skip


COMPLETED = {
    "CallDuration": "42", "Duration": "1", "CallbackSource": "call-progress-events",
    "SequenceNumber": "0", "Timestamp": "Tue, 01 Dec 2026 20:41:30 +0000",
}  # fmt: skip


VOICE_SAMPLES = (
    "incoming_call", "menu_selected", "call_digits_es", "call_digits_en", "recording_ready",
    "call_recording", "call_completed", "call_status_completed",
)  # fmt: skip


def voice_params(event_type: str, token: str) -> dict[str, str] | None:
    """A voice callback's parameters, or None for a type that is not one.

    Types: incoming_call (an unknown caller: the bilingual prompt), call_digits_es /
    call_digits_en / menu_selected (1 / 2 / 1 pressed at the language prompt), call_recording /
    recording_ready (the voicemail's recording status callback), call_status_completed /
    call_completed (the call's final status callback). Posted to a URL without the IVR's
    state, as Twilio posts to the Console's URLs; a digit press there answers the first prompt.
    """
    sid = f"CA{token[:32]}"
    builders = {
        "incoming_call": lambda: _call(sid, "ringing"),
        "menu_selected": lambda: _call(sid, "in-progress", Digits="1", FinishedOnKey=""),
        "call_digits_es": lambda: _call(sid, "in-progress", Digits="1", FinishedOnKey=""),
        "call_digits_en": lambda: _call(sid, "in-progress", Digits="2", FinishedOnKey=""),
        "recording_ready": lambda: _recording(sid, token),
        "call_recording": lambda: _recording(sid, token),
        "call_completed": lambda: _call(sid, "completed", **COMPLETED),
    }
    builders["call_status_completed"] = builders["call_completed"]
    build = builders.get(event_type)
    return build() if build is not None else None
