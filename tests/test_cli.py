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
