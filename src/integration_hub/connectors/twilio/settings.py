"""Twilio settings: `HUB_TWILIO_*` from the environment (and an optional `.env`), read the way
the core `Settings` reads its own. Built by the webhook, calls and upkeep factories, never at
import.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from integration_hub.connectors.twilio import E164_PATTERN
from integration_hub.errors import UnsafeConfiguration


class TwilioSettings(BaseSettings):
    # `extra="ignore"`: the same environment and `.env` carry every other HUB_ setting.
    model_config = SettingsConfigDict(
        env_prefix="HUB_TWILIO_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    api_base_url: str | None = Field(
        default=None,
        description="Tests only: point the Twilio clients (messages, Accounts API) at a local "
        "server.",
    )
    ivr_file: Path | None = Field(
        default=None,
        description="The voice IVR flow (JSON, see the README); unset: the flow shipped with "
        "the hub (connectors/twilio/ivr_flow.json).",
    )
    operator_number: str | None = Field(
        default=None,
        pattern=f"^(?:{E164_PATTERN})$",
        description="+E.164 number the IVR's 'reach the operator' option dials; unset: the "
        "caller hears the flow's fallback message.",
    )


def load_twilio_settings() -> TwilioSettings:
    """TwilioSettings, or UnsafeConfiguration naming each bad variable (never its value: the
    message reaches logs and the terminal)."""
    try:
        return TwilioSettings()
    except ValidationError as error:
        problems = "; ".join(
            f"HUB_TWILIO_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in error.errors(include_url=False, include_input=False)
        )
        raise UnsafeConfiguration(problems) from None
