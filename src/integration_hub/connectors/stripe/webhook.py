"""Stripe: payments, Connect payouts, invoices.

Signing (stripe-python `_webhook.py`): `Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]`, HMAC-SHA256
over `"{t}.{raw body}"` keyed by the whole `whsec_...` string; any `v1` may match (rotation);
`v0` is ignored; only timestamps older than the tolerance are refused, after the match.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import orjson

from integration_hub.connectors.base import (
    Delivery,
    InternalEventDraft,
    Manifest,
    PartnerEvent,
)
from integration_hub.connectors.schemes.common import (
    MAX_PRESENTED_SIGNATURES,
    any_signature_matches,
    too_many_signatures,
)
from integration_hub.connectors.schemes.hmac import HmacScheme
from integration_hub.errors import MalformedPayload, SignatureError
from integration_hub.storage.tables import MAX_REQUIREMENTS

SIGNATURE_HEADER = "stripe-signature"
SCHEME = "v1"
MAX_SIGNATURE_ITEMS = MAX_PRESENTED_SIGNATURES + 2  # the v1 values, t= and a test-mode v0=
# The HMAC part of the scheme: hex SHA-256 over "{t}.{body}". The `t=,v1=` header that carries
# both the timestamp and the signatures is Stripe's own, parsed below.
HMAC = HmacScheme(header=SIGNATURE_HEADER, algorithm="sha256", encoding="hex", separator=b".")

# An account's requirements as the internal event carries them (its schema's bounds).
MAX_REQUIREMENT_LENGTH = 255

Obj = Mapping[str, Any]


def _parse_signature_header(header: str) -> tuple[int, list[str]]:
    """Mirror of the SDK's `_get_timestamp_and_signatures`, including its quirks, except that a
    header of more items than Stripe ever sends (t, v1 per active secret, v0) is refused before
    it is split: it is the sender's list until a signature matches."""
    if (count := header.count(",") + 1) > MAX_SIGNATURE_ITEMS:
        raise too_many_signatures(count, "Stripe-Signature")
    items = [item.split("=", 2) for item in header.split(",")]
    try:
        timestamp = int(next(item[1] for item in items if item[0] == "t"))
    except (StopIteration, IndexError, ValueError):
        raise SignatureError(
            "Stripe-Signature has no t= timestamp", reason="malformed_signature"
        ) from None
    signatures = [item[1] for item in items if item[0] == SCHEME and len(item) > 1]
    if not signatures:
        raise SignatureError("Stripe-Signature has no v1= signature", reason="malformed_signature")
    return timestamp, signatures


def _rfc3339(unix: Any) -> str:
    seconds = unix if isinstance(unix, int) else int(time.time())
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _money(obj: Obj, amount_field: str, account: str | None) -> dict[str, Any]:
    currency = obj.get("currency")
    return {
        "amount": obj.get(amount_field),
        "currency": currency.lower() if isinstance(currency, str) else None,
        "object_id": obj["id"],
        "customer": obj.get("customer"),
        "account": account,
        "metadata": dict(obj.get("metadata") or {}),
    }


def _payment_succeeded(obj: Obj, account: str | None) -> dict[str, Any]:
    amount_field = "amount_received" if obj.get("amount_received") else "amount"
    return _money(obj, amount_field, account)


def _payment_failed(obj: Obj, account: str | None) -> dict[str, Any]:
    error = obj.get("last_payment_error") or {}
    return {
        **_money(obj, "amount", account),
        "failure_code": error.get("code"),
        "failure_message": error.get("message"),
    }


def _charge_refunded(obj: Obj, account: str | None) -> dict[str, Any]:
    return {**_money(obj, "amount_refunded", account), "payment_intent": obj.get("payment_intent")}


def _payout(obj: Obj, account: str | None) -> dict[str, Any]:
    return {
        **_money(obj, "amount", account),
        "arrival_date": obj.get("arrival_date"),
        "failure_code": obj.get("failure_code"),
        "failure_message": obj.get("failure_message"),
    }


def _invoice_paid(obj: Obj, account: str | None) -> dict[str, Any]:
    return _money(obj, "amount_paid", account)


def account_requirements(obj: Obj) -> tuple[str | None, list[str]]:
    """An account's `requirements`: why it is restricted (None: it is not) and what is due
    (currently and past due, in Stripe's order, without repeats), both bounded."""
    requirements = obj.get("requirements")
    if not isinstance(requirements, dict):
        return None, []
    reason = requirements.get("disabled_reason")
    due: list[str] = []
    for key in ("past_due", "currently_due"):
        listed = requirements.get(key)
        # Capped before the loop: a list of any length arrives in a verified body.
        for item in listed[:MAX_REQUIREMENTS] if isinstance(listed, list) else []:
            if isinstance(item, str) and item and item not in due and len(due) < MAX_REQUIREMENTS:
                due.append(item[:MAX_REQUIREMENT_LENGTH])
    return (reason[:MAX_REQUIREMENT_LENGTH] if isinstance(reason, str) and reason else None), due


def _account_updated(obj: Obj, account: str | None) -> dict[str, Any]:
    disabled_reason, requirements_due = account_requirements(obj)
    return {
        "object_id": obj["id"],
        "account": obj["id"],
        "charges_enabled": bool(obj.get("charges_enabled")),
        "payouts_enabled": bool(obj.get("payouts_enabled")),
        "details_submitted": bool(obj.get("details_submitted")),
        "disabled_reason": disabled_reason,
        "requirements_due": requirements_due,
        "metadata": dict(obj.get("metadata") or {}),
    }


def _checkout_completed(obj: Obj, account: str | None) -> dict[str, Any]:
    return {
        **_money(obj, "amount_total", account),
        "payment_intent": obj.get("payment_intent"),
        "mode": obj.get("mode"),
        "payment_status": obj.get("payment_status"),
    }


# partner type -> (internal type, builder of `data`)
MAPPING: dict[str, tuple[str, Callable[[Obj, str | None], dict[str, Any]]]] = {
    "payment_intent.succeeded": ("payment.succeeded", _payment_succeeded),
    "payment_intent.payment_failed": ("payment.failed", _payment_failed),
    "charge.refunded": ("payment.refunded", _charge_refunded),
    "payout.paid": ("payout.paid", _payout),
    "payout.failed": ("payout.failed", _payout),
    "invoice.paid": ("invoice.paid", _invoice_paid),
    "account.updated": ("connected_account.updated", _account_updated),
    "checkout.session.completed": ("checkout.completed", _checkout_completed),
}

# How a sample object is put in the state its event type describes (for `hub send`).
_SAMPLE_STATE: dict[str, tuple[str, dict[str, Any]]] = {
    "payment_intent.succeeded": (
        "payment_intent",
        {"status": "succeeded", "amount_received": 1099},
    ),
    "payment_intent.payment_failed": (
        "payment_intent",
        {
            "status": "requires_payment_method",
            "last_payment_error": {"code": "card_declined", "message": "Your card was declined."},
        },
    ),
    "charge.refunded": ("charge", {"refunded": True, "amount_refunded": 100}),
    "payout.paid": ("payout", {"status": "paid"}),
    "payout.failed": (
        "payout",
        {"status": "failed", "failure_code": "account_closed", "failure_message": "Bank closed"},
    ),
    "invoice.paid": ("invoice", {"status": "paid", "amount_paid": 1000, "paid": True}),
    "account.updated": (
        "account",
        {
            "charges_enabled": True,
            "payouts_enabled": True,
            "requirements": {"disabled_reason": None, "currently_due": [], "past_due": []},
        },
    ),
    "checkout.session.completed": (
        "checkout.session",
        {"status": "complete", "payment_status": "paid", "amount_total": 1099, "currency": "usd"},
    ),
}


class StripeConnector:
    manifest = Manifest(
        name="stripe",
        webhook_secret="STRIPE_WEBHOOK_SECRET",  # noqa: S106 (a variable name, not a value)
        kept_headers=frozenset({"content-type", "user-agent", SIGNATURE_HEADER}),
        event_map={partner: internal for partner, (internal, _) in MAPPING.items()},
    )

    def __init__(self, *, tolerance_seconds: int = 300) -> None:
        self.tolerance_seconds = tolerance_seconds

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: float) -> None:
        header = delivery.headers.get(SIGNATURE_HEADER)
        if not header:
            raise SignatureError("Stripe-Signature header is missing", reason="missing_signature")
        timestamp, signatures = _parse_signature_header(header)
        signed = HMAC.message(delivery.body, str(timestamp))
        expected = [HMAC.digest(secret, signed) for secret in secrets]
        if not any_signature_matches(expected, signatures):
            raise SignatureError("no v1 signature matches a current webhook secret")
        if timestamp < now - self.tolerance_seconds:
            raise SignatureError(
                f"timestamp is more than {self.tolerance_seconds}s old",
                reason="timestamp_out_of_tolerance",
            )

    def split(self, delivery: Delivery) -> list[PartnerEvent]:
        try:
            event = orjson.loads(delivery.body)
        except orjson.JSONDecodeError:
            raise MalformedPayload("body is not JSON") from None
        if not isinstance(event, dict):
            raise MalformedPayload("body is not a Stripe event object")
        event_id, event_type = event.get("id"), event.get("type")
        if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str):
            raise MalformedPayload("Stripe event needs string `id` and `type`")
        data = event.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
            raise MalformedPayload("Stripe event needs `data.object`")
        return [PartnerEvent(event_id, event_type, delivery.body)]

    def respond(self, delivery: Delivery, events: Sequence[PartnerEvent]) -> None:
        """The edge's JSON summary: the partner reads nothing but the status."""
        return None

    def normalize(self, event: PartnerEvent) -> list[InternalEventDraft]:
        mapped = MAPPING.get(event.event_type)
        if mapped is None:
            return []
        internal_type, build = mapped
        payload = orjson.loads(event.body)
        obj = payload["data"]["object"]
        return [
            InternalEventDraft(
                type=internal_type,
                subject=str(obj.get("id", "")),
                time=_rfc3339(payload.get("created")),
                data={
                    **build(obj, payload.get("account")),
                    "livemode": bool(payload.get("livemode")),
                },
            )
        ]

    def sample(self, event_type: str) -> bytes:
        objects = orjson.loads(
            resources.files("integration_hub.connectors.stripe")
            .joinpath("samples.json")
            .read_bytes()
        )
        object_name, state = _SAMPLE_STATE.get(event_type, (event_type.rsplit(".", 1)[0], {}))
        obj = {**objects.get(object_name, {"id": f"obj_{secrets.token_hex(8)}"}), **state}  # a copy
        obj["object"] = object_name
        event = {
            "id": f"evt_{secrets.token_hex(12)}",
            "object": "event",
            "api_version": "2024-06-20",
            "created": int(time.time()),
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        return orjson.dumps(event)

    def sign(self, body: bytes, secret: str, *, timestamp: int, url: str) -> dict[str, str]:
        signature = HMAC.digest(secret, HMAC.message(body, str(timestamp)))
        return {
            "Stripe-Signature": f"t={timestamp},v1={signature}",
            "Content-Type": "application/json",
        }
