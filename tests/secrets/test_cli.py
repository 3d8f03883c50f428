"""`hub secrets set|list|rotate|import-env|schedule` as a user runs them (a subprocess, a
fresh home)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from integration_hub.connectors.partners import PARTNERS
from integration_hub.orchestration.devserver import free_port
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


def test_schedule_offers_one_option_per_declared_rotation(tmp_path: Path) -> None:
    rotations = [r for p in PARTNERS for r in p.rotations]
    shown = hub(tmp_path, "schedule", "--help", COLUMNS="200")

    assert rotations  # the partners declare some; each must be reachable from the CLI
    assert shown.returncode == 0
    for rotation in rotations:
        assert f"--{rotation.option}" in shown.stdout


async def test_schedule_creates_the_reminder_and_each_rotation_asked_for(
    tmp_path: Path, temporal: WorkflowEnvironment
) -> None:
    rotations = [r for p in PARTNERS for r in p.rotations]
    asked = [f"--{r.option}=lst_cli_test" if r.takes_value else f"--{r.option}" for r in rotations]
    address = temporal.client.service_client.config.target_host
    result = await asyncio.to_thread(
        hub,
        tmp_path,
        "schedule",
        *asked,
        "--rotate-every-days",
        "7",
        HUB_TEMPORAL_ADDRESS=address,
        HUB_TASK_QUEUE=f"test-{uuid.uuid4().hex}",
    )
    assert result.returncode == 0, result.stderr
    ids = json.loads(result.stdout)["schedule_ids"]
    try:
        assert len(ids) == 1 + len(rotations)  # the age reminder, then each rotation
        for schedule_id in ids[1:]:
            described = await temporal.client.get_schedule_handle(schedule_id).describe()
            assert [i.every for i in described.schedule.spec.intervals] == [timedelta(days=7)]
    finally:
        for schedule_id in ids:
            await temporal.client.get_schedule_handle(schedule_id).delete()


def test_schedule_without_temporal_says_so_in_one_line(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    line = (
        f"cannot reach Temporal at {address}: is the Temporal server running? "
        "set HUB_TEMPORAL_ADDRESS"
    )

    result = hub(tmp_path, "schedule", HUB_TEMPORAL_ADDRESS=address)

    assert (result.returncode, result.stderr) == (2, line + "\n")
