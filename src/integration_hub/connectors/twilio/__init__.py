"""Twilio: SMS and WhatsApp. `webhook` takes inbound messages and status callbacks; `messaging`
sends messages (Temporal activities over the official SDK); `workflows` runs a send."""

from integration_hub.connectors.twilio.webhook import TwilioWebhookConnector as TwilioConnector

__all__ = ["TwilioConnector"]
