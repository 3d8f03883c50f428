"""The attribute and the tags on an opened conversation (labels.py): best effort once the open
is recorded, counted when they fail, applied at open only, tag ids asked once."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine

from integration_hub.connectors.intercom import labels
from integration_hub.storage import outbound_messages
from tests.connectors.intercom.calls_setup import (
    build_calls,
    count,
    escalation,
)
from tests.connectors.intercom.support import FakeIntercom
from tests.partner_server import PartnerServer, RecordedRequest, Reply


def _failures(step: str) -> float:
    return REGISTRY.get_sample_value("hub_intercom_step_failures_total", {"step": step}) or 0.0


def test_an_open_whose_attribute_and_tags_are_refused_still_returns_the_conversation(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    """The workspace has no hub_escalation_id attribute and refuses a tag: the conversation
    exists, so the activity returns it (recorded `sent`), and counts what it could not do."""

    def refuse_labels(request: RecordedRequest) -> Reply | None:
        if request.method == "PUT" or request.path.endswith("/tags"):
            return Reply(400, {"type": "error.list", "errors": [{"code": "parameter_invalid"}]})
        return None

    intercom.before = refuse_labels
    before = _failures("attribute"), _failures("tag")

    opened = build_calls(server, engine).escalate(escalation())

    assert list(intercom.conversations) == [opened.provider_conversation_id]
    assert (_failures("attribute"), _failures("tag")) == (before[0] + 1, before[1] + 2)
    with engine.connect() as connection:
        record = outbound_messages.get_outbound_message(
            connection, message_id=f"intercom.open/{escalation().escalation_id}"
        )
    assert record is not None and record["state"] == "sent"
    assert record["partner_message_id"] == opened.provider_conversation_id


def test_tags_go_on_at_open_only_and_tag_ids_are_asked_once(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine
) -> None:
    calls = build_calls(server, engine)
    first = calls.escalate(escalation())
    calls.escalate(escalation(escalation_id="sup_" + "c" * 32))
    requests_before = len(server.requests)

    calls.escalate(
        escalation(
            message_id="msg_" + "5" * 32, provider_conversation_id=first.provider_conversation_id
        )
    )

    assert count(server, "POST", "/tags") == 2  # "escalation" and "lockout", once each
    later = [(r.method, r.path) for r in server.requests[requests_before:]]
    assert later == [("POST", f"/conversations/{first.provider_conversation_id}/reply")]


def test_tags_left_when_the_time_for_them_is_up_do_not_fail_the_open(
    server: PartnerServer, intercom: FakeIntercom, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(labels, "STEPS_TIME", -1.0)  # the time is up before any tag
    before = _failures("out_of_time")

    opened = build_calls(server, engine).escalate(
        escalation(tags=tuple(f"t{i}" for i in range(20)))
    )

    assert list(intercom.conversations) == [opened.provider_conversation_id]
    assert intercom.conversations[opened.provider_conversation_id]["tags"] == []
    assert _failures("out_of_time") == before + 1
