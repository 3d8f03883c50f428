"""Google Maps settings: `HUB_MAPS_*` from the environment (and an optional `.env`), read the
way the core `Settings` reads its own. Built by the calls factory and `hub maps`, never at
import. The names are the ones the core settings used to carry: deployments keep their values.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MapsSettings(BaseSettings):
    # `extra="ignore"`: the same environment and `.env` carry every other HUB_ setting.
    model_config = SettingsConfigDict(
        env_prefix="HUB_MAPS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # The cache lifetime is capped at 30 days in code whatever is configured here (the terms
    # allow no longer for lat/lng).
    cache_days: int = Field(
        default=30, gt=0, description="Maps cache lifetime in days; capped at 30 in code."
    )
    geocode_per_minute: int = Field(
        default=2_400, gt=0, description="Client-side limit; Google publishes 3,000 QPM."
    )
    directions_per_minute: int = Field(
        default=600, gt=0, description="Client-side limit; Google publishes none for Directions."
    )
    distance_matrix_elements_per_minute: int = Field(
        default=30_000, gt=0, description="Client-side limit; Google publishes 60,000 elements/min."
    )
    geocode_daily_warning: int = Field(default=1_000, gt=0, description="Requests per day.")
    directions_daily_warning: int = Field(default=1_000, gt=0, description="Requests per day.")
    distance_matrix_daily_warning: int = Field(
        default=10_000, gt=0, description="Elements (origins x destinations) per day."
    )
    api_base_url: str | None = Field(
        default=None, description="Tests only: point the Maps client at a local server."
    )
