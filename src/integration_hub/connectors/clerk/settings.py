"""Clerk settings: `HUB_CLERK_*` from the environment (and an optional `.env`). Built by the
factories (calls, doctor's check), never at import."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_BASE = "https://api.clerk.com/v1"


class ClerkSettings(BaseSettings):
    # `extra="ignore"`: the same environment and `.env` carry every other HUB_ setting.
    model_config = SettingsConfigDict(
        env_prefix="HUB_CLERK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    api_base_url: str = Field(
        default=DEFAULT_API_BASE, description="Tests only: point the Backend API at a local server."
    )
