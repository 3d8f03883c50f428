"""Issue 15's walkthrough, as a new user runs it against a served hub with its worker:
`hub send hostaway reservation.created`, `hub send guesty reservation.updated.v2`, `hub ical
add <a local .ics>`, `hub properties link` the Guesty and iCal listings onto the Hostaway
sample's property, then one property calendar in `hub reservations list` and on the panel.

The hub runs on the session's Temporal (HUB_TEMPORAL_ADDRESS), so `hub ical add` polls the
feed at once; on an embedded Temporal its schedule fetches it on the next tick instead."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from integration_hub.orchestration.devserver import free_port
from integration_hub.testing import HubProcess, hub_env

LEAN = "lean (no API key to fetch details)"


def _hub(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HubProcess.hub_command(), *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _reservations(api: httpx.Client, wanted: set[str]) -> list[dict[str, Any]]:
    """The reservations once every source in `wanted` has one (the pipeline is asynchronous)."""
    items: list[dict[str, Any]] = []
    for _ in range(300):
        items = api.get("/api/reservations", params={"limit": 500}).json()["items"]
        if wanted <= {r["source"] for r in items}:
            return items
        time.sleep(0.2)
    raise AssertionError(f"no reservation from {wanted - {r['source'] for r in items}}: {items}")


def _ics(path: Path, stays: list[tuple[date, date]]) -> None:
    def event(start: date, end: date) -> str:
        return (
            f"BEGIN:VEVENT\r\nDTSTAMP:20260101T000000Z\r\nUID:{uuid.uuid4().hex}@airbnb.com\r\n"
            f"DTSTART;VALUE=DATE:{start:%Y%m%d}\r\nDTEND;VALUE=DATE:{end:%Y%m%d}\r\n"
            "SUMMARY:Reserved\r\nEND:VEVENT\r\n"
        )

    body = "".join(event(start, end) for start, end in stays)
    path.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Airbnb Inc//Hosting Calendar 1.0//EN\r\n"
        f"{body}END:VCALENDAR\r\n",
        newline="",
    )


def test_three_sources_make_one_property_calendar(tmp_path: Path, temporal_address: str) -> None:
    token = uuid.uuid4().hex + uuid.uuid4().hex
    env = hub_env(
        tmp_path / "var",
        HUB_ADMIN_TOKEN=token,
        HUB_TEMPORAL_ADDRESS=temporal_address,
        HUB_TASK_QUEUE=f"walk-{uuid.uuid4().hex[:8]}",
    )
    _ok(_hub(tmp_path, env, "init"))
    hub = HubProcess(tmp_path, env, free_port())
    env["HUB_URL"] = hub.url
    hub.start()
    try:
        _ok(_hub(tmp_path, env, "send", "hostaway", "reservation.created"))
        _ok(_hub(tmp_path, env, "send", "guesty", "reservation.updated.v2"))
        with httpx.Client(base_url=hub.url, headers={"Authorization": f"Bearer {token}"}) as api:
            _walk(tmp_path, env, api)
    finally:
        hub.stop()


def _walk(tmp_path: Path, env: dict[str, str], api: httpx.Client) -> None:
    before = _reservations(api, {"hostaway", "guesty"})
    hostaway = next(r for r in before if r["source"] == "hostaway")
    guesty = next(r for r in before if r["source"] == "guesty")
    assert guesty["complete"] is False  # a lean payload, and no API key to fetch the rest
    home = hostaway["property_id"]
    check_in, check_out = (
        date.fromisoformat(hostaway["check_in"]),
        date.fromisoformat(hostaway["check_out"]),
    )
    later = (check_out + timedelta(days=20), check_out + timedelta(days=23))
    feed = tmp_path / "beach house.ics"
    _ics(feed, [(check_in, check_out), later])

    added = _hub(tmp_path, env, "ical", "add", str(feed), "--channel", "airbnb")
    out = _ok(added)
    assert "feed stored for ical-beach-house" in added.stderr
    assert str(feed) not in out + added.stderr and "beach%20house" not in out + added.stderr
    answer = json.loads(out)
    assert answer["connection"]["options"]["channel"] == "airbnb"
    assert answer["poll"]["stored"] == 1
    _reservations(api, {"hostaway", "guesty", "ical"})

    _ok(_hub(tmp_path, env, "properties", "link", "ical-beach-house", "ical-beach-house", home))
    _ok(_hub(tmp_path, env, "properties", "link", guesty["connection_id"],
             guesty["source_listing_id"], home))  # fmt: skip

    rows = api.get("/api/reservations", params={"property": home, "limit": 500}).json()["items"]
    assert {r["source"] for r in rows} == {"hostaway", "guesty", "ical"}
    same_dates = [r for r in rows if (r["check_in"], r["check_out"]) == (
        hostaway["check_in"], hostaway["check_out"])]  # fmt: skip
    assert sorted(r["source"] for r in same_dates) == ["hostaway", "ical"]
    assert len({r["stay_id"] for r in same_dates}) == 1  # one stay, two reservations
    assert len({r["stay_id"] for r in rows}) == len(rows) - 1

    table = _ok(_hub(tmp_path, env, "reservations", "list", "--property", home))
    lines = table.splitlines()
    assert len(lines) == len(rows) + 1
    assert all(line.startswith(home) for line in lines[1:])
    guesty_line = next(line for line in lines if " guesty " in f" {line} ")
    assert guesty_line.rstrip().endswith(LEAN)
    assert sum(LEAN in line for line in lines) == 1

    month = check_in.strftime("%Y-%m")
    panel = api.get("/status/calendar", params={"month": month})
    assert panel.status_code == 200, panel.text
    row = panel.text.split(f'data-property="{home}"')[1].split("</tr>")[0]
    assert f'data-day="{check_in.isoformat()}"' in row
    assert 'class="stay first"' in row


def test_ical_add_refuses_before_storing_anything(tmp_path: Path) -> None:
    """A read-only secret store, or a URL the hub will not fetch, is refused before any
    connection is made, and the refusal never repeats the URL (its query is the token)."""
    feed = tmp_path / "cal.ics"
    _ics(feed, [])
    env = hub_env(tmp_path / "var", HUB_ADMIN_TOKEN="t" * 40, HUB_URL="http://127.0.0.1:9")
    read_only = _hub(tmp_path, {**env, "HUB_SECRETS_BACKEND": "env"}, "ical", "add", str(feed))
    assert read_only.returncode == 2
    assert "read-only" in read_only.stderr and "ICAL_FEED_URL__ICAL-CAL" in read_only.stderr
    secret_url = "https://10.1.2.3/calendar/ical/1.ics?s=feedtoken123"
    private = _hub(tmp_path, env, "ical", "add", secret_url)
    assert private.returncode == 2
    assert "private" in private.stderr and "feedtoken123" not in private.stdout + private.stderr
    channel = _hub(tmp_path, env, "ical", "add", str(feed), "--channel", "expedia")
    assert channel.returncode == 2 and "--channel" in channel.stderr
