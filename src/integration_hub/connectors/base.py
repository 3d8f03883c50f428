"""What a connector is: a manifest (name, secrets, kept headers, event map) plus four steps.

1. `verify` checks the signature on the exact raw bytes, before anything is parsed.
2. `split` turns a verified delivery into one or more partner events (id, type, bytes).
3. `respond` builds the 2xx answer once those are committed (read-only; None: the edge's JSON).
4. `normalize` turns one stored partner event into internal event drafts (no I/O).

Batches (Auth0 today; SendGrid and QuickBooks later) follow one rule: one bad entry never costs
the others. `split` returns every well-formed entry as usual and each malformed one as
`malformed_entry(bytes, reason)`: keyed `malformed:<sha256 hex of its bytes>` (a retried batch
stores it once), stored dead-lettered (`failed`, `last_error` = the reason) so the normalizer
never picks it up, and the delivery is answered 2xx so the partner does not resend the good
entries forever. A batch in the partner's format that does not parse (a JSON array with one
broken element) has no entries to tell apart: it is one malformed entry holding all its bytes.
`MalformedPayload` is for a delivery that is not the partner's payload as a whole (not JSON at
all, no entries); `TooManyEntries` (413) for more entries than the partner ever sends.

Everything `verify` does runs for anyone who can reach the endpoint, so its cost must be
bounded by the body and header limits alone: cap every list it parses (signatures in a header,
form parameters) before looping over it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from integration_hub.events import InternalEventDraft as InternalEventDraft
from integration_hub.storage.tables import MALFORMED_ID_PREFIX as MALFORMED_ID_PREFIX


@dataclass(frozen=True, slots=True)
class Delivery:
    """One HTTP request as the edge received it."""

    body: bytes
    headers: Mapping[str, str]  # lower-case names
    url: str
    received_at: float  # unix seconds
    # The path segment after /webhooks/{partner}/ ("" for the bare path): which of the
    # partner's endpoints was called (`Manifest.endpoints`).
    endpoint: str = ""


@dataclass(frozen=True, slots=True)
class PartnerEvent:
    """One event as the partner identifies it; `body` is exactly what is stored.

    `malformed` holds why an entry of a verified batch is not the partner's payload: it is
    then stored dead-lettered with that reason instead of refusing the whole batch."""

    partner_event_id: str
    event_type: str
    body: bytes
    malformed: str | None = None


# raw_events.partner_event_id and event_type are String(255); PostgreSQL text refuses NUL.
MAX_KEY_LENGTH = 255


def storable_key(value: str) -> bool:
    """Whether `value` fits raw_events' id and type columns on every database."""
    return len(value) <= MAX_KEY_LENGTH and "\x00" not in value


def malformed_entry(body: bytes, reason: str) -> PartnerEvent:
    """A malformed entry of a verified batch, kept with its bytes under an id derived from
    them, so the same bytes in a retried batch are a duplicate."""
    event_id = MALFORMED_ID_PREFIX + hashlib.sha256(body).hexdigest()
    return PartnerEvent(event_id, "malformed", body, malformed=reason)


@dataclass(frozen=True, slots=True)
class Manifest:
    name: str
    # The variable that holds the signing secret. Every secret a partner reads, with its shape
    # and whether it is required, is declared once in its `Partner.secrets`.
    webhook_secret: str
    kept_headers: frozenset[str] = frozenset({"content-type", "user-agent"})
    event_map: Mapping[str, str] = field(default_factory=dict)  # partner type -> internal type
    # What the partner's scheme protects. Without a signed timestamp, only the dedup key stops
    # a replay; without a signed body, only the transport (TLS) protects the content.
    signs_body: bool = True
    signs_timestamp: bool = True
    signs_url: bool = False  # only then does the edge build the public URL of the request
    # The endpoints under /webhooks/{name}: "" is the bare path, any other name one more path
    # segment (/webhooks/{name}/voice); the edge answers 404 `unknown_endpoint` to the rest.
    # None: every segment reaches `verify`, which checks it against a secret (an unguessable
    # path token, for a partner that signs nothing) and raises `UnknownEndpoint` for others.
    endpoints: frozenset[str] | None = frozenset({""})
    # Each endpoint is a connection (an instance id: one PMS account of one manager) with its
    # own secret, `webhook_secret` per instance (`NAME__<CONNECTION>`): the edge verifies
    # /webhooks/{name}/{connection} with that connection's versions only (endpoints: None).
    secret_per_endpoint: bool = False


class Connector(Protocol):
    manifest: Manifest

    def verify(self, delivery: Delivery, secrets: Sequence[str], *, now: float) -> None:
        """Raise `SignatureError` unless one of `secrets` signed this delivery."""
        ...

    def split(self, delivery: Delivery) -> list[PartnerEvent]:
        """Raise `MalformedPayload` unless the body is the partner's payload."""
        ...

    def respond(
        self, delivery: Delivery, events: Sequence[PartnerEvent]
    ) -> tuple[str, bytes] | None:
        """The 2xx answer to `delivery`, once its `events` are committed: (content type, body),
        or None for the edge's JSON summary. It runs for duplicates too and must write nothing
        (a retried delivery is answered from the same request, so the same way unless what a
        `prepare` read has changed since): TwiML for an IVR step, a challenge echoed."""
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
