"""Hostaway settings: `HUB_HOSTAWAY_*` from the environment (and an optional `.env`), read the way the
core `Settings` reads its own. Built by the partner's factories, never at import."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class HostawaySettings(BaseSettings):
    # `extra="ignore"`: the same environment and `.env` carry every other HUB_ setting.
    model_config = SettingsConfigDict(
        env_prefix="HUB_HOSTAWAY_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Its API, its documented limits, its token's settling time.
    api_base_url: str = Field(
        default="https://api.hostaway.com",
        description="Hostaway's API (tests point it at a local server); paths start with /v1.",
    )
    ip_calls_per_10s: int = Field(
        default=7,
        ge=1,
        le=1000,
        description="Hostaway allows 15 requests per 10 s per IP, shared by every connection "
        "and worker calling from this hub's address; about half, as the hub's windows are fixed.",
    )
    account_calls_per_10s: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Hostaway allows 20 requests per 10 s per account (connection); about half.",
    )
    token_settle_seconds: float = Field(
        default=2.0,
        ge=0,
        le=10,
        description="A new Hostaway token is accepted only about a second after it is issued: "
        "its first call waits this long after the issue.",
    )
