"""What a connector on a shared scheme inherits instead of writing: `verify`, `sign` and
`respond` delegated to its `scheme`, and for Standard Webhooks the `split` of the standard
payload keyed by the message id. The partner writes its manifest, `normalize` and `sample`.

    class AcmeConnector(StandardWebhooksSigned):
        manifest = Manifest(name="acme", webhook_secret="ACME_WEBHOOK_SECRET", ...)
        def normalize(self, event: PartnerEvent) -> list[InternalEventDraft]: ...
        def sample(self, event_type: str) -> bytes: ...

A partner whose answer is not the edge's JSON summary (TwiML, a challenge echo) overrides
`respond`; one whose body is not one event per delivery overrides `split`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar, Protocol

import orjson

from integration_hub.connectors.base import Delivery, PartnerEvent
from integration_hub.connectors.schemes.common import DEFAULT_TOLERANCE_SECONDS
from integration_hub.connectors.schemes.standard_webhooks import StandardWebhooks
from integration_hub.errors import MalformedPayload


class BodyScheme(Protocol):
    """A scheme that signs the body (and a timestamp): `StandardWebhooks`, `HmacScheme`."""

    def verify(
        self, headers: Mapping[str, str], body: bytes, secrets: Sequence[str], *, now: float
    ) -> None: ...

    def sign(self, body: bytes, secret: str, *, timestamp: int) -> dict[str, str]: ...


class SchemeSigned:
    """`verify`, `sign` and `respond` for a connector whose `scheme` signs the body."""

    scheme: BodyScheme
    # The content type `sign` writes, as the partner sends it (`hub send`, tests).
    content_type: ClassVar[str] = "application/json"

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: float) -> None:
        self.scheme.verify(delivery.headers, delivery.body, secrets, now=now)

    def sign(self, body: bytes, secret: str, *, timestamp: int, url: str) -> dict[str, str]:
        headers = self.scheme.sign(body, secret, timestamp=timestamp)
        return {**headers, "Content-Type": self.content_type}

    def respond(self, delivery: Delivery, events: Sequence[PartnerEvent]) -> None:
        """The edge's JSON summary: the partner reads nothing but the status."""
        return None


class StandardWebhooksSigned(SchemeSigned):
    """A Standard Webhooks (Svix) sender of one event per delivery, in the standard payload
    shape `{"type": str, "data": object, ...}`, deduplicated on the message id (`svix-id` or
    `webhook-id`), which the sender keeps across retries of one message."""

    scheme: StandardWebhooks

    def __init__(self, *, tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS) -> None:
        # HUB_SIGNATURE_TOLERANCE_SECONDS, from `WebhookContext.tolerance_seconds`.
        self.scheme = StandardWebhooks(tolerance_seconds=tolerance_seconds)

    def split(self, delivery: Delivery) -> list[PartnerEvent]:
        try:
            event = orjson.loads(delivery.body)
        except orjson.JSONDecodeError:
            raise MalformedPayload("body is not JSON") from None
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise MalformedPayload("the event needs a string `type`")
        if not isinstance(event.get("data"), dict):
            raise MalformedPayload("the event needs a `data` object")
        message_id = self.scheme.message_id(delivery.headers)
        return [PartnerEvent(message_id, event["type"], delivery.body)]
