"""SendGrid settings: `HUB_SENDGRID_*` from the environment (and an optional `.env`), read the way the
core `Settings` reads its own. Built by the calls factory, never at import."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SendGridSettings(BaseSettings):
    # `extra="ignore"`: the same environment and `.env` carry every other HUB_ setting.
    model_config = SettingsConfigDict(
        env_prefix="HUB_SENDGRID_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    api_base_url: str = Field(
        default="https://api.sendgrid.com",
        description="Tests only: point the SendGrid calls at a local server.",
    )
    requests_per_minute: int = Field(
        default=600,
        ge=1,
        le=100_000,
        description="Client-side limit on SendGrid sends per worker (a minute).",
    )
