"""Doctor's sign-in check: passkeys and MFA are the auth provider's job; the hub reads whether
they are enabled from the active provider's settings (its `Partner.identity.sign_in_check`,
a live call with a short timeout) and names the sign-in URL to try them on.

An unreachable or refusing provider never fails doctor: the answer is "unknown: <reason>".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from integration_hub.connectors.identity_provider import SignInPolicy
from integration_hub.connectors.partner import Partner
from integration_hub.connectors.partners import PARTNERS, provider_for
from integration_hub.errors import UnknownPartner
from integration_hub.secrets import SecretSource
from integration_hub.settings import Settings

log = structlog.get_logger(__name__)
CHECK_TIMEOUT_SECONDS = 5.0
SIGN_IN_PATH = "/status/login"
MAX_REASON = 200


@dataclass(frozen=True)
class SignInReport:
    provider: str
    passkeys: str  # enabled | disabled | unknown: <reason>
    mfa: str  # enabled (factors) | disabled | unknown: <reason>
    url: str  # the sign-in URL to try, or what to set to have one

    def as_dict(self) -> dict[str, str]:
        return {"provider": self.provider, "passkeys": self.passkeys, "mfa": self.mfa,
                "sign_in_url": self.url}  # fmt: skip


def active_provider(settings: Settings, partners: Sequence[Partner] = PARTNERS) -> Partner | None:
    try:
        return provider_for("auth", settings.auth_provider, partners)
    except UnknownPartner:
        return None  # doctor's configuration checks say so; this check has nothing to read


def _state(value: bool | None, reason: str, factors: tuple[str, ...] = ()) -> str:
    if value is None:
        return f"unknown: {reason or 'not reported'}"
    if not value:
        return "disabled"
    return f"enabled ({', '.join(factors)})" if factors else "enabled"


def check_sign_in(
    settings: Settings,
    secrets: SecretSource,
    partner: Partner,
    *,
    timeout: float = CHECK_TIMEOUT_SECONDS,
) -> SignInReport | None:
    """The provider's passkey and MFA settings now; None for a partner with no check."""
    if partner.identity is None:
        return None
    try:
        policy = partner.identity.sign_in_check(settings, secrets, timeout)
    except Exception as error:  # any failure to read is "unknown", never fatal
        # The type and the hub's own message only: an SDK's text could echo a request.
        message = getattr(error, "message", "") or type(error).__name__
        policy = SignInPolicy(None, None, reason=str(message)[:MAX_REASON])
        log.info("sign_in_check_unknown", partner=partner.name, reason=policy.reason)
    base = settings.public_base_url
    url = base.rstrip("/") + SIGN_IN_PATH if base else "set HUB_PUBLIC_BASE_URL"
    return SignInReport(
        provider=partner.name,
        passkeys=_state(policy.passkeys, policy.reason),
        mfa=_state(policy.mfa, policy.reason, policy.factors),
        url=url,
    )
