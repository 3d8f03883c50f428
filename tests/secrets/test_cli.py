"""`hub secrets set|list|rotate|import-env` as a user runs them (a subprocess, a fresh home)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from integration_hub.testing import HubProcess, hub_env

VALUE = "whsec_cli_value_never_printed_5e0a"


def hub(cwd: Path, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HubProcess.hub_command(), "secrets", *args],
        cwd=cwd,
        env=hub_env(cwd / "var", **env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_set_reads_the_value_from_standard_input(tmp_path: Path) -> None:
    assert hub(tmp_path, "set", "STRIPE_WEBHOOK_SECRET", stdin=VALUE + "\n").returncode == 0
    listed = hub(tmp_path, "list", "--json")
    assert '"name": "STRIPE_WEBHOOK_SECRET"' in listed.stdout


def test_set_reads_the_value_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "value.txt").write_text(VALUE)
    result = hub(tmp_path, "set", "STRIPE_WEBHOOK_SECRET", "--from-file", "value.txt")
    assert result.returncode == 0, result.stderr
    assert "STRIPE_WEBHOOK_SECRET" in hub(tmp_path, "list").stdout


def test_set_refuses_a_value_given_as_an_argument(tmp_path: Path) -> None:
    result = hub(tmp_path, "set", "STRIPE_WEBHOOK_SECRET", VALUE)
    assert result.returncode == 2
    assert not (tmp_path / "var" / "secrets.enc").exists()


def test_list_shows_versions_and_expiry_but_never_values(tmp_path: Path) -> None:
    hub(tmp_path, "set", "STRIPE_WEBHOOK_SECRET", stdin=VALUE)
    hub(tmp_path, "rotate", "STRIPE_WEBHOOK_SECRET", stdin=VALUE + "-next")
    listed = hub(tmp_path, "list")
    assert "STRIPE_WEBHOOK_SECRET: 2 version(s)" in listed.stdout
    assert "previous valid until" in listed.stdout
    assert VALUE not in listed.stdout + listed.stderr


def test_import_env_copies_known_partner_secrets_from_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"STRIPE_WEBHOOK_SECRET={VALUE}\nUNRELATED_SECRET=x\n")
    result = hub(tmp_path, "import-env")
    assert result.returncode == 0, result.stderr
    assert '"STRIPE_WEBHOOK_SECRET"' in result.stdout
    assert VALUE not in result.stdout
    listed = hub(tmp_path, "list").stdout
    assert "STRIPE_WEBHOOK_SECRET" in listed
    assert "UNRELATED_SECRET" not in listed


def test_the_env_backend_refuses_writes(tmp_path: Path) -> None:
    result = hub(tmp_path, "set", "A_SECRET", stdin=VALUE, HUB_SECRETS_BACKEND="env")
    assert result.returncode == 2
    assert "read only" in result.stderr
