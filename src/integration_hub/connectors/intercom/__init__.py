"""Intercom: a support inbox (capability "support"). `webhook` takes its signed notifications
(X-Hub-Signature, HMAC-SHA1 of the body) and maps conversation and tag topics to support.*
events; `calls` registers the inbox activities the core's escalation flow and tag sync run
(`intercom_support_escalate`, `intercom_support_sync_tags`: connectors/support_inbox.py).

The declaration is static and cheap: the factories import the modules only when called.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from integration_hub.connectors.partner import CallsContext, Partner, Secret, WebhookContext

if TYPE_CHECKING:
    from integration_hub.connectors.base import Connector
    from integration_hub.connectors.outbound import PartnerCalls

CLIENT_SECRET = "INTERCOM_CLIENT_SECRET"  # noqa: S105 (a variable name, not a value)
ACCESS_TOKEN = "INTERCOM_ACCESS_TOKEN"  # noqa: S105 (a variable name, not a value)
# The conversation attribute carrying the hub's escalation id (set by calls, read by webhook).
ESCALATION_ATTRIBUTE = "hub_escalation_id"
CONTACT_TAG_TOPICS = ("contact.user.tag.created", "contact.lead.tag.created")


def _webhook(context: WebhookContext) -> Connector:
    from integration_hub.connectors.intercom.webhook import IntercomConnector

    return IntercomConnector()


def _calls(context: CallsContext) -> PartnerCalls:
    from integration_hub.connectors.intercom.calls import IntercomCalls
    from integration_hub.connectors.intercom.settings import IntercomSettings

    # HUB_INTERCOM_* are the partner's own settings, read when a worker builds the calls.
    return IntercomCalls(context.secrets, IntercomSettings(), engine=context.engine)


PARTNER = Partner(
    name="intercom",
    priority="P2",
    summary="Support inbox: escalations open conversations, tags sync both ways (signed webhooks).",
    capabilities=frozenset({"support"}),
    secrets=(
        Secret(
            CLIENT_SECRET,
            format=r"[A-Za-z0-9_-]{16,128}",
            used_for="webhook",
            local=lambda: secrets.token_hex(18),
            source=(
                "Intercom Developer Hub > your app > Configure > Basic information > App "
                "credentials > Client secret (it signs every webhook); then Configure > Webhooks: "
                "endpoint URL HUB_PUBLIC_BASE_URL + /webhooks/intercom and the topics "
                "conversation.user.created, conversation.user.replied, conversation.admin.replied, "
                "conversation.admin.closed, conversation.admin.assigned, "
                "conversation_part.tag.created, contact.user.tag.created, contact.lead.tag.created"
            ),
        ),
        Secret(
            ACCESS_TOKEN,
            format=r"[A-Za-z0-9=_:.+/-]{20,512}",
            source=(
                "Intercom Developer Hub > your app > Configure > Authentication > Access token "
                "(a private app in your workspace; permissions: read and write conversations, "
                "users and companies, tags, and read admins); and in Settings > Data > "
                "Conversation data, a Text attribute named hub_escalation_id (the hub sets it on "
                "the conversations it opens)"
            ),
        ),
    ),
    webhook=_webhook,
    calls=_calls,
)
