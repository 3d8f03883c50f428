"""Hospitable settings: `HUB_HOSPITABLE_*` from the environment (and an optional `.env`), read the way the
core `Settings` reads its own. Built by the partner's factories, never at import."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class HospitableSettings(BaseSettings):
    # `extra="ignore"`: the same environment and `.env` carry every other HUB_ setting.
    model_config = SettingsConfigDict(
        env_prefix="HUB_HOSPITABLE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    api_base_url: str = Field(
        default="https://public.api.hospitable.com/v2",
        description="Hospitable's Public API v2 (tests point it at a local server).",
    )
    requests_per_second: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Calls per second per Hospitable connection, shared by every worker "
        "(Hospitable documents no general limit; a 429's Retry-After pauses the connection).",
    )
