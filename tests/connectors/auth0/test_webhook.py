"""Auth0 log streams: bearer token in constant time, batches split by log_id (a malformed entry
kept apart, dead-lettered, the rest going on), type mapping."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from integration_hub.connectors.auth0.webhook import MAX_BATCH_ENTRIES, Auth0Connector
from integration_hub.connectors.base import Delivery
from integration_hub.errors import MalformedPayload, SignatureError, TooManyEntries
from integration_hub.events import build_event, validate_event

TOKEN = "log-stream-token"
auth0 = Auth0Connector()


def _delivery(body: bytes, authorization: str | None) -> Delivery:
    headers = {"authorization": authorization} if authorization is not None else {}
    return Delivery(body, headers, "http://test/webhooks/auth0", 0.0)


def _entry(log_id: str, log_type: str) -> dict[str, object]:
    entry: dict[str, object] = orjson.loads(auth0.sample(log_type))[0]
    return entry | {"log_id": log_id}


@pytest.mark.parametrize("authorization", [f"Bearer {TOKEN}", TOKEN], ids=["bearer", "verbatim"])
def test_configured_token_is_accepted(authorization: str) -> None:
    auth0.verify(_delivery(b"[]", authorization), [TOKEN], now=0)


def test_previous_token_is_accepted_during_rotation() -> None:
    auth0.verify(_delivery(b"[]", "Bearer old"), [TOKEN, "old"], now=0)


def test_wrong_token_is_a_mismatch() -> None:
    with pytest.raises(SignatureError) as rejected:
        auth0.verify(_delivery(b"[]", "Bearer nope"), [TOKEN], now=0)
    assert rejected.value.reason == "signature_mismatch"


def test_missing_authorization_is_rejected() -> None:
    with pytest.raises(SignatureError) as rejected:
        auth0.verify(_delivery(b"[]", None), [TOKEN], now=0)
    assert rejected.value.reason == "missing_signature"


def test_array_batch_splits_into_one_event_per_log_id() -> None:
    body = orjson.dumps([_entry("900a", "s"), _entry("900b", "fp"), _entry("900c", "sapi")])
    events = auth0.split(_delivery(body, TOKEN))
    assert [(e.partner_event_id, e.event_type) for e in events] == [
        ("900a", "s"),
        ("900b", "fp"),
        ("900c", "sapi"),
    ]


def test_json_lines_batch_splits_too() -> None:
    body = b"\n".join(orjson.dumps(_entry(i, "ss")) for i in ("900a", "900b"))
    assert [e.partner_event_id for e in auth0.split(_delivery(body, TOKEN))] == ["900a", "900b"]


def test_malformed_entries_are_kept_apart_and_the_valid_ones_go_on() -> None:
    bad = [{"data": {"type": "s"}}, {"log_id": "900\x00", "data": {"type": "s"}}, 7, []]
    body = orjson.dumps([_entry("900a", "s"), *bad, _entry("900b", "fp")])

    events = auth0.split(_delivery(body, TOKEN))

    assert [(e.partner_event_id, e.malformed) for e in events if e.malformed is None] == [
        ("900a", None),
        ("900b", None),
    ]
    malformed = [e for e in events if e.malformed is not None]
    assert [e.body for e in malformed] == [orjson.dumps(entry) for entry in bad]
    for event in malformed:
        assert event.partner_event_id == "malformed:" + hashlib.sha256(event.body).hexdigest()
        assert event.malformed
    assert "log_id" in (malformed[0].malformed or "")
    assert "NUL" in (malformed[1].malformed or "")


def test_a_json_line_that_is_not_json_is_one_malformed_entry_with_its_own_bytes() -> None:
    good = orjson.dumps(_entry("900a", "ss"))
    body = good + b"\n{not json\n" + orjson.dumps(_entry("900b", "s"))

    events = auth0.split(_delivery(body, TOKEN))

    assert [e.partner_event_id for e in events][::2] == ["900a", "900b"]
    assert events[0].body == good  # a JSON line is stored as it came
    assert events[1].body == b"{not json"
    assert events[1].malformed == "the entry is not JSON"


@pytest.mark.parametrize("body", [b"", b"[]", b"not json at all", b'"a string"', b"12"], ids=repr)
def test_a_body_that_is_no_batch_at_all_is_refused_whole(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        auth0.split(_delivery(body, TOKEN))


@pytest.mark.parametrize("lines", [False, True], ids=["array", "json-lines"])
def test_a_batch_over_the_entry_cap_is_refused_before_its_entries_are_looked_at(
    lines: bool,
) -> None:
    entries = [_entry(f"900{n}", "s") for n in range(MAX_BATCH_ENTRIES + 1)]
    body = b"\n".join(map(orjson.dumps, entries)) if lines else orjson.dumps(entries)

    with pytest.raises(TooManyEntries) as refused:
        auth0.split(_delivery(body, TOKEN))

    assert (refused.value.reason, refused.value.status) == ("too_many_entries", 413)


@pytest.mark.parametrize("indent", [False, True], ids=["one-line", "pretty-printed"])
def test_an_array_with_a_broken_element_is_one_malformed_entry_holding_all_its_bytes(
    indent: bool,
) -> None:
    """Never read as JSON lines: that lost a one-line batch whole (no line parses) and turned a
    pretty-printed one into junk entries (its lines that happen to parse)."""
    good = [_entry("900a", "ss"), _entry("900b", "s")]
    option = orjson.OPT_INDENT_2 if indent else 0
    text = orjson.dumps(good, option=option)
    body = b"  " + text[:-1].rstrip() + b",\n  {broken: 1}\n]\n"

    events = auth0.split(_delivery(body, TOKEN))

    assert len(events) == 1
    assert events[0].body == body.strip()  # every byte kept, for recovery
    assert events[0].partner_event_id == "malformed:" + hashlib.sha256(body.strip()).hexdigest()
    assert "JSON array" in (events[0].malformed or "")
    assert len(events[0].malformed or "") <= 200


def test_a_json_lines_body_is_still_split_by_line() -> None:
    body = b"{broken\n" + orjson.dumps(_entry("900c", "s"))
    events = auth0.split(_delivery(body, TOKEN))
    assert [e.partner_event_id for e in events][1:] == ["900c"]


@pytest.mark.parametrize(
    ("log_type", "internal_type"),
    [
        ("ss", "identity.user_created"),
        ("s", "identity.session_started"),
        ("fp", "identity.login_failed"),
        ("scp", "identity.password_changed"),
        ("sdu", "identity.user_deleted"),
    ],
)
def test_log_types_map_to_valid_identity_events(log_type: str, internal_type: str) -> None:
    [event] = auth0.split(_delivery(auth0.sample(log_type), TOKEN))
    drafts = auth0.normalize(event)
    assert [d.type for d in drafts] == [internal_type]
    validate_event(build_event(partner="auth0", partner_event_id="900a", index=0, draft=drafts[0]))


def test_other_log_types_are_kept_unmapped() -> None:
    [event] = auth0.split(_delivery(auth0.sample("sapi"), TOKEN))
    assert auth0.normalize(event) == []
