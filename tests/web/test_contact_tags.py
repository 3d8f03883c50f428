"""A contact's tags through the admin API: refusals with their reason codes, and a change
written with its push to the inbox queued (`support.sync_tags/...`) in one transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from integration_hub.connectors.partner import Partner
from integration_hub.connectors.partners import PARTNERS, provider_for
from integration_hub.connectors.support_inbox import MAX_TAGS
from integration_hub.storage import contact_tags as tag_rows
from integration_hub.storage.engine import begin_write
from integration_hub.storage.tables import workflow_outbox
from integration_hub.web.admin import cleaners as cleaners_api
from integration_hub.web.admin import contact_tags
from tests.helpers import RunningHub, hub_with

PHONE = "+13055550123"
# A support inbox only this test knows (the real ones are partner packages of their own).
TEST_INBOX = Partner(name="testinbox", priority="P2", summary="a test support inbox",
                     capabilities=frozenset({"support"}))  # fmt: skip


@pytest.fixture
async def running(
    tmp_path: Path, database_url: str, temporal_address: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningHub]:
    # The route sees the test's inbox as the only one (Intercom and Front provide `support`
    # too, and two inboxes with HUB_SUPPORT_PROVIDER unset pick none).
    others = [p for p in PARTNERS if "support" not in p.capabilities]
    monkeypatch.setattr(contact_tags, "provider_for",
                        partial(provider_for, partners=[*others, TEST_INBOX]))  # fmt: skip
    async with hub_with(tmp_path, database_url, temporal_address) as hub:
        yield hub


def _queued(running: RunningHub) -> list[dict[str, Any]]:
    with running.hub.engine.connect() as connection:
        found = connection.execute(select(workflow_outbox).order_by(workflow_outbox.c.id)).all()
    return [dict(r._mapping) for r in found]


async def test_a_tag_is_added_pushed_listed_and_removed(running: RunningHub) -> None:
    added = await running.admin.put(f"/api/contacts/{PHONE}/tags/VIP Guest")
    again = await running.admin.put("/api/contacts/%2B13055550123/tags/vip-guest")
    listed = await running.admin.get(f"/api/contacts/{PHONE}/tags")
    removed = await running.admin.delete(f"/api/contacts/{PHONE}/tags/vip-guest")
    gone = await running.admin.delete(f"/api/contacts/{PHONE}/tags/vip-guest")

    assert added.status_code == 200, added.text
    body = added.json()
    assert [(t["tag"], t["source"], t["provider"]) for t in body["tags"]] == [
        ("vip-guest", "hub", "testinbox")]  # fmt: skip
    assert body["workflow_id"].startswith("support.sync_tags/")
    assert PHONE[1:] not in body["workflow_id"]  # ids reach logs: never the phone
    assert again.status_code == 200 and again.json()["workflow_id"] is None  # nothing changed
    assert [t["tag"] for t in listed.json()["tags"]] == ["vip-guest"]
    assert removed.status_code == 200 and removed.json()["tags"] == []
    assert gone.status_code == 404 and gone.json()["error"] == "not_found"
    push, pull = _queued(running)
    assert (push["kind"], push["workflow_type"], push["workflow_id"]) == (
        "start", "support.sync_tags", body["workflow_id"])  # fmt: skip
    # The push reads the contact's hub tags when it runs; a removal names what it removed.
    assert push["input"] == {"provider": "testinbox", "phone": PHONE, "name": None,
                             "remove": []}  # fmt: skip
    assert pull["input"]["remove"] == ["vip-guest"]
    assert pull["workflow_id"] != push["workflow_id"]


async def test_refusals_name_their_reason(running: RunningHub) -> None:
    with begin_write(running.hub.engine) as connection:
        for n in range(50):
            tag_rows.add_tag(connection, phone=PHONE, tag=f"t{n}", source=tag_rows.TagSource.INBOX,
                         provider="testinbox")  # fmt: skip

    answers = {
        "bad_phone": await running.admin.put("/api/contacts/3055550123/tags/vip"),
        "bad_tag": await running.admin.put(f"/api/contacts/{PHONE}/tags/%21%21%21"),
        "too_long": await running.admin.put(f"/api/contacts/{PHONE}/tags/{'x' * 65}"),
        "too_many_tags": await running.admin.put(f"/api/contacts/{PHONE}/tags/one-more"),
        "bad_phone_get": await running.admin.get("/api/contacts/+1abc/tags"),
    }

    assert {k: (a.status_code, a.json()["error"]) for k, a in answers.items()} == {
        "bad_phone": (422, "bad_phone"),
        "bad_tag": (422, "bad_tag"),
        "too_long": (422, "bad_tag"),
        "too_many_tags": (422, "too_many_tags"),
        "bad_phone_get": (422, "bad_phone"),
    }
    assert _queued(running) == []
    # An existing tag is no new tag: a full contact may still be asked for one it holds.
    held = await running.admin.put(f"/api/contacts/{PHONE}/tags/t1")
    assert held.status_code == 200 and held.json()["workflow_id"] is None


async def test_hub_tags_stop_at_what_the_push_sends(running: RunningHub) -> None:
    other = "+13055550188"
    with begin_write(running.hub.engine) as connection:
        for n in range(MAX_TAGS):
            tag_rows.add_tag(connection, phone=other, tag=f"h{n}", source=tag_rows.TagSource.HUB,
                             provider=None)  # fmt: skip

    refused = await running.admin.put(f"/api/contacts/{other}/tags/one-more")

    assert (refused.status_code, refused.json()["error"]) == (422, "too_many_tags")
    assert _queued(running) == []


async def test_without_an_inbox_nothing_is_written(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    async with hub_with(tmp_path, database_url, temporal_address) as running:
        put = await running.admin.put(f"/api/contacts/{PHONE}/tags/vip")
        delete = await running.admin.delete(f"/api/contacts/{PHONE}/tags/vip")
        listed = await running.admin.get(f"/api/contacts/{PHONE}/tags")

        assert (put.status_code, put.json()["error"]) == (422, "support_not_configured")
        assert (delete.status_code, delete.json()["error"]) == (422, "support_not_configured")
        assert listed.status_code == 200 and listed.json()["tags"] == []
        assert _queued(running) == []


async def test_tag_changes_need_an_operator_and_are_audited(running: RunningHub) -> None:
    anonymous = await running.http.put(f"/api/contacts/{PHONE}/tags/vip")
    await running.admin.put(f"/api/contacts/{PHONE}/tags/vip")
    audit = await running.admin.get("/api/audit")

    assert anonymous.status_code == 401
    entries = audit.json()["items"]
    [entry] = [e for e in entries if e["route"] == "/api/contacts/{phone}/tags/{tag}"]
    assert (entry["method"], entry["status"], entry["role"]) == ("PUT", 200, "admin")


async def test_a_registered_cleaner_is_tagged_and_the_tag_pushed(
    running: RunningHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cleaners_api, "support_provider", lambda settings: "testinbox")
    cleaner = {"name": "Marta", "phone": PHONE, "language": "es"}

    added = await running.admin.post("/api/cleaners", json=cleaner)
    tags = await running.admin.get(f"/api/contacts/{PHONE}/tags")

    assert added.status_code == 201, added.text
    assert [(t["tag"], t["source"]) for t in tags.json()["tags"]] == [("cleaner", "hub")]
    [push] = _queued(running)
    assert push["input"] == {"provider": "testinbox", "phone": PHONE, "name": "Marta",
                             "remove": []}  # fmt: skip


async def test_without_an_inbox_a_cleaner_is_tagged_in_the_hub_only(
    tmp_path: Path, database_url: str, temporal_address: str
) -> None:
    async with hub_with(tmp_path, database_url, temporal_address) as running:
        added = await running.admin.post(
            "/api/cleaners", json={"name": "Marta", "phone": PHONE, "language": "es"}
        )
        tags = await running.admin.get(f"/api/contacts/{PHONE}/tags")

        assert added.status_code == 201
        assert [t["tag"] for t in tags.json()["tags"]] == ["cleaner"]
        assert _queued(running) == []
