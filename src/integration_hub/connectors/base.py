"""What a connector is: a manifest (name, secrets, kept headers, event map) plus three steps.

1. `verify` checks the signature on the exact raw bytes, before anything is parsed.
2. `split` turns a verified delivery into one or more partner events (id, type, bytes).
3. `normalize` turns one stored partner event into internal event drafts (no I/O).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Delivery:
    """One HTTP request as the edge received it."""

    body: bytes
    headers: Mapping[str, str]  # lower-case names
    url: str
    received_at: float  # unix seconds


@dataclass(frozen=True, slots=True)
class PartnerEvent:
    """One event as the partner identifies it; `body` is exactly what is stored."""

    partner_event_id: str
    event_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class InternalEventDraft:
    """What a connector says happened; `events.build_event` wraps it in a CloudEvent."""

    type: str
    subject: str
    time: str  # RFC 3339
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Manifest:
    name: str
    webhook_secret: str  # the variable that holds the signing secret
    api_secrets: tuple[str, ...] = ()  # variables for calls out (not needed to ingest)
    # The shape a well-formed value has (regex), for `hub doctor`; values are never shown.
    secret_formats: Mapping[str, str] = field(default_factory=dict)
    priority: str = "P0"  # the product's partner priority; `hub doctor --strict` gates on P0
    kept_headers: frozenset[str] = frozenset({"content-type", "user-agent"})
    event_map: Mapping[str, str] = field(default_factory=dict)  # partner type -> internal type
    # What the partner's scheme protects. Without a signed timestamp, only the dedup key stops
    # a replay; without a signed body, only the transport (TLS) protects the content.
    signs_body: bool = True
    signs_timestamp: bool = True
    signs_url: bool = False  # only then does the edge build the public URL of the request
    # What a 2xx answer carries: (content type, body). None: the edge's JSON summary. Twilio,
    # for one, reads the answer to an inbound message as TwiML instructions.
    ack: tuple[str, bytes] | None = None


class Connector(Protocol):
    manifest: Manifest

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: float) -> None:
        """Raise `SignatureError` unless one of `secrets` signed this delivery."""
        ...

    def split(self, delivery: Delivery) -> list[PartnerEvent]:
        """Raise `MalformedPayload` unless the body is the partner's payload."""
        ...

    def normalize(self, event: PartnerEvent) -> list[InternalEventDraft]:
        """Internal events for one partner event; empty when its type has no mapping."""
        ...

    def sample(self, event_type: str) -> bytes:
        """A realistic payload of this type, for `hub send` and tests."""
        ...

    def sign(self, body: bytes, secret: str, *, timestamp: int, url: str) -> dict[str, str]:
        """Headers that sign `body`, posted to the public `url`, exactly as the partner does."""
        ...
