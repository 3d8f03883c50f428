"""What the core asks of the messaging partner (the `messaging` capability): send one text to
one phone, through that partner's send workflow, started through the outbox.

The partner registers a workflow named `send_workflow(partner)` whose input has the fields of
`OutboundMessage` (it may take more, with defaults) and whose id is
`send_workflow_id(partner, message_id)`: one workflow per message id, so queueing the same
message twice sends it once. The core picks the partner with `provider_for("messaging", None)`
and never names it.
"""

from __future__ import annotations

from dataclasses import dataclass

# A longer text is refused by the messaging partners (Twilio: 1600 characters per message);
# the core cuts a relayed reply to this before queueing it.
MAX_BODY = 1600


@dataclass(frozen=True)
class OutboundMessage:
    message_id: str  # the hub's id: deterministic, so a replay sends nothing twice
    to: str  # E.164
    channel: str  # "sms" or "whatsapp"
    body: str


def send_workflow(partner: str) -> str:
    return f"{partner}.send_message"


def send_workflow_id(partner: str, message_id: str) -> str:
    return f"{send_workflow(partner)}/{message_id}"
