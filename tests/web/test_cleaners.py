"""The cleaners registry through the admin API and `hub cleaners`, and the cleaners handler
keeping payout readiness current from signed account events (edge -> normalizer -> Temporal)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from integration_hub.cli.app import app
from integration_hub.storage import cleaners
from integration_hub.storage.engine import begin_write
from tests.helpers import ADMIN_TOKEN, RunningHub, stripe_delivery, wait_until

ANA = {"name": "Ana Pérez", "phone": "+13055550142", "language": "es"}


async def _add(running: RunningHub, **changes: Any) -> dict[str, Any]:
    answer = await running.admin.post("/api/cleaners", json={**ANA, **changes})
    assert answer.status_code == 201, answer.text
    cleaner: dict[str, Any] = answer.json()
    return cleaner


async def _deliver_account(running: RunningHub, **account: Any) -> dict[str, Any]:
    body, headers = stripe_delivery("account.updated", **account)
    assert (await running.http.post("/webhooks/stripe", content=body, headers=headers)).is_success
    event_id = orjson.loads(body)["id"]
    detail = await wait_until(
        lambda: running.admin.get(f"/api/events/stripe/{event_id}"),
        lambda r: r.json()["status"] in {"processed", "failed"},
    )
    [run] = detail.json()["events"][0]["handlers"]
    assert run["handler"] == "cleaners"
    return dict(run)


async def test_a_cleaner_is_added_listed_and_read(running_hub: RunningHub) -> None:
    added = await _add(running_hub)

    assert added["id"].startswith("cln_")
    assert {k: added[k] for k in ANA} == ANA
    assert (added["payout_account_id"], added["payable"], added["requirements_due"]) == (
        None,
        False,
        [],
    )
    listed = (await running_hub.admin.get("/api/cleaners")).json()
    assert [c["id"] for c in listed["items"]] == [added["id"]]
    assert listed["next_cursor"] is None
    one = await running_hub.admin.get(f"/api/cleaners/{added['id']}")
    assert one.json() == added
    missing = await running_hub.admin.get("/api/cleaners/cln_" + "0" * 32)
    assert missing.status_code == 404


async def test_a_phone_registers_once_and_bad_input_is_refused(running_hub: RunningHub) -> None:
    await _add(running_hub)

    again = await running_hub.admin.post("/api/cleaners", json={**ANA, "name": "Otra"})
    assert (again.status_code, again.json()["error"]) == (409, "cleaner_exists")
    for bad in ({"phone": "305-555-0142"}, {"language": "fr"}, {"name": ""}, {"name": "x" * 256}):
        answer = await running_hub.admin.post("/api/cleaners", json={**ANA, **bad})
        assert answer.status_code == 422, bad
    assert len((await running_hub.admin.get("/api/cleaners")).json()["items"]) == 1


async def test_adding_needs_a_signed_in_caller(running_hub: RunningHub) -> None:
    answer = await running_hub.http.post("/api/cleaners", json=ANA)
    assert answer.status_code == 401


async def test_hub_cleaners_add_and_list(
    running_hub: RunningHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_ADMIN_TOKEN", ADMIN_TOKEN)
    runner = CliRunner()
    url = ["--url", running_hub.base_url]

    # The CLI's client blocks: run it off the loop that serves the hub.
    added = await asyncio.to_thread(
        runner.invoke, app, ["cleaners", "add", "Bob", "+13055550199", "--language", "en", *url]
    )
    listed = await asyncio.to_thread(runner.invoke, app, ["cleaners", "list", *url])

    assert added.exit_code == 0, added.output
    assert json.loads(added.output)["phone"] == "+13055550199"
    assert listed.exit_code == 0, listed.output
    [item] = json.loads(listed.output)["items"]
    assert (item["name"], item["language"], item["payable"]) == ("Bob", "en", False)


def _link(running: RunningHub, cleaner_id: str, account: str) -> None:
    with begin_write(running.hub.engine) as connection:
        assert cleaners.set_payout_account(
            connection, cleaner_id=cleaner_id, partner="stripe", account_id=account
        )


async def test_a_restricted_account_is_not_payable_until_it_is_enabled(
    running_hub: RunningHub,
) -> None:
    cleaner = await _add(running_hub)
    _link(running_hub, cleaner["id"], "acct_1Ana")
    restricted = {
        "disabled_reason": "requirements.past_due",
        "past_due": ["external_account"],
        "currently_due": ["external_account", "individual.verification.document"],
    }

    run = await _deliver_account(
        running_hub, id="acct_1Ana", charges_enabled=False, payouts_enabled=False,
        requirements=restricted,
    )  # fmt: skip

    assert run["status"] == "completed", run
    shown = (await running_hub.admin.get(f"/api/cleaners/{cleaner['id']}")).json()
    assert shown["payable"] is False
    assert shown["disabled_reason"] == "requirements.past_due"
    assert shown["requirements_due"] == ["external_account", "individual.verification.document"]

    await _deliver_account(
        running_hub, id="acct_1Ana", charges_enabled=True, payouts_enabled=True,
        requirements={"disabled_reason": None, "past_due": [], "currently_due": []},
    )  # fmt: skip

    shown = (await running_hub.admin.get(f"/api/cleaners/{cleaner['id']}")).json()
    assert (shown["payable"], shown["requirements_due"], shown["payouts_enabled"]) == (
        True,
        [],
        True,
    )


async def test_an_account_no_cleaner_has_changes_nothing(running_hub: RunningHub) -> None:
    cleaner = await _add(running_hub)

    run = await _deliver_account(running_hub, id="acct_1Stranger", payouts_enabled=True)

    assert run["status"] == "skipped"
    assert "acct_1Stranger" in run["last_error"]
    shown = (await running_hub.admin.get(f"/api/cleaners/{cleaner['id']}")).json()
    assert shown["payable"] is False


async def test_an_account_announced_before_onboarding_stored_it_is_applied_once_stored(
    running_hub: RunningHub,
) -> None:
    """Stripe's `account.updated` for a new account can outrun the onboarding workflow's next
    activity: the handler retries until the account is on the cleaner, then applies it."""
    cleaner = await _add(running_hub)
    body, headers = stripe_delivery(
        "account.updated", id="acct_1Early", payouts_enabled=True,
        metadata={"cleaner_id": cleaner["id"]},
    )  # fmt: skip
    assert (
        await running_hub.http.post("/webhooks/stripe", content=body, headers=headers)
    ).is_success
    event_id = orjson.loads(body)["id"]
    detail = await wait_until(
        lambda: running_hub.admin.get(f"/api/events/stripe/{event_id}"),
        lambda r: bool(r.json()["events"] and r.json()["events"][0]["handlers"]),
    )
    await asyncio.sleep(3)  # time for the handler's first attempts, before the account is stored
    [run] = (await running_hub.admin.get(f"/api/events/stripe/{event_id}")).json()["events"][0][
        "handlers"
    ]
    assert run["status"] == "started", run  # retried, not skipped

    _link(running_hub, cleaner["id"], "acct_1Early")  # the onboarding workflow records it

    detail = await wait_until(
        lambda: running_hub.admin.get(f"/api/events/stripe/{event_id}"),
        lambda r: r.json()["status"] in {"processed", "failed"},
    )
    [run] = detail.json()["events"][0]["handlers"]
    assert run["status"] == "completed", run
    shown = (await running_hub.admin.get(f"/api/cleaners/{cleaner['id']}")).json()
    assert (shown["payout_account_id"], shown["payable"]) == ("acct_1Early", True)


async def test_another_cleaners_or_unclaimed_account_metadata_is_skipped(
    running_hub: RunningHub,
) -> None:
    cleaner = await _add(running_hub)
    _link(running_hub, cleaner["id"], "acct_1Ana")  # already holds an account

    run = await _deliver_account(
        running_hub, id="acct_1Other", payouts_enabled=True,
        metadata={"cleaner_id": cleaner["id"]},
    )  # fmt: skip

    assert run["status"] == "skipped", run
