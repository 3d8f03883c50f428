"""The Twilio webhook connector, cross-checked against the official SDK's RequestValidator."""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode

import orjson
import pytest
from twilio.request_validator import HMAC_SHA256, RequestValidator

from integration_hub import events
from integration_hub.connectors.base import Delivery, PartnerEvent
from integration_hub.connectors.twilio.samples import sample_params
from integration_hub.connectors.twilio.webhook import TwilioWebhookConnector as TwilioConnector
from integration_hub.errors import MalformedPayload, NormalizationError, SignatureError
from tests.connectors.twilio.support import (
    FORM,
    PUBLIC_URL,
    inbound,
    inbound_whatsapp,
    sdk_signature,
    status_callback,
)

TOKEN = "9f2b6a1c3d4e5f60718293a4b5c6d7e8"
PREVIOUS_TOKEN = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
NOW = 1_750_000_000.0
SID = "SM0123456789abcdef0123456789abcdef"
connector = TwilioConnector()


def delivery(
    params: dict[str, str] | bytes,
    signature: str | None,
    *,
    url: str = PUBLIC_URL,
    content_type: str = FORM,
    **headers: str,
) -> Delivery:
    body = params if isinstance(params, bytes) else urlencode(params).encode()
    all_headers = {"content-type": content_type, **headers}
    if signature is not None:
        all_headers["x-twilio-signature"] = signature
    return Delivery(body=body, headers=all_headers, url=url, received_at=NOW)


def rejection(delivery: Delivery, secrets: list[str] | None = None) -> str:
    with pytest.raises(SignatureError) as caught:
        connector.verify(delivery, secrets or [TOKEN], now=NOW)
    return caught.value.reason


def normalized(params: dict[str, str]) -> list[events.CloudEvent]:
    [partner_event] = connector.split(delivery(params, None))
    drafts = connector.normalize(partner_event)
    built = [
        events.build_event(
            partner="twilio", partner_event_id=partner_event.partner_event_id, index=i, draft=d
        )
        for i, d in enumerate(drafts)
    ]
    for event in built:
        events.validate_event(event)
    return built


def test_request_signed_by_the_sdk_verifies() -> None:
    params = inbound(SID, "Hi there")

    connector.verify(delivery(params, sdk_signature(params, token=TOKEN)), [TOKEN], now=NOW)


def test_connector_signature_validates_with_the_sdk() -> None:
    params = inbound(SID, "Hola, ¿a qué hora llega?")
    headers = connector.sign(urlencode(params).encode(), TOKEN, timestamp=0, url=PUBLIC_URL)

    assert RequestValidator(TOKEN).validate(PUBLIC_URL, params, headers["X-Twilio-Signature"])


def test_sha256_variant_announced_by_the_settings_header_verifies() -> None:
    params = inbound(SID, "Hi")
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL, params, HMAC_SHA256)
    settings = "key=webhooks_sharedkey_0123,algorithm=HMAC_SHA256"

    connector.verify(
        delivery(params, signature, **{"x-twilio-webhooks-signature-settings": settings}),
        [TOKEN],
        now=NOW,
    )


def test_sha256_signature_without_the_settings_header_is_rejected() -> None:
    params = inbound(SID, "Hi")
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL, params, HMAC_SHA256)

    assert rejection(delivery(params, signature)) == "signature_mismatch"


def test_unsupported_algorithm_is_rejected() -> None:
    params = inbound(SID, "Hi")
    settings = {"x-twilio-webhooks-signature-settings": "key=k,algorithm=HMAC_MD5"}

    assert rejection(delivery(params, sdk_signature(params), **settings)) == "unsupported_algorithm"


def test_json_body_is_checked_through_body_sha256() -> None:
    body = b'{"MessageSid": "SM1", "Body": "hi"}'
    url = f"{PUBLIC_URL}?bodySHA256={hashlib.sha256(body).hexdigest()}"
    signature = RequestValidator(TOKEN).compute_signature(url, {})
    assert RequestValidator(TOKEN).validate(url, body.decode(), signature)

    connector.verify(
        delivery(body, signature, url=url, content_type="application/json"), [TOKEN], now=NOW
    )


def test_json_body_that_differs_from_body_sha256_is_rejected() -> None:
    body = b'{"MessageSid": "SM1", "Body": "hi"}'
    url = f"{PUBLIC_URL}?bodySHA256={hashlib.sha256(body).hexdigest()}"
    signature = RequestValidator(TOKEN).compute_signature(url, {})
    tampered = delivery(
        body.replace(b"hi", b"yo"), signature, url=url, content_type="application/json"
    )

    assert rejection(tampered) == "body_hash_mismatch"


def test_previous_auth_token_is_accepted_during_rotation() -> None:
    params = inbound(SID, "Hi")

    connector.verify(
        delivery(params, sdk_signature(params, token=PREVIOUS_TOKEN)),
        [TOKEN, PREVIOUS_TOKEN],
        now=NOW,
    )


def test_previous_auth_token_is_rejected_once_rotation_ends() -> None:
    params = inbound(SID, "Hi")

    assert rejection(delivery(params, sdk_signature(params, token=PREVIOUS_TOKEN))) == (
        "signature_mismatch"
    )


@pytest.mark.parametrize(
    ("signed_url", "seen_url"),
    [
        ("https://hooks.example.com:443/webhooks/twilio", PUBLIC_URL),
        (PUBLIC_URL, "https://hooks.example.com:443/webhooks/twilio"),
    ],
    ids=["signed-with-port", "seen-with-port"],
)
def test_default_port_may_or_may_not_be_in_the_signed_url(signed_url: str, seen_url: str) -> None:
    params = inbound(SID, "Hi")

    connector.verify(
        delivery(params, sdk_signature(params, url=signed_url), url=seen_url), [TOKEN], now=NOW
    )


@pytest.mark.parametrize(
    "signed_url",
    [
        "https://evil.example.com/webhooks/twilio",
        "http://hooks.example.com/webhooks/twilio",
        "https://hooks.example.com/webhooks/other",
        "https://hooks.example.com:8443/webhooks/twilio",
        f"{PUBLIC_URL}?extra=1",
    ],
    ids=["host", "scheme", "path", "port", "query"],
)
def test_signature_for_another_url_is_rejected(signed_url: str) -> None:
    params = inbound(SID, "Hi")

    assert (
        rejection(delivery(params, sdk_signature(params, url=signed_url))) == "signature_mismatch"
    )


def test_missing_signature_header_is_rejected() -> None:
    assert rejection(delivery(inbound(SID, "Hi"), None)) == "missing_signature"


def test_wrong_auth_token_is_rejected() -> None:
    params = inbound(SID, "Hi")

    assert rejection(delivery(params, sdk_signature(params, token=PREVIOUS_TOKEN))) == (
        "signature_mismatch"
    )


def test_tampered_parameter_is_rejected() -> None:
    params = inbound(SID, "Hi")
    signature = sdk_signature(params, token=TOKEN)

    assert rejection(delivery({**params, "Body": "STOP"}, signature)) == "signature_mismatch"


def test_added_parameter_is_rejected() -> None:
    params = inbound(SID, "Hi")
    signature = sdk_signature(params, token=TOKEN)

    assert rejection(delivery({**params, "OptOutType": "STOP"}, signature)) == "signature_mismatch"


def test_body_that_is_not_form_encoded_is_rejected() -> None:
    params = inbound(SID, "Hi")
    signature = sdk_signature(params, token=TOKEN)

    assert rejection(delivery(params, signature, content_type="text/plain")) == "not_form_encoded"


def test_split_refuses_a_body_that_is_not_form_encoded() -> None:
    with pytest.raises(MalformedPayload) as caught:
        connector.split(delivery(b'{"MessageSid": "SM1"}', None, content_type="application/json"))
    assert caught.value.reason == "not_form_encoded"


def test_split_refuses_a_request_without_message_sid() -> None:
    params = {k: v for k, v in inbound(SID, "Hi").items() if k != "MessageSid"}

    with pytest.raises(MalformedPayload) as caught:
        connector.split(delivery(params, None))
    assert caught.value.reason == "missing_message_sid"


def test_inbound_message_is_keyed_by_message_sid() -> None:
    [event] = connector.split(delivery(inbound(SID, "Hi"), None))

    assert (event.partner_event_id, event.event_type) == (SID, "inbound_sms")


def test_status_callback_is_keyed_by_message_sid_and_status() -> None:
    [event] = connector.split(delivery(status_callback(SID, "delivered"), None))

    assert (event.partner_event_id, event.event_type) == (f"{SID}:delivered", "status_callback")


def test_stored_event_keeps_the_receipt_time_for_replays() -> None:
    [event] = connector.split(delivery(inbound(SID, "Hi"), None))

    assert orjson.loads(event.body)["received_at"] == "2025-06-15T15:06:40.000Z"


def test_inbound_sms_becomes_message_received() -> None:
    [event] = normalized(inbound(SID, "Hi, what time does the cleaner arrive?"))

    assert event["type"] == "message.received"
    assert event["data"] | {"body": None} == {
        "message_sid": SID, "account_sid": "AC5ef8732a3c49700934481addd5ce1659",
        "channel": "sms", "from": "+13055550199", "to": "+13055550100", "body": None,
        "media_urls": [], "profile_name": None, "locale_hint": "en",
    }  # fmt: skip


def test_inbound_whatsapp_carries_channel_profile_name_and_media() -> None:
    params = {
        **inbound_whatsapp(SID, "Mira la foto"),
        "NumMedia": "1",
        "MediaUrl0": "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
        "MediaContentType0": "image/jpeg",
    }

    [event] = normalized(params)

    data = event["data"]
    assert (data["channel"], data["from"], data["profile_name"]) == (
        "whatsapp",
        "+34612345678",
        "Lucía",
    )
    assert data["media_urls"] == [params["MediaUrl0"]]


@pytest.mark.parametrize(
    ("body", "locale"),
    [("STOP", "en"), ("stop.", "en"), ("Unsubscribe", "en"), ("BAJA", "es"), ("Cancelar", "es")],
)
def test_opt_out_keyword_becomes_contact_opted_out(body: str, locale: str) -> None:
    received, opted_out = normalized(inbound(SID, body))

    assert received["type"] == "message.received"
    assert opted_out["type"] == "contact.opted_out"
    assert opted_out["data"]["locale_hint"] == locale
    assert opted_out["data"]["source"] == "keyword"


@pytest.mark.parametrize(("body", "locale"), [("START", "en"), ("Sí", "es"), ("ALTA", "es")])
def test_opt_in_keyword_becomes_contact_opted_in(body: str, locale: str) -> None:
    _, opted_in = normalized(inbound(SID, body))

    assert opted_in["type"] == "contact.opted_in"
    assert (opted_in["data"]["opted_out"], opted_in["data"]["locale_hint"]) == (False, locale)


def test_keyword_inside_a_sentence_is_not_an_opt_out() -> None:
    [event] = normalized(inbound(SID, "Please don't stop the cleaning"))

    assert event["type"] == "message.received"


def test_opt_out_type_parameter_becomes_contact_opted_out() -> None:
    _, opted_out = normalized(inbound(SID, "NO MORE", OptOutType="STOP"))

    assert opted_out["type"] == "contact.opted_out"
    assert (opted_out["data"]["source"], opted_out["data"]["keyword"]) == (
        "opt_out_type",
        "NO MORE",
    )


def test_status_callback_becomes_message_status_changed_with_error_code() -> None:
    [event] = normalized(status_callback(SID, "undelivered", ErrorCode="30003"))

    assert event["type"] == "message.status_changed"
    assert (event["data"]["status"], event["data"]["error_code"]) == ("undelivered", "30003")


@pytest.mark.parametrize(
    "sample_type",
    [*TwilioConnector.manifest.event_map, "opt_out_es", "opt_in_es", "status_callback_failed"],
)
def test_every_sample_is_signed_split_and_normalized(sample_type: str) -> None:
    body = connector.sample(sample_type)
    headers = connector.sign(body, TOKEN, timestamp=0, url=PUBLIC_URL)
    signed = delivery(body, headers["X-Twilio-Signature"])
    connector.verify(signed, [TOKEN], now=NOW)

    [partner_event] = connector.split(signed)
    drafts = connector.normalize(partner_event)

    expected = connector.manifest.event_map[sample_type.removesuffix("_es").removesuffix("_failed")]
    assert expected in [d.type for d in drafts]


def test_sample_of_baja_is_whatsapp_in_spanish() -> None:
    params = sample_params("opt_out_es", "0" * 32)

    assert (params["Body"], params["From"]) == ("Baja", "whatsapp:+34612345678")


def test_unmapped_stored_type_normalizes_to_nothing() -> None:
    assert connector.normalize(PartnerEvent("SM1", "something_else", b"{}")) == []


# --- bounded counts and values ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("num_media", "reason"),
    [
        ("11", "too_many_media"),
        ("99999999", "too_many_media"),
        ("9" * 100_000, "too_many_media"),
        ("-1", "malformed_num_media"),
        ("1e9", "malformed_num_media"),
        ("\u0661\u0660", "malformed_num_media"),  # Arabic-Indic 10 passes str.isdigit()
    ],
)
def test_split_refuses_a_media_count_twilio_never_sends(num_media: str, reason: str) -> None:
    with pytest.raises(MalformedPayload) as refused:
        connector.split(delivery(inbound(SID, "Hi", NumMedia=num_media), None))

    assert refused.value.reason == reason


def test_a_stored_form_with_a_huge_media_count_fails_normalization_without_looping() -> None:
    """A row stored before the edge refused such counts: dead-lettered, never expanded."""
    form = urlencode(inbound(SID, "Hi", NumMedia="99999999"))
    stored = orjson.dumps({"received_at": "2025-06-15T12:00:00.000Z", "form": form})

    with pytest.raises(NormalizationError) as refused:
        connector.normalize(PartnerEvent(SID, "inbound_sms", stored))

    assert refused.value.reason == "too_many_media"


def test_an_opt_out_type_message_longer_than_a_keyword_keeps_no_keyword() -> None:
    params = inbound(SID, "please " * 200, OptOutType="STOP")

    [_, consent] = normalized(params)

    assert consent["type"] == "contact.opted_out"
    assert consent["data"]["keyword"] is None


def test_a_body_past_the_schema_bound_fails_validation_by_name() -> None:
    with pytest.raises(NormalizationError, match="body"):
        normalized(inbound(SID, "x" * 5000))


def test_a_long_whatsapp_profile_name_is_cut_not_dead_lettered() -> None:
    """A display name is cut to its schema bound; an over-long body still fails the schema."""
    params = sample_params("inbound_whatsapp", "1" * 32) | {"ProfileName": "Lucía " * 100}
    [event] = normalized(params)
    assert event["data"]["profile_name"] == ("Lucía " * 100)[:255]
    too_long_body = params | {"Body": "x" * 100_000}
    with pytest.raises(NormalizationError):
        normalized(too_long_body)
