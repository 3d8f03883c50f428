"""The README's flow on embedded defaults: init, serve, send, events show."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from integration_hub.orchestration.devserver import free_port
from integration_hub.testing import HubProcess, hub_env


def _hub(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HubProcess.hub_command(), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_send_then_show_on_embedded_defaults(tmp_path: Path) -> None:
    env = hub_env(tmp_path / "var")  # SQLite file and an embedded Temporal dev server
    assert _hub(tmp_path, env, "init").returncode == 0
    hub = HubProcess(tmp_path, env, free_port())
    env["HUB_URL"] = hub.url
    hub.start()
    try:
        sent = _hub(tmp_path, env, "send", "stripe", "payment_intent.succeeded")
        assert sent.returncode == 0, sent.stderr
        event_id = json.loads(sent.stdout)["partner_event_id"]
        for _ in range(300):
            shown = json.loads(_hub(tmp_path, env, "events", "show", "stripe", event_id).stdout)
            if shown["status"] == "processed":
                break
            time.sleep(0.1)
        assert shown["status"] == "processed"
        assert shown["events"][0]["event"]["type"] == "payment.succeeded"
        assert shown["events"][0]["handlers"][0]["status"] == "completed"
        assert (tmp_path / "var" / "hub.db").exists()
        assert (tmp_path / "var" / "temporal.db").exists()
    finally:
        hub.stop()


def test_events_list_without_a_token_explains_itself(tmp_path: Path) -> None:
    result = _hub(tmp_path, hub_env(tmp_path), "events", "list")
    assert result.returncode == 2
    assert "HUB_ADMIN_TOKEN" in result.stderr


def test_p0_sandbox_checklist_completes_after_hub_send_for_each_partner(tmp_path: Path) -> None:
    """The issue's flow: set the P0 secrets, `hub doctor`, `hub send` for each P0 partner,
    and every partner's checklist is done: verified, stored, normalized, handled."""
    from tests.helpers import (
        GOOGLE_MAPS_API_KEY,
        STRIPE_SECRET_KEY,
        TWILIO_ACCOUNT_SID,
        TWILIO_AUTH_TOKEN,
        TWILIO_WHATSAPP_NUMBER,
    )

    env = hub_env(
        tmp_path / "var",
        STRIPE_SECRET_KEY=STRIPE_SECRET_KEY,
        TWILIO_ACCOUNT_SID=TWILIO_ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=TWILIO_AUTH_TOKEN,
        TWILIO_WHATSAPP_NUMBER=TWILIO_WHATSAPP_NUMBER,
        GOOGLE_MAPS_API_KEY=GOOGLE_MAPS_API_KEY,
        AUTH_ISSUER="https://cleaning-test.us.auth0.com/",
        AUTH_CLIENT_ID="k3V9xQ2mP7rT5wZ8aB4cD6eF",
        AUTH_CLIENT_SECRET="s3cr3t-" + "x" * 40,
    )
    assert _hub(tmp_path, env, "init").returncode == 0
    before = _hub(tmp_path, env, "doctor", "--strict")
    assert before.returncode == 1
    assert "NOT SET" not in before.stdout  # every secret is in place; only evidence is missing
    hub = HubProcess(tmp_path, env, free_port())
    env["HUB_URL"] = hub.url
    hub.start()
    try:
        for partner, event_type in [
            ("stripe", "payment_intent.succeeded"),
            ("clerk", "user.created"),
            ("auth0", "ss"),
            ("twilio", "inbound_sms"),
        ]:
            sent = _hub(tmp_path, env, "send", partner, event_type)
            assert sent.returncode == 0, (partner, sent.stdout, sent.stderr)
        for _ in range(300):
            after = _hub(tmp_path, env, "doctor", "--strict")
            if after.returncode == 0:
                break
            time.sleep(0.2)
        assert after.returncode == 0, after.stdout
        report = json.loads(_hub(tmp_path, env, "doctor", "--json").stdout)
        assert {r["partner"] for r in report} >= {
            "stripe",
            "clerk",
            "auth0",
            "twilio",
            "google_maps",
        }
        assert all(r["complete"] for r in report if r["priority"] == "P0")
    finally:
        hub.stop()


def test_serve_refuses_a_secrets_key_file_others_can_read(tmp_path: Path) -> None:
    env = hub_env(tmp_path / "var")
    assert _hub(tmp_path, env, "init").returncode == 0
    key_file = tmp_path / "var" / "secrets.key"
    assert key_file.exists()  # init stored the generated partner secrets, encrypted
    key_file.chmod(0o644)

    result = _hub(tmp_path, env, "serve", "--port", str(free_port()))

    assert result.returncode == 2
    assert "refusing to start" in result.stderr
    assert "Traceback" not in result.stderr


def test_init_twice_keeps_partner_secrets_in_the_store_only(tmp_path: Path) -> None:
    env = hub_env(tmp_path / "var")

    first = _hub(tmp_path, env, "init")
    second = _hub(tmp_path, env, "init")

    assert first.returncode == second.returncode == 0
    assert "TWILIO_AUTH_TOKEN" in first.stdout  # stored, so `hub send twilio` works locally
    names = [line.split("=")[0] for line in (tmp_path / ".env").read_text().splitlines()]
    assert names == ["HUB_ADMIN_TOKEN"]
