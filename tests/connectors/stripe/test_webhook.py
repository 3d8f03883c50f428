"""StripeConnector against the official stripe-python SDK, plus split and normalize."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
import stripe

from integration_hub import events
from integration_hub.connectors.base import Delivery, PartnerEvent
from integration_hub.connectors.stripe.webhook import StripeConnector
from integration_hub.errors import MalformedPayload, SignatureError

SECRET = "whsec_test_5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH"
OLD_SECRET = "whsec_test_oldOldOldOldOldOldOldOldOldOld00"
WRONG_SECRET = "whsec_test_wrongWrongWrongWrongWrongWrong0"
TOLERANCE = 300
URL = "http://test/webhooks/stripe"

# Stripe type -> (internal type, field of data.object that holds the amount in minor units).
MAPPED: dict[str, tuple[str, str | None]] = {
    "payment_intent.succeeded": ("payment.succeeded", "amount_received"),
    "payment_intent.payment_failed": ("payment.failed", "amount"),
    "charge.refunded": ("payment.refunded", "amount_refunded"),
    "payout.paid": ("payout.paid", "amount"),
    "payout.failed": ("payout.failed", "amount"),
    "invoice.paid": ("invoice.paid", "amount_paid"),
    "account.updated": ("connected_account.updated", None),
    "checkout.session.completed": ("checkout.completed", "amount_total"),
}
MONEY_TYPES = [t for t, (_, amount_field) in MAPPED.items() if amount_field is not None]


@pytest.fixture
def connector() -> StripeConnector:
    return StripeConnector(tolerance_seconds=TOLERANCE)


@pytest.fixture
def now() -> int:
    """The wall clock once per test: the SDK reads `time.time()`, ours is told `now`."""
    return int(time.time())


@pytest.fixture
def body(connector: StripeConnector) -> bytes:
    return connector.sample("payment_intent.succeeded")


def sdk_header(body: bytes, secret: str, timestamp: int) -> str:
    return stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=timestamp
    )


def delivery(body: bytes, header: str | None, now: float) -> Delivery:
    headers = {"content-type": "application/json"}
    if header is not None:
        headers["stripe-signature"] = header
    return Delivery(body=body, headers=headers, url=URL, received_at=now)


def sdk_accepts(body: bytes, header: str | None, secret: str) -> bool:
    try:
        stripe.WebhookSignature.verify_header(body, header, secret, tolerance=TOLERANCE)
    except stripe.SignatureVerificationError:
        return False
    return True


def ours_rejects(
    connector: StripeConnector, body: bytes, header: str | None, secrets: list[str], now: float
) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        connector.verify(delivery(body, header, now), secrets, now=now)
    return caught.value


def tampered(body: bytes) -> bytes:
    event = orjson.loads(body)
    event["data"]["object"]["amount_received"] = 999_999
    changed = orjson.dumps(event)
    assert changed != body
    return changed


def with_changes(body: bytes, *, top: dict[str, Any] | None = None, **obj: Any) -> bytes:
    event = orjson.loads(body)
    event.update(top or {})
    event["data"]["object"].update(obj)
    return orjson.dumps(event)


def partner_event(body: bytes) -> PartnerEvent:
    event = orjson.loads(body)
    return PartnerEvent(event["id"], event["type"], body)


# --- verify, cross-checked with the SDK -------------------------------------------------------


def test_sdk_signed_header_is_accepted(connector: StripeConnector, body: bytes, now: int) -> None:
    header = sdk_header(body, SECRET, now)

    connector.verify(delivery(body, header, now), [SECRET], now=now)

    assert sdk_accepts(body, header, SECRET)


def test_tampered_body_is_rejected_by_both(
    connector: StripeConnector, body: bytes, now: int
) -> None:
    header = sdk_header(body, SECRET, now)
    changed = tampered(body)

    error = ours_rejects(connector, changed, header, [SECRET], now)

    assert error.reason == "signature_mismatch"
    assert not sdk_accepts(changed, header, SECRET)


def test_wrong_secret_is_rejected_by_both(
    connector: StripeConnector, body: bytes, now: int
) -> None:
    header = sdk_header(body, WRONG_SECRET, now)

    error = ours_rejects(connector, body, header, [SECRET], now)

    assert error.reason == "signature_mismatch"
    assert not sdk_accepts(body, header, SECRET)


def test_timestamp_older_than_tolerance_is_rejected_by_both(
    connector: StripeConnector, body: bytes, now: int
) -> None:
    header = sdk_header(body, SECRET, now - TOLERANCE - 60)

    error = ours_rejects(connector, body, header, [SECRET], now)

    assert error.reason == "timestamp_out_of_tolerance"
    assert not sdk_accepts(body, header, SECRET)


def test_timestamp_exactly_at_tolerance_is_accepted(
    connector: StripeConnector, body: bytes, now: int
) -> None:
    header = sdk_header(body, SECRET, now - TOLERANCE)

    connector.verify(delivery(body, header, now), [SECRET], now=now)

    assert ours_rejects(connector, body, header, [SECRET], now + 1).reason == (
        "timestamp_out_of_tolerance"
    )


def test_future_timestamp_is_accepted_by_both(
    connector: StripeConnector, body: bytes, now: int
) -> None:
    header = sdk_header(body, SECRET, now + 3600)

    connector.verify(delivery(body, header, now), [SECRET], now=now)

    assert sdk_accepts(body, header, SECRET)


def test_v0_only_header_is_rejected_by_both(
    connector: StripeConnector, body: bytes, now: int
) -> None:
    signature = sdk_header(body, SECRET, now).split(",v1=")[1]
    header = f"t={now},v0={signature}"

    error = ours_rejects(connector, body, header, [SECRET], now)

    assert error.reason == "malformed_signature"
    assert not sdk_accepts(body, header, SECRET)


def test_second_of_several_v1_signatures_matching_is_accepted_by_both(
    connector: StripeConnector, body: bytes, now: int
) -> None:
    good = sdk_header(body, SECRET, now).split(",v1=")[1]
    bad = sdk_header(body, WRONG_SECRET, now).split(",v1=")[1]
    header = f"t={now},v1={bad},v1={good}"

    connector.verify(delivery(body, header, now), [SECRET], now=now)

    assert sdk_accepts(body, header, SECRET)


def test_missing_header_is_rejected_as_missing_signature(
    connector: StripeConnector, body: bytes, now: int
) -> None:
    error = ours_rejects(connector, body, None, [SECRET], now)

    assert error.reason == "missing_signature"
    assert not sdk_accepts(body, None, SECRET)


def test_delivery_signed_with_old_secret_is_accepted_during_rotation(
    connector: StripeConnector, body: bytes, now: int
) -> None:
    header = sdk_header(body, OLD_SECRET, now)

    connector.verify(delivery(body, header, now), [SECRET, OLD_SECRET], now=now)

    assert ours_rejects(connector, body, header, [SECRET], now).reason == "signature_mismatch"


def test_sign_produces_a_header_the_sdk_accepts(
    connector: StripeConnector, body: bytes, now: int
) -> None:
    headers = connector.sign(body, SECRET, timestamp=now, url="")

    assert headers["Stripe-Signature"] == sdk_header(body, SECRET, now)
    assert sdk_accepts(body, headers["Stripe-Signature"], SECRET)


# --- split ------------------------------------------------------------------------------------


def test_split_rejects_a_body_that_is_not_json(connector: StripeConnector, now: int) -> None:
    with pytest.raises(MalformedPayload) as caught:
        connector.split(delivery(b"not json {", None, now))

    assert caught.value.reason == "malformed_payload"


@pytest.mark.parametrize(
    "event",
    [
        {"object": "event", "data": {"object": {"id": "pi_1"}}},
        {"id": "evt_1", "data": {"object": {"id": "pi_1"}}},
        {"type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1"}}},
    ],
    ids=["no-id-no-type", "no-type", "no-id"],
)
def test_split_rejects_json_without_id_or_type(
    connector: StripeConnector, now: int, event: dict[str, Any]
) -> None:
    with pytest.raises(MalformedPayload) as caught:
        connector.split(delivery(orjson.dumps(event), None, now))

    assert caught.value.reason == "malformed_payload"


def test_split_returns_one_event_with_id_type_and_exact_bytes(
    connector: StripeConnector, body: bytes, now: int
) -> None:
    payload = orjson.loads(body)

    split = connector.split(delivery(body, None, now))

    assert split == [PartnerEvent(payload["id"], "payment_intent.succeeded", body)]
    assert split[0].body == body


# --- normalize --------------------------------------------------------------------------------


@pytest.mark.parametrize("stripe_type", list(MAPPED))
def test_normalize_maps_to_the_internal_type_and_keeps_the_object_id(
    connector: StripeConnector, stripe_type: str
) -> None:
    body = connector.sample(stripe_type)
    obj = orjson.loads(body)["data"]["object"]

    [draft] = connector.normalize(partner_event(body))

    assert draft.type == MAPPED[stripe_type][0]
    assert draft.data["object_id"] == obj["id"]
    assert draft.subject == obj["id"]


@pytest.mark.parametrize("stripe_type", MONEY_TYPES)
def test_normalize_gives_amount_in_minor_units_and_lower_case_currency(
    connector: StripeConnector, stripe_type: str
) -> None:
    body = connector.sample(stripe_type)
    obj = orjson.loads(body)["data"]["object"]
    amount_field = MAPPED[stripe_type][1]
    assert amount_field is not None

    [draft] = connector.normalize(partner_event(body))

    assert type(draft.data["amount"]) is int
    assert draft.data["amount"] == obj[amount_field]
    assert draft.data["currency"] == obj["currency"].lower()
    assert draft.data["currency"].islower()


@pytest.mark.parametrize("stripe_type", list(MAPPED))
def test_normalized_event_validates_against_its_schema(
    connector: StripeConnector, stripe_type: str
) -> None:
    event = partner_event(connector.sample(stripe_type))

    [draft] = connector.normalize(event)
    cloud_event = events.build_event(
        partner="stripe", partner_event_id=event.partner_event_id, index=0, draft=draft
    )

    events.validate_event(cloud_event)
    assert cloud_event["type"] == draft.type


def test_unmapped_type_normalizes_to_nothing(connector: StripeConnector) -> None:
    body = connector.sample("customer.created")

    assert connector.normalize(partner_event(body)) == []


def test_connect_event_carries_the_connected_account(connector: StripeConnector) -> None:
    body = with_changes(connector.sample("payout.paid"), top={"account": "acct_123"})

    [draft] = connector.normalize(partner_event(body))

    assert draft.data["account"] == "acct_123"


def test_platform_event_has_no_account(connector: StripeConnector) -> None:
    [draft] = connector.normalize(partner_event(connector.sample("payout.paid")))

    assert draft.data["account"] is None


def test_upper_case_currency_is_lower_cased(connector: StripeConnector) -> None:
    body = with_changes(connector.sample("payment_intent.succeeded"), currency="USD")

    [draft] = connector.normalize(partner_event(body))

    assert draft.data["currency"] == "usd"


def test_account_update_carries_why_it_is_restricted_and_what_is_due(
    connector: StripeConnector,
) -> None:
    requirements = {
        "disabled_reason": "requirements.past_due",
        "past_due": ["external_account"],
        "currently_due": ["external_account", "tos_acceptance.date", 7, ""],
    }
    body = with_changes(connector.sample("account.updated"), requirements=requirements)

    [draft] = connector.normalize(partner_event(body))

    assert draft.data["disabled_reason"] == "requirements.past_due"
    assert draft.data["requirements_due"] == ["external_account", "tos_acceptance.date"]


def test_account_requirements_are_bounded(connector: StripeConnector) -> None:
    due = [f"person_{n}.{'x' * 300}" for n in range(500)]
    body = with_changes(
        connector.sample("account.updated"),
        requirements={"currently_due": due, "disabled_reason": "r" * 1000},
    )

    [draft] = connector.normalize(partner_event(body))
    cloud_event = events.build_event(
        partner="stripe", partner_event_id="evt_1", index=0, draft=draft
    )

    events.validate_event(cloud_event)  # within the schema's bounds
    assert len(draft.data["requirements_due"]) == 100
    assert len(draft.data["disabled_reason"]) == 255


def test_an_enabled_account_is_not_restricted(connector: StripeConnector) -> None:
    [draft] = connector.normalize(partner_event(connector.sample("account.updated")))

    assert (draft.data["disabled_reason"], draft.data["requirements_due"]) == (None, [])
