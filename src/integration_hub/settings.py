"""Settings from the environment (and an optional `.env`). Built in main/cli, never at import."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HUB_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Literal["development", "test", "staging", "production"] = Field(
        default="development",
        description="HUB_ENV; live partner keys are refused outside production.",
    )
    home: Path = Field(default=Path("var"), description="Where embedded state lives.")
    database_url: str | None = Field(
        default=None, description="postgresql://... ; default: a SQLite file under home."
    )
    temporal_address: str | None = Field(
        default=None, description="host:port of a Temporal cluster; default: embedded dev server."
    )
    temporal_namespace: str = "default"
    task_queue: str = "integration-hub"
    admin_token: SecretStr | None = None
    public_base_url: str | None = Field(
        default=None,
        description="The URL partners call (e.g. https://hooks.example.com); URL-signing partners "
        "(Twilio) signed this, not the host the hub sees behind a proxy or tunnel.",
    )
    trusted_proxies: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(),
        description="Comma-separated client addresses whose X-Forwarded-Proto/Host are believed "
        "when HUB_PUBLIC_BASE_URL is not set.",
    )

    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    signature_tolerance_seconds: int = Field(default=300, gt=0)
    max_pending_writes: int = Field(
        default=20_000,
        gt=0,
        description="Deliveries waiting for a commit before ingest sheds load.",
    )
    normalizer_batch_size: int = Field(default=500, gt=0)
    normalizer_workers: int = Field(default=2, gt=0, description="PostgreSQL only; SQLite uses 1.")
    dispatch_batch_size: int = Field(default=200, gt=0)
    poll_interval_seconds: float = Field(
        default=0.1, gt=0, description="How often idle pipeline workers look for new work."
    )
    bench_mode: bool = Field(
        default=False, description="Adds POST /bench/ceiling (read body, 200) for benchmarks."
    )
    # Google Maps Platform calls out (connectors/google_maps). The cache lifetime is capped at
    # 30 days in code whatever is configured here (the terms allow no longer for lat/lng).
    maps_cache_days: int = Field(
        default=30, gt=0, description="Maps cache lifetime in days; capped at 30 in code."
    )
    maps_geocode_per_minute: int = Field(
        default=2_400, gt=0, description="Client-side limit; Google publishes 3,000 QPM."
    )
    maps_directions_per_minute: int = Field(
        default=600, gt=0, description="Client-side limit; Google publishes none for Directions."
    )
    maps_distance_matrix_elements_per_minute: int = Field(
        default=30_000, gt=0, description="Client-side limit; Google publishes 60,000 elements/min."
    )
    maps_geocode_daily_warning: int = Field(default=1_000, gt=0, description="Requests per day.")
    maps_directions_daily_warning: int = Field(default=1_000, gt=0, description="Requests per day.")
    maps_distance_matrix_daily_warning: int = Field(
        default=10_000, gt=0, description="Elements (origins x destinations) per day."
    )
    maps_api_base_url: str | None = Field(
        default=None, description="Tests only: point the Maps client at a local server."
    )
    # Twilio calls out (connectors/twilio/messaging.py).
    whatsapp_templates: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description='JSON {"template name": {"en": "HX...", "es": "HX..."}}: approved WhatsApp '
        "Content templates per language, the only way to write outside the 24-hour window.",
    )
    twilio_api_base_url: str | None = Field(
        default=None, description="Tests only: point the Twilio client at a local server."
    )
    log_level: str = "INFO"
    log_json: bool | None = Field(default=None, description="Default: JSON unless on a terminal.")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value

    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{(self.home / 'hub.db').resolve()}"


def normalize_database_url(url: str) -> str:
    """Accept the plain `postgresql://` form users paste and route it to psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
