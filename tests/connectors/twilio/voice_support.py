"""Voice callbacks for the tests: Twilio's parameters, signed by the official SDK over the full
public URL (query string included), posted to a running hub; the TwiML answer parsed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from integration_hub.connectors.twilio.samples import voice_params
from tests.connectors.twilio.support import FORM, PUBLIC_BASE_URL, sdk_signature
from tests.helpers import RunningHub

VOICE_PATH = "/webhooks/twilio/voice"
CALL_SID = "CA0123456789abcdef0123456789abcdef"
CALLER = "+13055550142"
RECORDING_SID = "RE0123456789abcdef0123456789abcdef"


def call_params(status: str = "ringing", sid: str = CALL_SID, **extra: str) -> dict[str, str]:
    """What Twilio posts for a call (the sample's parameters with this call's sid)."""
    params = voice_params("incoming_call", sid[2:])
    assert params is not None
    return {**params, "CallSid": sid, "CallStatus": status, **extra}


def digits(pressed: str, sid: str = CALL_SID) -> dict[str, str]:
    return call_params("in-progress", sid, Digits=pressed, FinishedOnKey="")


def recording_callback(sid: str = CALL_SID, status: str = "completed") -> dict[str, str]:
    params = voice_params("call_recording", "0" * 32)
    assert params is not None
    return {**params, "CallSid": sid, "RecordingSid": RECORDING_SID, "RecordingStatus": status}


def public_url(query: str = "") -> str:
    return f"{PUBLIC_BASE_URL}{VOICE_PATH}" + (f"?{query}" if query else "")


async def post_voice(
    running: RunningHub, params: dict[str, str], query: str = "", *, signed_url: str | None = None
) -> httpx.Response:
    """POST as Twilio does: to `VOICE_PATH?query`, signed over the public URL with the query."""
    signature = sdk_signature(params, url=signed_url or public_url(query))
    headers = {"X-Twilio-Signature": signature, "Content-Type": FORM}
    path = VOICE_PATH + (f"?{query}" if query else "")
    return await running.http.post(path, content=urlencode(params).encode(), headers=headers)


@dataclass(frozen=True)
class Verb:
    tag: str
    attributes: dict[str, str]
    text: str
    children: list[Verb]


def _verb(element: ET.Element) -> Verb:
    children = [_verb(child) for child in element]
    return Verb(element.tag, dict(element.attrib), (element.text or "").strip(), children)


def twiml(response: httpx.Response) -> list[Verb]:
    """The verbs of a TwiML answer (checked to be one: 200, text/xml, a <Response> root)."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/xml"
    return twiml_of(response.content)


def twiml_of(document: bytes) -> list[Verb]:
    root = ET.fromstring(document)  # noqa: S314 (the hub under test wrote it)
    assert root.tag == "Response"
    return [_verb(child) for child in root]


def action_query(url: str) -> dict[str, str]:
    """The state an action URL carries, checked to point at the public voice URL."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == public_url()
    return {name: values[0] for name, values in parse_qs(parts.query).items()}


def query_of(url: str) -> str:
    return urlsplit(url).query


def only(verbs: list[Verb], tag: str) -> Verb:
    [found] = [verb for verb in verbs if verb.tag == tag]
    return found


def says(verbs: list[Verb]) -> list[tuple[str, str, str]]:
    """(text, voice, language) of each <Say>, nested in a <Gather> or not, in order."""
    found: list[tuple[str, str, str]] = []
    for verb in verbs:
        if verb.tag == "Say":
            found.append((verb.text, verb.attributes["voice"], verb.attributes["language"]))
        found += says(verb.children)
    return found


def as_dict(verb: Verb) -> dict[str, Any]:
    return {"tag": verb.tag, **verb.attributes}
