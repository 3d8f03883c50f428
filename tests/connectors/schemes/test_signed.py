"""The bases a connector on a shared scheme inherits: verify, sign and respond delegated to its
scheme; for Standard Webhooks, the standard payload split and keyed by the message id."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from integration_hub.connectors.base import Delivery
from integration_hub.connectors.schemes.hmac import HmacScheme
from integration_hub.connectors.schemes.signed import SchemeSigned, StandardWebhooksSigned
from integration_hub.errors import MalformedPayload, SignatureError

NOW = 1_750_000_000
SVIX_SECRET = "whsec_" + base64.b64encode(b"signed-base-test-key-0123456789").decode()
BODY = b'{"type":"thing.happened","data":{"id":"obj_1"}}'


class HmacSigned(SchemeSigned):
    scheme = HmacScheme(header="x-signature", timestamp_header="x-timestamp")
    content_type = "application/x-www-form-urlencoded"


def _delivery(body: bytes, headers: dict[str, str]) -> Delivery:
    lowered = {name.lower(): value for name, value in headers.items()}
    return Delivery(body, lowered, "https://hub.example.com/webhooks/x", NOW)


def test_scheme_signed_delegates_verify_and_sign_to_its_scheme() -> None:
    connector = HmacSigned()
    headers = connector.sign(BODY, "s3cret-value", timestamp=NOW, url="")
    expected = hmac.new(b"s3cret-value", f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()

    assert headers == {
        "x-timestamp": str(NOW),
        "x-signature": expected,
        "Content-Type": "application/x-www-form-urlencoded",
    }
    connector.verify(_delivery(BODY, headers), ["s3cret-value"], now=NOW)
    with pytest.raises(SignatureError):
        connector.verify(_delivery(BODY + b" ", headers), ["s3cret-value"], now=NOW)


def test_respond_leaves_the_answer_to_the_edge() -> None:
    assert HmacSigned().respond(_delivery(BODY, {}), []) is None


def test_standard_webhooks_signed_splits_one_event_keyed_by_the_message_id() -> None:
    connector = StandardWebhooksSigned()
    headers = connector.scheme.sign(BODY, SVIX_SECRET, timestamp=NOW, message_id="msg_42")
    delivery = _delivery(BODY, headers)

    connector.verify(delivery, [SVIX_SECRET], now=NOW)
    events = connector.split(delivery)

    assert [(e.partner_event_id, e.event_type, e.body) for e in events] == [
        ("msg_42", "thing.happened", BODY)
    ]


def test_standard_webhooks_signed_uses_the_tolerance_it_is_built_with() -> None:
    strict = StandardWebhooksSigned(tolerance_seconds=60)
    headers = strict.sign(BODY, SVIX_SECRET, timestamp=NOW - 61, url="")

    StandardWebhooksSigned().verify(_delivery(BODY, headers), [SVIX_SECRET], now=NOW)
    with pytest.raises(SignatureError) as refused:
        strict.verify(_delivery(BODY, headers), [SVIX_SECRET], now=NOW)
    assert refused.value.reason == "timestamp_out_of_tolerance"


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"data":{}}', b'{"type":1,"data":{}}', b'{"type":"t","data":[]}'],
    ids=["not-json", "not-an-object", "no-type", "type-not-text", "data-not-an-object"],
)
def test_standard_webhooks_signed_refuses_a_body_not_in_the_standard_shape(body: bytes) -> None:
    connector = StandardWebhooksSigned()
    headers = connector.sign(body, SVIX_SECRET, timestamp=NOW, url="")

    with pytest.raises(MalformedPayload) as refused:
        connector.split(_delivery(body, headers))
    assert refused.value.reason == "malformed_payload"
