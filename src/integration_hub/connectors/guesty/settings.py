"""Guesty settings: `HUB_GUESTY_*` from the environment (and an optional `.env`), read the way
the core `Settings` reads its own. Built by the calls factory, never at import."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GuestySettings(BaseSettings):
    # `extra="ignore"`: the same environment and `.env` carry every other HUB_ setting.
    model_config = SettingsConfigDict(
        env_prefix="HUB_GUESTY_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    api_base_url: str = Field(
        default="https://open-api.guesty.com",
        description="Guesty's Open API, without /v1 (tests point it at a local server).",
    )
    timeout_seconds: float = Field(
        default=15.0, gt=0, le=25, description="One call's timeout (under the activity's 30 s)."
    )
    # Guesty's documented limits per account: 15 a second, 120 a minute, 5,000 an hour.
    per_second: int = Field(default=15, ge=1, le=15, description="Calls a second per connection.")
    per_minute: int = Field(default=120, ge=1, le=120, description="Calls a minute per connection.")
    per_hour: int = Field(default=5000, ge=1, le=5000, description="Calls an hour per connection.")
    tokens_per_day: int = Field(
        default=4,
        ge=1,
        le=5,
        description=(
            "Tokens the hub may ask for per connection in 24 h (Guesty allows 5 per key; one "
            "is left for a person debugging with the same key)."
        ),
    )
