"""DocuSign settings: `HUB_DOCUSIGN_*` from the environment (and an optional `.env`), read the
way the core `Settings` reads its own. Built by the factories (calls, routes), never at import.

The templates are a JSON object, inline (`HUB_DOCUSIGN_TEMPLATES`) or in a file
(`HUB_DOCUSIGN_TEMPLATES_FILE`), keyed by the hub's own template name:

    {"cleaner_agreement": {"es": "<template id>", "en": "<template id>",
                           "role_name": "Cleaner", "valid_days": 365}}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, TypeAdapter, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from integration_hub.connectors.docusign import GUID

Language = Literal["es", "en"]
TEMPLATE_KEY = r"^[a-z0-9_-]{1,64}$"
MAX_TEMPLATES = 100
MAX_TEMPLATES_FILE_BYTES = 64 * 1024
# The OAuth host is also the JWT assertion's audience (DocuSign's JWT grant guide).
_KEY = re.compile(TEMPLATE_KEY)
OAUTH_HOSTS = {"demo": "account-d.docusign.com", "production": "account.docusign.com"}


class TemplateConfig(BaseModel):
    """One contract template: DocuSign's template id per language, the role the signer fills
    and how long a signed contract holds (None: until replaced)."""

    es: str = Field(pattern=f"^{GUID}$")
    en: str = Field(pattern=f"^{GUID}$")
    role_name: str = Field(default="Signer", min_length=1, max_length=100)
    valid_days: int | None = Field(default=None, ge=1, le=3650)

    def template_id(self, language: Language) -> str:
        return self.es if language == "es" else self.en


_TEMPLATES = TypeAdapter(dict[str, TemplateConfig])


class DocuSignSettings(BaseSettings):
    # `extra="ignore"`: the same environment and `.env` carry every other HUB_ setting.
    model_config = SettingsConfigDict(
        env_prefix="HUB_DOCUSIGN_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Literal["demo", "production"] = Field(
        default="demo", description="demo (account-d.docusign.com) or production."
    )
    oauth_base_url: str | None = Field(
        default=None,
        description="Tests only: where the token and userinfo requests go (the JWT's audience "
        "stays the environment's OAuth host).",
    )
    base_uri: str | None = Field(
        default=None,
        description="The account's API base (e.g. https://demo.docusign.net); unset: read once "
        "from /oauth/userinfo for DOCUSIGN_ACCOUNT_ID.",
    )
    consent_redirect_uri: str = Field(
        default="https://developers.docusign.com/platform/auth/consent",
        max_length=2048,
        description="A redirect URI registered on the app, for the consent URL.",
    )
    per_hour: int = Field(
        default=3000, ge=1, le=100_000, description="DocuSign's calls per hour per account."
    )
    templates: dict[str, TemplateConfig] = Field(default_factory=dict, max_length=MAX_TEMPLATES)
    templates_file: Path | None = None

    @model_validator(mode="after")
    def _load_templates_file(self) -> DocuSignSettings:
        if self.templates_file is not None:
            try:
                with self.templates_file.open("rb") as file:
                    raw = file.read(MAX_TEMPLATES_FILE_BYTES + 1)
            except OSError as error:  # a clear setting error, not a traceback at start
                raise ValueError(f"templates file unreadable: {error.strerror}") from None
            if len(raw) > MAX_TEMPLATES_FILE_BYTES:
                raise ValueError(f"templates file is over {MAX_TEMPLATES_FILE_BYTES} bytes")
            loaded = _TEMPLATES.validate_json(raw)
            if len(loaded) > MAX_TEMPLATES:
                raise ValueError(f"templates file has more than {MAX_TEMPLATES} templates")
            self.templates = {**loaded, **self.templates}
        for key in self.templates:
            if not _KEY.fullmatch(key):
                raise ValueError(f"template key {key[:70]!r} must match {TEMPLATE_KEY}")
        return self

    @property
    def oauth_host(self) -> str:
        return OAUTH_HOSTS[self.environment]

    @property
    def oauth_url(self) -> str:
        return (self.oauth_base_url or f"https://{self.oauth_host}").rstrip("/")
