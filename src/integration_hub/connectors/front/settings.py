"""Front settings: `HUB_FRONT_*` from the environment (and an optional `.env`), read the way the
core `Settings` reads its own. Built by the calls factory, never at import."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from integration_hub.connectors.outbound import CALL_TIMEOUT

# The lookups' waits, all together, stay under this share of the activity's timeout: the
# lookups' own calls need the rest, and a timed-out activity never reports why.
MAX_LOOKUP_WAIT_SECONDS = CALL_TIMEOUT.total_seconds() / 2


class FrontSettings(BaseSettings):
    # `extra="ignore"`: the same environment and `.env` carry every other HUB_ setting.
    model_config = SettingsConfigDict(
        env_prefix="HUB_FRONT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    api_base_url: str = Field(
        default="https://api2.frontapp.com",
        description="Front's Core API (tests point it at a local server).",
    )
    inbox_id: str | None = Field(
        default=None,
        pattern=r"^inb_[a-z0-9]{1,32}$",
        description=(
            "The shared inbox escalations are imported into (inb_...: Front > Settings > "
            "Inboxes, or GET /inboxes). Unset: escalation calls are refused."
        ),
    )
    company_id: str | None = Field(
        default=None,
        pattern=r"^cmp_[a-z0-9]{1,32}$",
        description=(
            "The Front company whose application webhooks the hub takes (cmp_...: the "
            "`authorization.id` of its webhooks); a delivery from another company is refused. "
            "Unset: any company the app is installed in."
        ),
    )
    recipient_handle: str = Field(
        default="integration-hub",
        min_length=1,
        max_length=128,
        description="The `to` handle of an imported escalation (the number or name people wrote to).",
    )
    requests_per_minute: int = Field(
        default=50,
        ge=1,
        le=10_000,
        description="Front's plan limit (50 a minute on the smallest plan): the client-side limit per worker.",
    )
    lookup_attempts: int = Field(
        default=5,
        ge=1,
        le=20,
        description="How often an escalation looks for the conversation Front's asynchronous import made before the activity is retried.",
    )
    lookup_delay_seconds: float = Field(
        default=0.5,
        ge=0,
        le=10,
        description="The first wait between those lookups (doubled each time; all the waits together stay under half the activity's 30 s timeout).",
    )

    @model_validator(mode="after")
    def _lookups_fit_in_the_activity(self) -> Self:
        waits = self.lookup_delay_seconds * (2 ** (self.lookup_attempts - 1) - 1)
        if waits >= MAX_LOOKUP_WAIT_SECONDS:
            raise ValueError(
                f"HUB_FRONT_LOOKUP_DELAY_SECONDS doubled over HUB_FRONT_LOOKUP_ATTEMPTS waits "
                f"{waits:g} s in all: keep it under {MAX_LOOKUP_WAIT_SECONDS:g} s, half the "
                "activity's timeout"
            )
        return self
