"""Stripe Connect onboarding of cleaners: an Express connected account per cleaner, made once,
linked to the cleaner in the core registry, and an Account Link to finish onboarding.

The account is created with an Idempotency-Key from the cleaner id, so a retried activity or a
second request inside Stripe's key window gets the same account back; once it is stored on the
cleaner no account is created again. The account's readiness at creation (nothing enabled,
what is due) is stored with it, dated by the account's `created`: the `account.updated` events
that follow (the cleaners handler) are never older. An Account Link is single-use and short
lived, so each onboarding run makes a new one (keyed by the run, so a retry in the run gets
the same link).

These activities extend `StripeCalls` (same client, key checks, limits and error mapping).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy import Engine
from temporalio import activity

from integration_hub.connectors.outbound import idempotency_key, refuse
from integration_hub.connectors.stripe.calls import DEFAULT_API_BASE, PARTNER, StripeCalls
from integration_hub.connectors.stripe.webhook import account_requirements
from integration_hub.secrets import SecretSource
from integration_hub.storage import cleaners
from integration_hub.storage.engine import begin_write


@dataclass(frozen=True)
class OnboardCleanerInput:
    cleaner_id: str
    refresh_url: str  # where Stripe sends the cleaner when the link has expired
    return_url: str  # where Stripe sends the cleaner when they leave the flow
    account_id: str | None = None  # stored already: no account is created
    country: str = "US"
    phone: str | None = None  # prefilled in the onboarding form

    def workflow_id(self) -> str:
        return f"stripe_onboard_cleaner/{self.cleaner_id}"


@dataclass(frozen=True)
class ConnectedAccountInput:
    cleaner_id: str
    country: str
    phone: str | None = None


@dataclass(frozen=True)
class ConnectedAccount:
    account_id: str
    created: int  # unix seconds
    charges_enabled: bool = False
    payouts_enabled: bool = False
    disabled_reason: str | None = None
    requirements_due: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RecordAccountInput:
    cleaner_id: str
    account: ConnectedAccount


@dataclass(frozen=True)
class AccountLinkInput:
    cleaner_id: str
    account_id: str
    refresh_url: str
    return_url: str
    run_id: str  # the onboarding run's: a retry in the run gets the same link


@dataclass(frozen=True)
class OnboardingResult:
    account_id: str
    url: str
    expires_at: int  # unix seconds


class StripeConnectCalls(StripeCalls):
    """Stripe's activities plus Connect onboarding, which also writes the cleaners registry."""

    def __init__(
        self,
        secrets: SecretSource,
        *,
        env: str,
        engine: Engine | None = None,
        api_base: str = DEFAULT_API_BASE,
    ) -> None:
        super().__init__(secrets, env=env, api_base=api_base)
        self._engine = engine

    def activities(self) -> Sequence[Callable[..., Any]]:
        return [
            *super().activities(),
            self.create_connected_account,
            self.record_payout_account,
            self.create_account_link,
        ]

    @activity.defn(name="stripe_create_connected_account")
    def create_connected_account(self, input: ConnectedAccountInput) -> ConnectedAccount:
        params: stripe.params.AccountCreateParams = {
            "type": "express",
            "country": input.country,
            "business_type": "individual",
            "capabilities": {"transfers": {"requested": True}},
            "metadata": {"cleaner_id": input.cleaner_id},
        }
        if input.phone:
            params["individual"] = {"phone": input.phone}
        key = idempotency_key(PARTNER, "connected_account", input.cleaner_id)
        account = self._call(
            "accounts.create",
            lambda c: c.v1.accounts.create(params=params, options={"idempotency_key": key}),
        )
        obj = account.to_dict()
        reason, due = account_requirements(obj)
        return ConnectedAccount(
            account_id=account.id,
            created=int(obj.get("created") or 0),
            charges_enabled=bool(obj.get("charges_enabled")),
            payouts_enabled=bool(obj.get("payouts_enabled")),
            disabled_reason=reason,
            requirements_due=due,
        )

    @activity.defn(name="stripe_record_payout_account")
    def record_payout_account(self, input: RecordAccountInput) -> None:
        """Store the account on the cleaner with its readiness at creation; refused (not
        retried) when the cleaner is gone or holds another account."""
        if self._engine is None:
            raise refuse(PARTNER, "record_payout_account", "no database to record the account")
        account = input.account
        with begin_write(self._engine) as connection:
            linked = cleaners.set_payout_account(
                connection,
                cleaner_id=input.cleaner_id,
                partner=PARTNER,
                account_id=account.account_id,
            )
            if not linked:
                raise refuse(
                    PARTNER,
                    "record_payout_account",
                    f"cleaner {input.cleaner_id} is gone or has another payout account",
                )
            cleaners.update_readiness(
                connection,
                partner=PARTNER,
                account_id=account.account_id,
                when=datetime.fromtimestamp(account.created, UTC),
                charges_enabled=account.charges_enabled,
                payouts_enabled=account.payouts_enabled,
                disabled_reason=account.disabled_reason,
                requirements_due=account.requirements_due,
            )

    @activity.defn(name="stripe_create_account_link")
    def create_account_link(self, input: AccountLinkInput) -> OnboardingResult:
        params: stripe.params.AccountLinkCreateParams = {
            "account": input.account_id,
            "refresh_url": input.refresh_url,
            "return_url": input.return_url,
            "type": "account_onboarding",
        }
        key = idempotency_key(PARTNER, "account_link", input.cleaner_id, input.run_id)
        link = self._call(
            "account_links.create",
            lambda c: c.v1.account_links.create(params=params, options={"idempotency_key": key}),
        )
        return OnboardingResult(input.account_id, link.url, int(link.expires_at))
