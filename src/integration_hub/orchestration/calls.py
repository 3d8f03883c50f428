"""The explicit list of partners' calls out: activities (and their workflows) per partner.

Adding a partner's calls means adding one line to `partner_calls` and, when it brings
workflows, to `CALL_WORKFLOWS`.
"""

from __future__ import annotations

from sqlalchemy import Engine

from integration_hub.connectors.outbound import PartnerCalls
from integration_hub.secrets import SecretSource
from integration_hub.settings import Settings

CALL_WORKFLOWS: tuple[type, ...] = ()


def partner_calls(settings: Settings, secrets: SecretSource, engine: Engine) -> list[PartnerCalls]:
    return []


def preflight(calls: list[PartnerCalls]) -> None:
    """Refuse to start on a configuration that must not be used (raises UnsafeConfiguration)."""
    for partner in calls:
        partner.preflight()
