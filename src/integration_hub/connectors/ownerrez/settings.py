"""OwnerRez settings: `HUB_OWNERREZ_*` from the environment (and an optional `.env`), read the way the
core `Settings` reads its own. Built by the partner's factories, never at import."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OwnerRezSettings(BaseSettings):
    # `extra="ignore"`: the same environment and `.env` carry every other HUB_ setting.
    model_config = SettingsConfigDict(
        env_prefix="HUB_OWNERREZ_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Its API (tests point it at a local server) and the client-side budget per connection
    # (OwnerRez documents no limit: a conservative one).
    api_base_url: str = Field(
        default="https://api.ownerrez.com", description="OwnerRez's API (no trailing /v2)."
    )
    calls_per_second: int = Field(default=5, ge=1, le=100)
    calls_per_minute: int = Field(default=300, ge=1, le=6000)
    first_poll_days: int = Field(
        default=365,
        ge=1,
        le=3650,
        description="A connection's first bookings poll asks for what changed this many days back.",
    )
