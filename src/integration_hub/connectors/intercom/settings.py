"""Intercom settings: `HUB_INTERCOM_*` from the environment (and an optional `.env`), read the
way the core `Settings` reads its own. Built by the calls factory, never at import."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IntercomSettings(BaseSettings):
    # `extra="ignore"`: the same environment and `.env` carry every other HUB_ setting.
    model_config = SettingsConfigDict(
        env_prefix="HUB_INTERCOM_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    api_base_url: str = Field(
        default="https://api.intercom.io",
        description="The regional API host (https://api.eu.intercom.io, https://api.au.intercom.io "
        "for workspaces hosted there); tests point it at a local server.",
    )
    api_version: str = Field(
        default="2.11",
        pattern=r"^[0-9]+\.[0-9]+$",
        description="Sent as Intercom-Version: the API version the requests and answers follow.",
    )
    requests_per_minute: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Client-side limit per worker; Intercom allows 10,000 calls a minute per "
        "private app, spread over 10-second windows.",
    )
