"""Stripe settings: `HUB_STRIPE_*` from the environment (and an optional `.env`), read the way
the core `Settings` reads its own. Built by the factories (calls, CLI), never at import."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StripeSettings(BaseSettings):
    # `extra="ignore"`: the same environment and `.env` carry every other HUB_ setting.
    model_config = SettingsConfigDict(
        env_prefix="HUB_STRIPE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    api_base_url: str | None = Field(
        default=None, description="Tests only: point the Stripe client at a local server."
    )
    connect_country: str = Field(
        default="US",
        pattern=r"^[A-Z]{2}$",
        description="The country of the cleaners' connected accounts (ISO 3166-1 alpha-2).",
    )
    onboarding_link_days: int = Field(
        default=3,
        ge=1,
        le=30,
        description=(
            "How long a cleaner's onboarding pages (refresh and return, under "
            "HUB_PUBLIC_BASE_URL) stay open after the operator made the link."
        ),
    )
