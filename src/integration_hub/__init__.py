"""integration-hub: verified partner webhooks in, CloudEvents out, side effects on Temporal."""

__version__ = "0.1.0"
