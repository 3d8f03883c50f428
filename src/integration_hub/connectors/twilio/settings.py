"""Twilio settings: `HUB_TWILIO_*` from the environment (and an optional `.env`), read the way
the core `Settings` reads its own. Built by the calls and upkeep factories, never at import.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TwilioSettings(BaseSettings):
    # `extra="ignore"`: the same environment and `.env` carry every other HUB_ setting.
    model_config = SettingsConfigDict(
        env_prefix="HUB_TWILIO_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    api_base_url: str | None = Field(
        default=None,
        description="Tests only: point the Twilio clients (messages, Accounts API) at a local "
        "server.",
    )
