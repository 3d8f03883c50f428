"""What a support inbox (Intercom, Front) offers the core's escalation flow and tag sync.

The core never names an inbox: it picks one with `provider_for("support",
settings.support_provider)` and runs the activities that inbox's calls class registers under
the agreed names (`support_activity(provider, action)`), with these dataclasses as their input
and result:

- "escalate" (`EscalationRequest` -> `InboxConversation`): the known inbox contact, else find
  or create the inbox contact for the phone, then open a conversation from that contact with the message and its context when
  `provider_conversation_id` is None, else add the message to that conversation (as the
  contact's message, so it shows in the agent's thread), and apply `tags` to the conversation.
  A retried activity must never open a second conversation nor add a message twice: it uses
  the partner's own dedup (an external id) or finds what an earlier attempt made (a search on
  the hub's ids) before creating. `escalation_id` and `message_id` are stable across retries.
- "sync_tags" (`ContactTagsRequest` -> `InboxContact`): the known inbox contact, else find or
  create the inbox contact for the phone and make its hub tags `add` present and `remove` absent (idempotent; a tag the
  inbox does not know is created).

Events the inbox sends come back through its webhook as `support.*` internal events (schemas
in integration_hub/schemas/support.*.json): the conversation and contact ids there are the
inbox's own, the same ids these activities return, so the core maps them back to its rows.
Phone numbers are E.164 (`+13055550123`); a contact without one is known by its inbox id only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SupportAction = Literal["escalate", "sync_tags"]

# Bounds the core applies before a request is built (the inbox's limits are wider).
MAX_BODY = 4096  # characters of one message (Twilio's inbound body is at most 1600 per SMS)
MAX_TAGS = 20
MAX_TAG = 64  # characters of one tag name


def support_activity(provider: str, action: SupportAction) -> str:
    """The activity name an inbox's calls class registers for an action."""
    return f"{provider}_support_{action}"


@dataclass(frozen=True)
class EscalationContext:
    """What the escalation is about, where the hub knows it (later issues fill these in: the
    property and stay from the PMSs, the cleaning job from the turnover work)."""

    property_id: str | None = None
    stay_id: str | None = None
    job_id: str | None = None
    # Human-readable lines shown to the agent (e.g. "Property: Brickell 12B"); no secrets.
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class EscalationRequest:
    escalation_id: str  # the hub's conversation id (sup_...): one per opened conversation
    message_id: str  # the hub's id of this message (stable: from the inbound event's id)
    phone: str  # E.164: the guest's or cleaner's number
    name: str | None  # a display name when the hub knows one (WhatsApp profile, cleaner)
    language: str  # "es" or "en"
    channel: str  # where the person wrote: "sms" or "whatsapp" (and where replies go back)
    body: str  # the person's message, at most MAX_BODY characters
    # Why it was escalated: the matched rules' names (e.g. "lockout"), shown to the agent.
    reasons: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # applied to the conversation, e.g. ("escalation", "lockout")
    context: EscalationContext = field(default_factory=EscalationContext)
    # None: open a new conversation; else add the message to this one (the inbox's id).
    provider_conversation_id: str | None = None
    # The inbox contact the hub already knows for this phone (an earlier escalation or tag
    # sync): used first, so an inbox whose search lags behind its writes makes no second one.
    provider_contact_id: str | None = None


@dataclass(frozen=True)
class InboxConversation:
    provider_conversation_id: str
    provider_contact_id: str


@dataclass(frozen=True)
class ContactTagsRequest:
    phone: str  # E.164
    name: str | None
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    # The inbox contact the hub already knows for this phone (from an earlier escalation or
    # sync): used first, so an inbox whose search lags behind its writes makes no second one.
    provider_contact_id: str | None = None


@dataclass(frozen=True)
class InboxContact:
    provider_contact_id: str
