"""Both e-mail partners locally, as a user runs them: `hub send <partner> <type>` signs a sample
with the value `hub init` made (SendGrid: the local seed) and a running hub takes it; doctor's
sandbox checklist then shows the evidence (an e-mail delivered event received and handled)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from integration_hub.cli import app
from integration_hub.connectors.partners import build_connectors
from integration_hub.doctor import PartnerReport, diagnose
from integration_hub.secrets.env import EnvSecretSource
from integration_hub.settings import Settings
from tests.helpers import RunningHub, local_secrets, wait_until

API_KEYS = {
    "SENDGRID_API_KEY": "SG.abcdefghijABCDEFGHIJ12.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ",
    "RESEND_API_KEY": "re_123456789_abcdefghijklmnop",
}


@pytest.mark.parametrize("partner", ["sendgrid", "resend"])
async def test_hub_send_is_taken_and_completes_the_sandbox_checklist(
    running_hub: RunningHub, hub_settings: Settings, tmp_path: Path, partner: str
) -> None:
    first_type = next(iter(build_connectors()[partner].manifest.event_map))
    assert first_type in {"delivered", "email.delivered"}  # the seed's evidence
    env = {
        "HUB_HOME": str(tmp_path / "cli"),
        "HUB_SECRETS_BACKEND": "env",
        **local_secrets(),
    }

    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["send", partner, first_type, "--url", running_hub.base_url],
        env=env,
    )

    assert result.exit_code == 0, result.output
    secrets = EnvSecretSource(environ={**local_secrets(), **API_KEYS})

    def report() -> PartnerReport:
        [found] = [
            r
            for r in diagnose(secrets=secrets, engine=running_hub.hub.engine)
            if r.partner == partner
        ]
        return found

    async def probe() -> PartnerReport:
        return report()

    done = await wait_until(probe, lambda r: r.complete)
    steps = [item.step for item in done.checklist]
    assert "a signed delivery verified and stored" in steps
    if partner == "sendgrid":  # the local seed is noted, never shown
        assert any("local signing seed" in note for note in done.notes)
