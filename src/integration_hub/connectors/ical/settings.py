"""iCal feeds settings: `HUB_ICAL_*` from the environment (and an optional `.env`), read the way the
core `Settings` reads its own. Built by the partner's factories, never at import."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IcalSettings(BaseSettings):
    # `extra="ignore"`: the same environment and `.env` carry every other HUB_ setting.
    model_config = SettingsConfigDict(
        env_prefix="HUB_ICAL_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Each feed is a connection, its URL the secret ICAL_FEED_URL__<CONNECTION>; the poll
    # ticks every 5 minutes and fetches a feed when due.
    poll_minutes: int = Field(
        default=10,
        ge=0,
        le=24 * 60,
        description="Minutes between two fetches of one iCal feed (Airbnb refreshes its own "
        "every 30 min to 3 h); checked on the poll's 5-minute tick, 0 fetches on every tick.",
    )
    allow_private_hosts: bool = Field(
        default=False,
        description="Tests and local setups only: let a feed URL (or a redirect) reach a "
        "private or loopback host, over plain http too.",
    )
