"""Auth0 log streams: bearer token in constant time, batches split by log_id, type mapping."""

from __future__ import annotations

import orjson
import pytest

from integration_hub.connectors.auth0 import Auth0Connector
from integration_hub.connectors.base import Delivery
from integration_hub.errors import MalformedPayload, SignatureError
from integration_hub.events import build_event, validate_event

TOKEN = "log-stream-token"
auth0 = Auth0Connector()


def _delivery(body: bytes, authorization: str | None) -> Delivery:
    headers = {"authorization": authorization} if authorization is not None else {}
    return Delivery(body, headers, "http://test/webhooks/auth0", 0.0)


def _entry(log_id: str, log_type: str) -> dict[str, object]:
    return orjson.loads(auth0.sample(log_type))[0] | {"log_id": log_id}


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


def test_entry_without_log_id_is_malformed() -> None:
    with pytest.raises(MalformedPayload):
        auth0.split(_delivery(orjson.dumps([{"data": {"type": "s"}}]), TOKEN))


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
