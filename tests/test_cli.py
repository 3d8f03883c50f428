"""The README's flow on embedded defaults (init, serve, send, events show), the partner
listing, and what a command says when the hub or the database is out of reach."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from integration_hub.connectors.partners import PARTNERS, build_connectors
from integration_hub.orchestration.devserver import free_port
from integration_hub.orchestration.handlers import handler_names_for
from integration_hub.testing import HubProcess, delivered_types, hub_env


def _hub(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HubProcess.hub_command(), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _handled_sample() -> tuple[str, str, str]:
    """(partner, partner event type, internal type): the first a handler acts on."""
    for name, connector in build_connectors().items():
        for partner_type in delivered_types(connector):
            internal_type = connector.manifest.event_map[partner_type]
            if handler_names_for(internal_type):
                return name, partner_type, internal_type
    raise AssertionError("no partner event type has a handler")


def test_send_then_show_on_embedded_defaults(tmp_path: Path) -> None:
    partner, partner_type, internal_type = _handled_sample()
    env = hub_env(tmp_path / "var")  # SQLite file and an embedded Temporal dev server
    assert _hub(tmp_path, env, "init").returncode == 0
    hub = HubProcess(tmp_path, env, free_port())
    env["HUB_URL"] = hub.url
    hub.start()
    try:
        sent = _hub(tmp_path, env, "send", partner, partner_type)
        assert sent.returncode == 0, sent.stderr
        event_id = json.loads(sent.stdout)["partner_event_id"]
        for _ in range(300):
            shown = json.loads(_hub(tmp_path, env, "events", "show", partner, event_id).stdout)
            if shown["status"] == "processed":
                break
            time.sleep(0.1)
        assert shown["status"] == "processed"
        assert shown["events"][0]["event"]["type"] == internal_type
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

    # Well-formed values for the secrets `hub init` cannot make (API credentials).
    credentials = {
        "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
        "TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
        "TWILIO_WHATSAPP_NUMBER": TWILIO_WHATSAPP_NUMBER,
        "GOOGLE_MAPS_API_KEY": GOOGLE_MAPS_API_KEY,
        "AUTH_ISSUER": "https://cleaning-test.us.auth0.com/",
        "AUTH_CLIENT_ID": "k3V9xQ2mP7rT5wZ8aB4cD6eF",
        "AUTH_CLIENT_SECRET": "s3cr3t-" + "x" * 40,
    }
    unset = [
        s.name
        for p in PARTNERS
        if p.priority == "P0"
        for s in p.secrets
        if s.required and s.local is None and s.name not in credentials
    ]
    assert not unset, f"give the test a well-formed value for {unset}"
    env = hub_env(tmp_path / "var", **credentials)
    assert _hub(tmp_path, env, "init").returncode == 0
    before = _hub(tmp_path, env, "doctor", "--strict")
    assert before.returncode == 1
    # Every P0 secret is in place; only evidence is missing (P1 partners are not configured).
    sections = re.split(r"\n(?=\S+ \[P\d\] )", before.stdout)
    p0 = [section for section in sections if section.split("\n", 1)[0].split()[1:2] == ["[P0]"]]
    assert len(p0) == sum(partner.priority == "P0" for partner in PARTNERS)
    assert not [section for section in p0 if "NOT SET" in section]
    hub = HubProcess(tmp_path, env, free_port())
    env["HUB_URL"] = hub.url
    hub.start()
    try:
        for partner, connector in build_connectors().items():
            if not delivered_types(connector):
                continue  # it only polls
            event_type = delivered_types(connector)[0]
            sent = _hub(tmp_path, env, "send", partner, event_type)
            assert sent.returncode == 0, (partner, sent.stdout, sent.stderr)
        for _ in range(300):
            after = _hub(tmp_path, env, "doctor", "--strict")
            if after.returncode == 0:
                break
            time.sleep(0.2)
        assert after.returncode == 0, after.stdout
        report = json.loads(_hub(tmp_path, env, "doctor", "--json").stdout)
        assert {r["partner"] for r in report} >= {p.name for p in PARTNERS}
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
    made = [s.name for p in PARTNERS for s in p.secrets if s.local is not None]
    assert made  # the partners' webhook secrets at least
    for name in made:  # stored, so `hub send <partner>` works locally
        assert name in first.stdout
    names = [line.split("=")[0] for line in (tmp_path / ".env").read_text().splitlines()]
    assert names == ["HUB_ADMIN_TOKEN"]


def test_connectors_lists_every_partner_with_what_it_does(tmp_path: Path) -> None:
    text = _hub(tmp_path, hub_env(tmp_path), "connectors")
    listed = json.loads(_hub(tmp_path, hub_env(tmp_path), "connectors", "--json").stdout)

    assert text.returncode == 0
    rows = {line.split()[0]: line.split()[1:4] for line in text.stdout.splitlines()[1:]}
    assert rows == {
        p.name: [p.priority, *("yes" if on else "no" for on in (p.webhook, p.calls))]
        for p in PARTNERS
    }
    assert [(p["name"], p["summary"], p["webhook"], p["calls"]) for p in listed] == [
        (p.name, p.summary, p.webhook is not None, p.calls is not None) for p in PARTNERS
    ]


def _said_once(result: subprocess.CompletedProcess[str], line: str) -> None:
    """One line on stderr, exit 2: what was tried and how to fix it, no traceback."""
    assert result.returncode == 2, result.stderr
    assert result.stderr == line + "\n"


def _said_with_traceback(result: subprocess.CompletedProcess[str], line: str) -> None:
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.rstrip().endswith(line)


# Partners that verify per connection (a PMS: /webhooks/<partner>/<connection>).
PER_ENDPOINT = sorted(
    n
    for n, c in build_connectors().items()
    if c.manifest.secret_per_endpoint and delivered_types(c)
)


@pytest.mark.parametrize("partner", PER_ENDPOINT)
def test_send_to_a_per_connection_partner_makes_a_demo_connection(
    tmp_path: Path, partner: str
) -> None:
    """On embedded defaults `hub send` makes manager `demo`, connection `<partner>-demo` and
    its webhook secret (in the file store, never printed), posts to the connection's path, and
    the next send reuses them; an unknown --connection is refused."""
    env = hub_env(tmp_path / "var")
    assert _hub(tmp_path, env, "init").returncode == 0
    hub = HubProcess(tmp_path, env, free_port())
    env["HUB_URL"] = hub.url
    hub.start()
    event_type = delivered_types(build_connectors()[partner])[0]
    try:
        first = _hub(tmp_path, env, "send", partner, event_type)
        assert first.returncode == 0, first.stdout + first.stderr
        assert json.loads(first.stdout)["status_code"] == 200
        assert json.loads(first.stdout)["partner_event_id"].startswith(f"{partner}-demo:")
        assert "set to a value made locally" in first.stderr
        again = _hub(tmp_path, env, "send", partner, event_type)
        assert again.returncode == 0, again.stderr
        assert "made locally" not in again.stderr
        unknown = _hub(tmp_path, env, "send", partner, event_type, "--connection", "nobody")
        assert unknown.returncode == 2
        listed = json.loads(_hub(tmp_path, env, "connections", "list").stdout)["items"]
        assert [(c["id"], c["manager_id"]) for c in listed] == [(f"{partner}-demo", "demo")]
    finally:
        hub.stop()


def test_send_with_a_connection_to_a_partner_of_one_endpoint_is_refused(tmp_path: Path) -> None:
    partner, connector = next(
        (n, c)
        for n, c in build_connectors().items()
        if delivered_types(c) and not c.manifest.secret_per_endpoint
    )
    env = hub_env(tmp_path / "var")
    event_type = next(iter(connector.manifest.event_map))
    result = _hub(tmp_path, env, "send", partner, event_type, "--connection", "acme")
    assert result.returncode == 2
    assert "--connection is not for it" in result.stderr


def test_send_without_a_running_hub_says_so_in_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = hub_env(tmp_path / "var", HUB_URL=url)
    assert _hub(tmp_path, env, "init").returncode == 0
    partner, connector = next((n, c) for n, c in build_connectors().items() if delivered_types(c))
    event_type = delivered_types(connector)[0]
    line = f"cannot reach the hub at {url}: is hub serve running? set HUB_URL"

    _said_once(_hub(tmp_path, env, "send", partner, event_type), line)
    _said_with_traceback(_hub(tmp_path, env, "--debug", "send", partner, event_type), line)


def test_events_list_without_a_running_hub_says_so_in_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    env = hub_env(tmp_path, HUB_ADMIN_TOKEN="a-token-for-a-hub-that-is-not-there")
    line = f"cannot reach the hub at {url}: is hub serve running? set HUB_URL"

    _said_once(_hub(tmp_path, env, "events", "list", "--url", url), line)
    _said_with_traceback(_hub(tmp_path, env, "--debug", "events", "list", "--url", url), line)


def test_migrate_with_an_unreachable_database_says_so_in_one_line(tmp_path: Path) -> None:
    env = hub_env(tmp_path, HUB_DATABASE_URL="postgresql://nobody:hunter2@127.0.0.1:1/x")
    line = (
        "cannot reach the database at postgresql+psycopg://nobody:***@127.0.0.1:1/x: "
        "is the database server running, and the URL right? set HUB_DATABASE_URL"
    )

    result = _hub(tmp_path, env, "migrate")
    debug = _hub(tmp_path, env, "--debug", "migrate")

    _said_once(result, line)
    _said_with_traceback(debug, line)
    assert "hunter2" not in result.stderr + debug.stderr
